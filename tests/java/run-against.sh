#!/usr/bin/env bash
# Starts a fresh server on a free loopback port in a temporary directory, runs the Java client /
# Curator programs (run.sh) and the zkCli.sh checks (zkcli.sh) against it, then stops it:
#   tests/java/run-against.sh zookeeper|arbor
# zookeeper: Apache ZooKeeper 3.8 from Debian, run as zk-reference runs it; arbor:
# ${ARBOR_BIN:-target/debug/arbor}. Both with extended types (TTL, containers) on and a 1 s
# container/TTL check interval. Exits non-zero if the server did not start or any check failed.
# Environment: ARBOR_BIN, ZK_REFERENCE, JAVA_CLASSPATH_TOOL, KEEP_DIR=1 (keep the server dir).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
zk_reference=${ZK_REFERENCE:-$repo_root/../shared/tools/zk-reference}
export ZK_REFERENCE=$zk_reference
arbor_bin=${ARBOR_BIN:-$repo_root/target/debug/arbor}
container_check_ms=1000
startup_timeout_s=30

target=${1:-}
case "$target" in
  zookeeper | arbor) ;;
  *)
    sed -n '2,8p' "$0" >&2
    exit 2
    ;;
esac

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

ruok() { # port -> prints the answer to the ruok four-letter word; never blocks for long
  (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null
}

server_dir=$(mktemp -d "${TMPDIR:-/tmp}/arbor-java-$target.XXXXXX")
port=$(free_port) || { echo "run-against: cannot find a free port" >&2; exit 2; }
server_pid=""

log_tail() {
  local log=$server_dir/server.log
  [ -f "$log" ] && { echo "--- last lines of $log:"; tail -n 40 "$log"; }
}

wait_gone() { # pid: up to 10 s, then SIGKILL
  local pid=$1
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null
}

stop_server() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null
    wait_gone "$server_pid"
  fi
  if [ "${KEEP_DIR:-0}" = 1 ]; then
    echo "run-against: kept $server_dir"
  else
    rm -rf "$server_dir"
  fi
}

trap stop_server EXIT
trap 'exit 130' INT TERM

wait_for_imok() {
  local deadline=$((SECONDS + startup_timeout_s))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(ruok "$port")" = imok ] && return 0
    if ! kill -0 "$server_pid" 2>/dev/null; then
      wait "$server_pid"
      echo "run-against: $target exited with status $? before answering ruok" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "run-against: $target did not answer ruok on port $port within $startup_timeout_s s" >&2
  return 1
}

# The classpath zk-reference runs ZooKeeper with (Debian's jars), read from the script itself.
zookeeper_classpath() {
  local cp
  cp=$(sed -n 's/^CP="\(.*\)"$/\1/p' "$zk_reference" 2>/dev/null | head -n 1)
  echo "${cp:-/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/log4j-1.2.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/netty-all.jar:/usr/share/java/commons-cli.jar}"
}

# ZooKeeper is launched the way `zk-reference standalone` does it, but directly: the container
# check interval is a JVM system property, and zk-reference's readiness probe can block forever
# (ZooKeeper 3.8 never closes a four-letter-word connection that arrives while it is still
# loading its database), whereas every probe of wait_for_imok is bounded.
start_zookeeper() {
  if [ ! -f /usr/share/java/zookeeper.jar ]; then
    echo "run-against: ZooKeeper is not installed (run: $zk_reference install)" >&2
    return 1
  fi
  mkdir -p "$server_dir/data"
  cat >"$server_dir/zoo.cfg" <<CFG
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$server_dir/data
clientPort=$port
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
admin.enableServer=false
extendedTypesEnabled=true
CFG
  (cd "$server_dir" && exec java -Xmx512m -cp "$(zookeeper_classpath)" \
    -Dznode.container.checkIntervalMs=$container_check_ms \
    -Dzookeeper.log.dir="$server_dir" -Dzookeeper.root.logger=WARN,CONSOLE \
    org.apache.zookeeper.server.quorum.QuorumPeerMain "$server_dir/zoo.cfg" \
    >"$server_dir/server.log" 2>&1 </dev/null) &
  server_pid=$!
  wait_for_imok
}

start_arbor() {
  if [ ! -x "$arbor_bin" ]; then
    echo "run-against: $arbor_bin is not built (cargo build, or set ARBOR_BIN)" >&2
    return 1
  fi
  mkdir -p "$server_dir/data"
  cat >"$server_dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$server_dir/data
clientPort=$port
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
extendedTypesEnabled=true
znode.container.checkIntervalMs=$container_check_ms
admin.enableServer=false
CFG
  (cd "$server_dir" && exec "$arbor_bin" server --config "$server_dir/zoo.cfg" \
    >"$server_dir/server.log" 2>&1 </dev/null) &
  server_pid=$!
  wait_for_imok
}

echo "==> starting $target on 127.0.0.1:$port"
if ! "start_$target"; then
  log_tail
  exit 1
fi

connect="127.0.0.1:$port"
failed=()
echo "==> Java client and Curator programs against $target"
"$here/run.sh" "$connect" || failed+=(run.sh)
echo "==> zkCli.sh against $target"
"$here/zkcli.sh" "$connect" || failed+=(zkcli.sh)

if [ "$(ruok "$port")" != imok ]; then
  echo "run-against: $target no longer answers ruok after the tests"
  failed+=("$target alive")
fi
if [ ${#failed[@]} -gt 0 ]; then
  log_tail
  echo "==> java interop against $target FAILED: ${failed[*]}"
  exit 1
fi
echo "==> java interop against $target passed"
