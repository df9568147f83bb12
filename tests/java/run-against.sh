#!/usr/bin/env bash
# Starts a fresh server on a free loopback port in a temporary directory, runs the Java client /
# Curator programs (run.sh) and the zkCli.sh checks (zkcli.sh) against it, then stops it:
#   tests/java/run-against.sh zookeeper|arbor
# zookeeper: Apache ZooKeeper 3.8 via zk-reference standalone; arbor: ${ARBOR_BIN:-target/debug/arbor}.
# Both run with extended types (TTL, containers) on and a 1 s container/TTL check interval.
# Exits non-zero if the server did not start or any check failed. Environment: ARBOR_BIN,
# ZK_REFERENCE, JAVA_CLASSPATH_TOOL, KEEP_DIR=1 (keep the server directory for inspection).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
zk_reference=${ZK_REFERENCE:-$repo_root/../shared/tools/zk-reference}
export ZK_REFERENCE=$zk_reference
arbor_bin=${ARBOR_BIN:-$repo_root/target/debug/arbor}
container_check_ms=1000
startup_timeout_s=20

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

ruok() { # port -> prints the answer to the ruok four-letter word
  (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null
}

server_dir=$(mktemp -d "${TMPDIR:-/tmp}/arbor-java-$target.XXXXXX")
port=$(free_port) || { echo "run-against: cannot find a free port" >&2; exit 2; }
server_pid=""

log_tail() {
  local log=$server_dir/server.log
  [ -f "$log" ] && { echo "--- last lines of $log:"; tail -n 40 "$log"; }
}

stop_server() {
  if [ "$target" = zookeeper ]; then
    local pid=""
    [ -f "$server_dir/pid" ] && pid=$(cat "$server_dir/pid")
    "$zk_reference" stop "$server_dir" >/dev/null 2>&1
    [ -n "$pid" ] && wait_gone "$pid"
  elif [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null
    wait_gone "$server_pid"
  fi
  if [ "${KEEP_DIR:-0}" = 1 ]; then
    echo "run-against: kept $server_dir"
  else
    rm -rf "$server_dir"
  fi
}

wait_gone() { # pid: up to 10 s, then SIGKILL
  local pid=$1
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null
}

trap stop_server EXIT
trap 'exit 130' INT TERM

start_zookeeper() {
  # zk-reference writes the zoo.cfg (extendedTypesEnabled=true, all 4lw) and waits for imok; the
  # container check interval is a JVM system property, passed to its java via JAVA_TOOL_OPTIONS.
  JAVA_TOOL_OPTIONS="-Dznode.container.checkIntervalMs=$container_check_ms" \
    "$zk_reference" standalone "$server_dir" "$port" >"$server_dir/start.log" 2>&1
  local status=$?
  [ $status -eq 0 ] || cat "$server_dir/start.log"
  return $status
}

start_arbor() {
  if [ ! -x "$arbor_bin" ]; then
    echo "run-against: $arbor_bin is not built (cargo build -p arbor-cli, or set ARBOR_BIN)" >&2
    return 1
  fi
  mkdir -p "$server_dir/data"
  cat >"$server_dir/zoo.cfg" <<EOF
tickTime=2000
dataDir=$server_dir/data
clientPort=$port
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
extendedTypesEnabled=true
znode.container.checkIntervalMs=$container_check_ms
admin.enableServer=false
EOF
  (cd "$server_dir" && exec "$arbor_bin" server --config "$server_dir/zoo.cfg" \
    >"$server_dir/server.log" 2>&1 </dev/null) &
  server_pid=$!
  local deadline=$((SECONDS + startup_timeout_s))
  while [ $SECONDS -lt $deadline ]; do
    [ "$(ruok "$port")" = imok ] && return 0
    if ! kill -0 "$server_pid" 2>/dev/null; then
      wait "$server_pid"
      echo "run-against: arbor exited with status $? before answering ruok" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "run-against: arbor did not answer ruok on port $port within $startup_timeout_s s" >&2
  return 1
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
