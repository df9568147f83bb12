"""Start the servers under test: real ZooKeeper 3.8 (via shared/tools/zk-reference) and `arbor`.

Both are configured alike: loopback only, every four-letter word enabled, extended types (TTL and
container nodes) on, a super digest, and a 1 s container/TTL check interval so those tests are fast.
"""

import base64
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
ZOOKEEPER_JAR = Path("/usr/share/java/zookeeper.jar")

SUPER_USER = "super"
SUPER_PASSWORD = "super-secret"
# Containers and TTL nodes are reaped by a periodic check (60 s by default in ZooKeeper).
CONTAINER_CHECK_INTERVAL_MS = 1000
STARTUP_TIMEOUT_S = 20


def digest(user, password):
    """ZooKeeper's digest id: user:base64(sha1(user:password))."""
    raw = hashlib.sha1(f"{user}:{password}".encode()).digest()
    return f"{user}:{base64.b64encode(raw).decode()}"


_handed_out_ports = set()


def free_port():
    """A loopback port that was free a moment ago and was not handed out before."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _handed_out_ports:
            _handed_out_ports.add(port)
            return port


def four_letter(port, word, timeout=5.0):
    """Sends a four-letter word and returns everything the server wrote before closing."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(word.encode())
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


def wait_for_imok(port, timeout, alive=lambda: True):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if four_letter(port, "ruok", timeout=1.0) == "imok":
                return True
        except OSError:
            pass
        if not alive():
            return False
        time.sleep(0.1)
    return False


NOT_SERVING = "not currently serving requests"


def wait_until_serving(port, timeout):
    """`ruok` answers `imok` as soon as the process runs; requests (and `srvr`) are served only
    once the database is loaded. Waits for that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if NOT_SERVING not in four_letter(port, "srvr", timeout=1.0):
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def log_tail(path, lines=40):
    try:
        text = Path(path).read_text(errors="replace")
    except OSError as e:
        return f"<cannot read {path}: {e}>"
    return "\n".join(text.splitlines()[-lines:])


class ServerStartError(RuntimeError):
    pass


class Server:
    """Common interface of a started server."""

    name = "?"
    port = 0
    dir = None

    @property
    def hosts(self):
        return f"127.0.0.1:{self.port}"

    def four_letter(self, word):
        return four_letter(self.port, word)

    def log_tail(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError


def zk_reference_script():
    env = os.environ.get("ZK_REFERENCE")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "tools" / "zk-reference"


def zookeeper_unavailable_reason():
    script = zk_reference_script()
    if not script.is_file():
        return f"{script} not found"
    if not ZOOKEEPER_JAR.is_file():
        return "ZooKeeper is not installed (apt-get install zookeeper)"
    return None


class ZooKeeperServer(Server):
    """A standalone Apache ZooKeeper started by zk-reference (which enables extendedTypes and all
    four-letter words); the remaining settings are JVM system properties."""

    name = "zookeeper"

    # zk-reference waits for `ruok` with no timeout, and ZooKeeper 3.8.0 never closes a
    # four-letter-word connection that arrives before its database is loaded, so a start can hang;
    # such a start is abandoned after this long and retried.
    START_ATTEMPT_TIMEOUT_S = 30
    START_ATTEMPTS = 3

    def __init__(self):
        self.script = zk_reference_script()
        env = dict(os.environ)
        env["JAVA_TOOL_OPTIONS"] = " ".join(
            [
                "-Dzookeeper.DigestAuthenticationProvider.superDigest="
                + digest(SUPER_USER, SUPER_PASSWORD),
                f"-Dznode.container.checkIntervalMs={CONTAINER_CHECK_INTERVAL_MS}",
            ]
        )
        failures = []
        for _ in range(self.START_ATTEMPTS):
            self.dir = Path(tempfile.mkdtemp(prefix="zk-reference-"))
            self.port = free_port()
            command = ["bash", str(self.script), "standalone", str(self.dir), str(self.port)]
            try:
                result = subprocess.run(
                    command,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=self.START_ATTEMPT_TIMEOUT_S,
                )
                if result.returncode == 0 and wait_until_serving(self.port, STARTUP_TIMEOUT_S):
                    return
                failures.append(f"exit {result.returncode}: {result.stdout}{result.stderr}")
            except subprocess.TimeoutExpired:
                failures.append(f"no answer within {self.START_ATTEMPT_TIMEOUT_S} s")
            failures[-1] += "\n" + self.log_tail()
            self.stop()
        raise ServerStartError("zk-reference failed:\n" + "\n---\n".join(failures))

    def log_tail(self):
        return log_tail(self.dir / "server.log")

    def stop(self):
        pid_file = self.dir / "pid"
        pid = int(pid_file.read_text()) if pid_file.exists() else None
        subprocess.run(["bash", str(self.script), "stop", str(self.dir)], capture_output=True)
        if pid is not None:
            _wait_pid_gone(pid)
        shutil.rmtree(self.dir, ignore_errors=True)


def arbor_bin():
    env = os.environ.get("ARBOR_BIN")
    return Path(env) if env else REPO_ROOT / "target" / "debug" / "arbor"


def arbor_unavailable_reason():
    return None if arbor_bin().is_file() else "ARBOR_BIN not built"


class ArborServer(Server):
    """`arbor server --config <dir>/zoo.cfg`, configured like the ZooKeeper above."""

    name = "arbor"

    def __init__(self, extra_config=None):
        self.binary = arbor_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="arbor-pytest-"))
        self.port = free_port()
        self.admin_port = free_port()
        data_dir = self.dir / "data"
        data_dir.mkdir()
        settings = {
            "tickTime": 2000,
            "dataDir": data_dir,
            "clientPort": self.port,
            "clientPortAddress": "127.0.0.1",
            "admin.serverAddress": "127.0.0.1",
            "admin.serverPort": self.admin_port,
            "4lw.commands.whitelist": "*",
            "extendedTypesEnabled": "true",
            "DigestAuthenticationProvider.superDigest": digest(SUPER_USER, SUPER_PASSWORD),
            "znode.container.checkIntervalMs": CONTAINER_CHECK_INTERVAL_MS,
        }
        settings.update(extra_config or {})
        self.config_path = self.dir / "zoo.cfg"
        self.config_path.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))
        self.log_path = self.dir / "server.log"
        self.process = None
        self._spawn()

    def _spawn(self):
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(self.binary), "server", "--config", str(self.config_path)],
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        alive = lambda: self.process.poll() is None  # noqa: E731
        if not (
            wait_for_imok(self.port, STARTUP_TIMEOUT_S, alive)
            and wait_until_serving(self.port, STARTUP_TIMEOUT_S)
        ):
            status = self.process.poll()
            self.kill9()
            what = f"exited with {status}" if status is not None else "did not answer ruok"
            raise ServerStartError(f"arbor on port {self.port} {what}; log:\n{self.log_tail()}")

    def log_tail(self):
        return log_tail(self.log_path)

    def kill9(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self):
        self.kill9()
        if not os.environ.get("ARBOR_TEST_KEEP_DIRS"):
            shutil.rmtree(self.dir, ignore_errors=True)


def _wait_pid_gone(pid, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def unavailable_reason(target):
    return {"zookeeper": zookeeper_unavailable_reason, "arbor": arbor_unavailable_reason}[target]()


def start(target):
    return {"zookeeper": ZooKeeperServer, "arbor": ArborServer}[target]()
