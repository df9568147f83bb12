"""Each scenario against each target, asserting its own expectations."""

import pytest

import scenarios


@pytest.mark.parametrize("name", sorted(scenarios.DIFFERENTIAL))
def test_scenario(name, connect, base):
    transcript = scenarios.DIFFERENTIAL[name](connect, base)
    assert transcript.entries, "a scenario must record what it saw"
