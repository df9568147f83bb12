"""Fixtures: one ZooKeeper and one arbor server for the whole session, started on first use.

`target` is parametrized over both; the arbor case is skipped only when the binary file is
missing ("ARBOR_BIN not built"). A server that fails to start fails its tests (with its log).
"""

import re
import signal
import sys
import uuid
from pathlib import Path

import pytest
from kazoo.client import KazooClient

sys.path.insert(0, str(Path(__file__).resolve().parent))

import servers  # noqa: E402

TARGETS = ["zookeeper", "arbor"]
# kazoo's blocking calls wait without a deadline; a server that never answers must fail the test
# rather than hang the suite. Generous, since it includes starting a server on first use.
TEST_TIMEOUT_S = 120


class ServerPool:
    def __init__(self):
        self.started = {}
        self.start_errors = {}

    def get(self, target):
        reason = servers.unavailable_reason(target)
        if reason:
            pytest.skip(reason)
        if target in self.start_errors:
            pytest.fail(f"{target} did not start: {self.start_errors[target]}", pytrace=False)
        if target not in self.started:
            try:
                self.started[target] = servers.start(target)
            except servers.ServerStartError as e:
                self.start_errors[target] = str(e)
                pytest.fail(f"{target} did not start: {e}", pytrace=False)
        return self.started[target]

    def stop_all(self):
        for server in self.started.values():
            server.stop()
        self.started.clear()


@pytest.fixture(scope="session")
def pool():
    p = ServerPool()
    yield p
    p.stop_all()


class Connector:
    """Makes kazoo clients connected to one server, and stops them all at the end."""

    def __init__(self, server):
        self.server = server
        self.clients = []

    def __call__(self, **kwargs):
        kwargs.setdefault("timeout", 10.0)
        client = KazooClient(hosts=self.server.hosts, **kwargs)
        client.start(timeout=15)
        self.clients.append(client)
        return client

    def close_all(self):
        for client in self.clients:
            try:
                client.stop()
                client.close()
            except Exception:  # noqa: BLE001 - best-effort cleanup of a possibly broken client
                pass
        self.clients.clear()


@pytest.fixture(params=TARGETS)
def target(request, pool):
    return pool.get(request.param)


@pytest.fixture
def connect(target):
    connector = Connector(target)
    yield connector
    connector.close_all()


@pytest.fixture
def both(pool):
    """(zookeeper, arbor) servers, for differential tests."""
    return pool.get("zookeeper"), pool.get("arbor")


@pytest.fixture
def base(request):
    """A path unique to this test run: tests never see each other's nodes."""
    return unique_base(request.node.name)


def unique_base(name):
    slug = re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:40]
    return f"/pytest-{slug}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(autouse=True)
def per_test_timeout():
    def on_alarm(signum, frame):
        raise TimeoutError(f"test did not finish within {TEST_TIMEOUT_S} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(TEST_TIMEOUT_S)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def show_server_log_on_failure(request, pool):
    """On failure, print the tail of the arbor log (ZooKeeper's log rarely explains anything)."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and "arbor" in pool.started:
        print(f"--- arbor log tail ---\n{pool.started['arbor'].log_tail()}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)
