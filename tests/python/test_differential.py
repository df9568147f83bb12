"""The same scenario on real ZooKeeper and on arbor must give the same normalized transcript."""

import pytest

import scenarios
from conftest import Connector, unique_base
from transcript import first_difference


@pytest.mark.parametrize("name", sorted(scenarios.DIFFERENTIAL))
def test_same_transcript_as_zookeeper(name, both):
    transcripts = []
    for server in both:
        connector = Connector(server)
        try:
            transcripts.append(scenarios.DIFFERENTIAL[name](connector, unique_base(name)))
        finally:
            connector.close_all()
    difference = first_difference(*transcripts)
    assert difference is None, f"{name}: arbor differs from ZooKeeper at {difference}"
