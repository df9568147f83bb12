#!/usr/bin/env bash
# A three-server Arbor ensemble on 127.0.0.1, laid out like ZooKeeper's pseudo-cluster:
# client ports 2181-2183, quorum ports 2888-2890, election ports 3888-3890.
#
#   examples/local-ensemble/ensemble.sh start     # build (release) if needed, start 3 servers
#   examples/local-ensemble/ensemble.sh status    # arbor cluster status
#   examples/local-ensemble/ensemble.sh kill N    # kill -9 server N (1..3)
#   examples/local-ensemble/ensemble.sh restart N # start server N again
#   examples/local-ensemble/ensemble.sh stop      # stop all (data is kept)
#   examples/local-ensemble/ensemble.sh clean     # stop and delete the data
#
# Environment: ARBOR (binary; default target/release/arbor, built on demand), DIR (default
# ./local-ensemble), CLIENT_BASE / QUORUM_BASE / ELECTION_BASE (defaults 2180 / 2887 / 3887:
# server N uses BASE+N), TICK (tickTime, default 2000).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=${DIR:-$PWD/local-ensemble}
CLIENT_BASE=${CLIENT_BASE:-2180}
QUORUM_BASE=${QUORUM_BASE:-2887}
ELECTION_BASE=${ELECTION_BASE:-3887}
TICK=${TICK:-2000}

arbor_bin() {
  if [ -n "${ARBOR:-}" ]; then echo "$ARBOR"; return; fi
  if [ ! -x "$repo/target/release/arbor" ]; then
    (cd "$repo" && cargo build --release -q -p arbor-cli) >&2
  fi
  echo "$repo/target/release/arbor"
}

connect_string() {
  echo "127.0.0.1:$((CLIENT_BASE + 1)),127.0.0.1:$((CLIENT_BASE + 2)),127.0.0.1:$((CLIENT_BASE + 3))"
}

write_config() { # id
  local id=$1 d="$DIR/server$1"
  mkdir -p "$d/data"
  echo "$id" >"$d/data/myid"
  {
    echo "tickTime=$TICK"
    echo "initLimit=10"
    echo "syncLimit=5"
    echo "dataDir=$d/data"
    echo "clientPort=$((CLIENT_BASE + id))"
    echo "clientPortAddress=127.0.0.1"
    echo "admin.serverAddress=127.0.0.1"
    echo "admin.serverPort=$((8080 + id))"
    echo "4lw.commands.whitelist=*"
    for j in 1 2 3; do
      echo "server.$j=127.0.0.1:$((QUORUM_BASE + j)):$((ELECTION_BASE + j));$((CLIENT_BASE + j))"
    done
  } >"$d/zoo.cfg"
}

start_one() { # id
  local id=$1 d="$DIR/server$1" bin
  bin=$(arbor_bin)
  [ -f "$d/zoo.cfg" ] || write_config "$id"
  if [ -f "$d/pid" ] && kill -0 "$(cat "$d/pid")" 2>/dev/null; then
    echo "server $id already runs (pid $(cat "$d/pid"))"
    return
  fi
  # The config names absolute paths, so the working directory does not matter; $! is the
  # server itself (setsid only forks when it would have to lead a process group).
  setsid "$bin" server --config "$d/zoo.cfg" >>"$d/server.log" 2>&1 </dev/null &
  echo $! >"$d/pid"
  echo "server $id: client 127.0.0.1:$((CLIENT_BASE + id)), log $d/server.log"
}

wait_serving() {
  local bin
  bin=$(arbor_bin)
  for _ in $(seq 1 100); do
    if "$bin" cluster status --server "$(connect_string)" --timeout 1 >/dev/null 2>&1; then
      "$bin" cluster status --server "$(connect_string)"
      return 0
    fi
    sleep 0.2
  done
  echo "the ensemble did not come up; see $DIR/server*/server.log" >&2
  "$bin" cluster status --server "$(connect_string)" || true
  return 1
}

stop_one() { # id [signal]
  local d="$DIR/server$1"
  if [ -f "$d/pid" ]; then
    kill "-${2:-TERM}" "$(cat "$d/pid")" 2>/dev/null || true
    rm -f "$d/pid"
  fi
}

case "${1:-}" in
  start)
    for id in 1 2 3; do start_one "$id"; done
    wait_serving
    echo "connect with: $(arbor_bin) shell --server $(connect_string)"
    ;;
  status) "$(arbor_bin)" cluster status --server "$(connect_string)" ;;
  kill) stop_one "${2:?server id}" KILL; echo "killed server $2" ;;
  restart) start_one "${2:?server id}" ;;
  stop) for id in 1 2 3; do stop_one "$id"; done ;;
  clean) for id in 1 2 3; do stop_one "$id" KILL; done; rm -rf "$DIR" ;;
  *) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
esac
