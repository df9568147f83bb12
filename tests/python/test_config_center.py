"""The config center's documents are plain znodes: a kazoo DataWatch on the config node sees every
version `arbor config push` writes, and the Spring projection is ordinary nodes. Runs against
Apache ZooKeeper and arbor alike (the CLI talks the ZooKeeper protocol)."""

import subprocess
import threading
import uuid

from scenarios import wait_until
from servers import arbor_bin


def arbor_config(target, *args):
    return subprocess.run(
        [str(arbor_bin()), "config", "--server", target.hosts, *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_kazoo_watcher_sees_every_pushed_version(target, connect, tmp_path):
    app = f"kz-{uuid.uuid4().hex[:8]}"
    where = ["--env", "pytest", "--app", app]
    path = f"/arbor/config/pytest/{app}/application.yml"
    zk = connect()
    seen = []
    changed = threading.Condition()

    def on_change(data, stat):
        with changed:
            seen.append(data)
            changed.notify_all()

    zk.DataWatch(path, on_change)
    assert wait_until(lambda: seen == [None]), seen

    for n in range(1, 5):
        file = tmp_path / "application.yml"
        file.write_text(f"server:\n  port: {8080 + n}\n")
        result = arbor_config(target, "push", str(file), *where, "-m", f"push {n}")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"pytest/{app}/application.yml: version {n}"
        expected = f"server:\n  port: {8080 + n}\n".encode()
        assert wait_until(lambda: seen and seen[-1] == expected), seen
    assert seen[1:] == [f"server:\n  port: {8080 + n}\n".encode() for n in range(1, 5)]

    # An invalid push is refused with the line and column, and the watcher sees nothing.
    bad = tmp_path / "bad.yml"
    bad.write_text("server:\n  port: [1\n")
    result = arbor_config(target, "push", str(bad), *where, "--name", "application.yml")
    assert result.returncode == 1
    assert "invalid YAML at line 3" in result.stderr, result.stderr
    rollback = arbor_config(target, "rollback", *where, "--name", "application.yml", "--to", "1")
    assert rollback.returncode == 0, rollback.stderr
    assert wait_until(lambda: seen[-1] == b"server:\n  port: 8081\n"), seen
    assert len(seen) == 6, "one event per version, none for the refused push"

    # History entries are JSON nodes any client can read.
    entries = sorted(zk.get_children(f"/arbor/history/pytest/{app}/application.yml"))
    assert entries == [f"v-{n:010d}" for n in range(1, 6)]

    # The Spring projection is plain nodes too.
    on = arbor_config(target, "spring", *where, "on")
    assert on.returncode == 0, on.stderr
    value, _ = zk.get(f"/config/{app},pytest/server/port")
    assert value == b"8081"
