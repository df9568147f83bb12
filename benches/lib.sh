# Helpers shared by the benchmark scripts (compare.sh, failover.sh, scale.sh). Source it:
#
#   . "$(dirname "$0")/lib.sh"
#   bench_init compare          # WORK (temp dir), cleanup trap, BENCH / ARBOR_BIN after build_tools
#
# Every server started through these functions records its pid in a `pid` file under $WORK,
# and the EXIT trap set by bench_init stops all of them and removes $WORK (unless KEEP_WORK=1),
# so a failed or interrupted script leaves no process behind.
#
# Servers: Arbor from target/$ARBOR_PROFILE (release by default; `ARBOR_PROFILE=debug` is only
# for smoke tests of the scripts), Apache ZooKeeper 3.8 through `../shared/tools/zk-reference`
# ($ZK_REFERENCE). Both with tickTime 2000, forceSync on, every four-letter word, admin server
# off, on 127.0.0.1 only.

ROOT=${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
ZK_REFERENCE=${ZK_REFERENCE:-$ROOT/../shared/tools/zk-reference}
ARBOR_PROFILE=${ARBOR_PROFILE:-release}
BENCH_NAME=bench
WORK=

bench_log() { echo "$(date +%T) $BENCH_NAME: $*" >&2; }

# Creates $WORK and installs the cleanup trap. $1: the script's name (for messages, temp dir).
bench_init() {
  BENCH_NAME=$1
  WORK=$(mktemp -d "/tmp/arbor-$1.XXXXXX")
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

# Stops every server started under $WORK (TERM, then KILL after 10 s) and removes $WORK.
bench_cleanup() {
  local f pids=() pid
  [ -n "$WORK" ] && [ -d "$WORK" ] || return 0
  while IFS= read -r f; do
    pid=$(cat "$f" 2>/dev/null) || continue
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && pids+=("$pid")
    rm -f "$f"
  done < <(find "$WORK" -name pid -type f 2>/dev/null)
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  if [ "${KEEP_WORK:-0}" = 1 ]; then bench_log "kept $WORK"; else rm -rf "$WORK"; fi
}

# --- ports and four-letter words -------------------------------------------------------------

# N distinct free TCP ports on 127.0.0.1 (bound at the same time, so never the same twice).
free_ports() {
  python3 - "${1:-1}" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}
free_port() { free_ports 1; }

# Whether every given port can be bound on 127.0.0.1 right now.
ports_free() {
  python3 - "$@" <<'EOF'
import socket, sys
for p in sys.argv[1:]:
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", int(p)))
    except OSError:
        sys.exit(1)
    finally:
        s.close()
EOF
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

four_letter() { # port word
  (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf '%s' "$2" >&3 && timeout 5 cat <&3) 2>/dev/null || true
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }
mib() { if [ -n "${1:-}" ]; then awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}'; else echo "n/a"; fi; }

# ruok answers before a server serves (ZooKeeper closes sessions until its database is loaded,
# an ensemble member until it has a leader); srvr reports the node count only once it serves.
wait_serving() { # port [seconds]
  local tries=$(( ${2:-30} * 5 ))
  for _ in $(seq 1 "$tries"); do
    case "$(four_letter "$1" srvr)" in *"Node count"*) return 0 ;; esac
    sleep 0.2
  done
  bench_log "127.0.0.1:$1 does not report serving in srvr after ${2:-30} s"
  return 1
}

srvr_field() { four_letter "$1" srvr | awk -F': ' -v k="$2" '$1 == k {print $2}'; }
node_count() { srvr_field "$1" "Node count"; }
server_mode() { srvr_field "$1" Mode; }

# --- the tools ----------------------------------------------------------------------------

# Builds `arbor` (and arbor-bench) unless ARBOR_BIN is given; sets ARBOR_BIN and BENCH (an array:
# the benchmark command).
build_tools() {
  if [ -z "${ARBOR_BIN:-}" ]; then
    local flag=--release
    [ "$ARBOR_PROFILE" = debug ] && flag=
    bench_log "building arbor ($ARBOR_PROFILE)..."
    (cd "$ROOT" && cargo build $flag -q -p arbor-cli)
    ARBOR_BIN=$ROOT/target/$ARBOR_PROFILE/arbor
  fi
  BENCH=("$ARBOR_BIN" bench)
}

# --- Arbor --------------------------------------------------------------------------------

# The settings both kinds of server get here; extra `key=value` lines may follow.
arbor_common_cfg() { # dataDir clientPort adminPort
  printf 'tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nforceSync=yes\n4lw.commands.whitelist=*\nadmin.enableServer=false\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=%s\n' \
    "$1" "$2" "$3"
}

# Starts `arbor server --config DIR/zoo.cfg` (written beforehand) and records its pid in DIR/pid.
launch_arbor() { # dir
  local d=$1
  ARBOR_LOG=${ARBOR_LOG:-warn} setsid "$ARBOR_BIN" server --config "$d/zoo.cfg" >>"$d/server.log" 2>&1 </dev/null &
  echo $! >"$d/pid"
  disown  # no "Killed" job notices when failover.sh kills it
}

pid_of() { cat "$1/pid" 2>/dev/null; }

# A standalone Arbor in DIR on PORT; extra zoo.cfg lines as further arguments. Waits until it
# serves. Non-zero (and its log's tail) if it does not come up.
start_arbor() { # dir port [key=value...]
  local d=$1 port=$2; shift 2
  mkdir -p "$d/data"
  { arbor_common_cfg "$d/data" "$port" "$(free_port)"; printf '%s\n' "$@"; } >"$d/zoo.cfg"
  launch_arbor "$d"
  if ! wait_serving "$port" 30; then
    bench_log "Arbor did not start; its log ends with:"; tail -n 5 "$d/server.log" >&2 || true
    return 1
  fi
}

# A 3-member Arbor ensemble under DIR/1..3 (server.N lines, myid, free loopback ports). Sets
# ARBOR_PORTS (client ports, in member order) and ARBOR_CONNECT (host:port,...). Waits until
# every member serves.
start_arbor_ensemble() { # dir [key=value...]
  local d=$1 i j ports; shift
  read -r -a ports <<<"$(free_ports 12)"
  ARBOR_PORTS=("${ports[0]}" "${ports[1]}" "${ports[2]}")
  for i in 1 2 3; do
    mkdir -p "$d/$i/data"; echo "$i" >"$d/$i/data/myid"
    {
      arbor_common_cfg "$d/$i/data" "${ports[i - 1]}" "${ports[i + 8]}"
      for j in 1 2 3; do
        echo "server.$j=127.0.0.1:${ports[j + 2]}:${ports[j + 5]};${ports[j - 1]}"
      done
      printf '%s\n' "$@"
    } >"$d/$i/zoo.cfg"
  done
  for i in 1 2 3; do launch_arbor "$d/$i"; done
  ARBOR_CONNECT=$(connect_string "${ARBOR_PORTS[@]}")
  for i in 1 2 3; do
    if ! wait_serving "${ARBOR_PORTS[i - 1]}" 60; then
      bench_log "Arbor member $i did not start; its log ends with:"; tail -n 5 "$d/$i/server.log" >&2 || true
      return 1
    fi
  done
}

connect_string() { local IFS=,; local hosts=("${@/#/127.0.0.1:}"); echo "${hosts[*]}"; }

# Stops the process whose pid is in DIR/pid (SIGTERM, or the given signal) and waits for it.
stop_member() { # dir [signal]
  local pid
  pid=$(pid_of "$1") || return 0
  kill "-${2:-TERM}" "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$1/pid"
}

# --- ZooKeeper ----------------------------------------------------------------------------

zk_available() {
  [ -f "$ZK_REFERENCE" ] || { bench_log "$ZK_REFERENCE not found"; return 1; }
  [ -f /usr/share/java/zookeeper.jar ] || { bench_log "ZooKeeper is not installed (zk-reference install)"; return 1; }
}

# Starts one ZooKeeper server on DIR/zoo.cfg the way zk-reference does (its classpath, the same
# JVM flags), recording the pid in DIR/pid. zk-reference itself has no command to start a
# single member again or to add settings, which failover.sh and scale.sh need.
zk_launch() { # dir
  local d=$1 cp
  cp=$(sed -n 's/^CP="\(.*\)"$/\1/p' "$ZK_REFERENCE")
  [ -n "$cp" ] || { bench_log "cannot read the classpath from $ZK_REFERENCE"; return 1; }
  # `cd; java &` (not `cd && java &`): $! must be java itself, not a subshell around it.
  (cd "$d" || exit 1; setsid java -Xmx1g -cp "$cp" -Dzookeeper.log.dir="$d" -Dzookeeper.root.logger=WARN,CONSOLE \
     org.apache.zookeeper.server.quorum.QuorumPeerMain "$d/zoo.cfg" >>"$d/server.log" 2>&1 </dev/null &
   echo $! >"$d/pid")
}

# A standalone ZooKeeper in DIR on PORT, from `zk-reference standalone`; with extra zoo.cfg
# lines (e.g. maxClientCnxns=0) it is restarted once with them appended, and `conf` must show
# them. Waits until it serves.
start_zk() { # dir port [key=value...]
  local d=$1 port=$2 line; shift 2
  if ! timeout 60 bash "$ZK_REFERENCE" standalone "$d" "$port" >&2; then
    bench_log "ZooKeeper did not start"; tail -n 5 "$d/server.log" >&2 2>/dev/null || true; return 1
  fi
  if [ $# -gt 0 ]; then
    stop_member "$d"
    printf '%s\n' "$@" >>"$d/zoo.cfg"
    zk_launch "$d"
    for _ in $(seq 1 100); do port_open "$port" && break; sleep 0.2; done
  fi
  wait_serving "$port" 60 || return 1
  for line in "$@"; do
    four_letter "$port" conf | grep -qxF "$line" || { bench_log "ZooKeeper's conf does not show $line"; return 1; }
  done
}

# A 3-server ZooKeeper ensemble from `zk-reference ensemble DIR BASE`: client ports BASE+1..3,
# quorum ports 28xx and election ports 38xx derived from BASE; BASE is chosen so that all nine
# are free. Sets ZK_PORTS and ZK_CONNECT; waits until every member serves.
start_zk_ensemble() { # dir
  local d=$1 base o i
  for _ in $(seq 1 50); do
    base=$(( 20000 + RANDOM % 20000 ))
    base=$(( base - base % 100 + RANDOM % 97 ))
    o=$(( base % 100 ))
    if ports_free $((base + 1)) $((base + 2)) $((base + 3)) $((2801 + o)) $((2802 + o)) $((2803 + o)) \
        $((3801 + o)) $((3802 + o)) $((3803 + o)); then
      break
    fi
  done
  ZK_PORTS=($((base + 1)) $((base + 2)) $((base + 3)))
  ZK_CONNECT=$(connect_string "${ZK_PORTS[@]}")
  if ! timeout 90 bash "$ZK_REFERENCE" ensemble "$d" "$base" >&2; then
    bench_log "the ZooKeeper ensemble did not start"; return 1
  fi
  for i in 1 2 3; do wait_serving "${ZK_PORTS[i - 1]}" 60 || return 1; done
}

# --- runs ---------------------------------------------------------------------------------

# One `arbor bench` run with the common settings ($SESSIONS, $OUTSTANDING, $VALUE_SIZE,
# $DURATION, $WARMUP); JSON to OUT, stderr to OUT's .err. Extra options follow.
run_bench() { # connect-string workload out.json [options...]
  local servers=$1 workload=$2 out=$3; shift 3
  if ! "${BENCH[@]}" --server "$servers" --workload "$workload" --sessions "$SESSIONS" \
      --outstanding "$OUTSTANDING" --value-size "$VALUE_SIZE" --duration "$DURATION" \
      --warmup "$WARMUP" --read-pct 90 --json "$@" >"$out" 2>"${out%.json}.err"; then
    bench_log "$workload against $servers failed: $(tail -n 3 "${out%.json}.err")"
    rm -f "$out"
    return 1
  fi
}
