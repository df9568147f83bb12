#!/usr/bin/env bash
# Side-by-side benchmark: Arbor standalone vs Apache ZooKeeper 3.8 standalone, same machine,
# same run, same settings (tickTime 2000, forceSync on, 4lw on, admin server off), both on
# free 127.0.0.1 ports. Runs the same workloads with `arbor bench` against each server in turn
# and prints a markdown table with both results, the ratios, and each server's resident
# memory (VmRSS) after the runs.
#
#   benches/compare.sh [--duration 10s] [--warmup 2s] [--sessions 16] [--outstanding 32]
#                      [--value-size 100] [--workloads create,set,get,mixed]
#                      [--skip-arbor] [--skip-zookeeper] [--out DIR]
#
# Needs: cargo, python3 (for the table), and ZooKeeper (`shared/tools/zk-reference install`).
# Load is bounded in time (per workload: warm-up + duration) and goes to 127.0.0.1 only.
# Exit status: 0 when every selected server ran every workload, 1 otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ZK_REFERENCE=${ZK_REFERENCE:-$ROOT/../shared/tools/zk-reference}
DURATION=10s WARMUP=2s SESSIONS=16 OUTSTANDING=32 VALUE_SIZE=100
WORKLOADS=create,set,get,mixed
RUN_ARBOR=1 RUN_ZK=1 OUT=

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    --outstanding) OUTSTANDING=$2; shift 2 ;;
    --value-size) VALUE_SIZE=$2; shift 2 ;;
    --workloads) WORKLOADS=$2; shift 2 ;;
    --skip-arbor) RUN_ARBOR=0; shift ;;
    --skip-zookeeper) RUN_ZK=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

WORK=$(mktemp -d /tmp/arbor-compare.XXXXXX)
OUT=${OUT:-$WORK/results}
mkdir -p "$OUT"
ARBOR_PID=
cleanup() {
  if [ -n "$ARBOR_PID" ]; then kill "$ARBOR_PID" 2>/dev/null || true; wait "$ARBOR_PID" 2>/dev/null || true; fi
  [ -d "$WORK/zk" ] && bash "$ZK_REFERENCE" stop "$WORK/zk" >/dev/null 2>&1 || true
  rm -rf "$WORK/arbor" "$WORK/zk"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

four_letter() { # port word
  (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf '%s' "$2" >&3 && timeout 5 cat <&3) 2>/dev/null || true
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo ""; }

# ruok answers before the server serves (ZooKeeper closes sessions until its database is
# loaded); srvr reports the node count only once it serves.
wait_serving() { # port
  for _ in $(seq 1 150); do
    case "$(four_letter "$1" srvr)" in *"Node count"*) return 0 ;; esac
    sleep 0.2
  done
  echo "compare.sh: 127.0.0.1:$1 does not report serving in srvr after 30 s; going on" >&2
}

node_count() { four_letter "$1" srvr | awk -F': ' '/^Node count/ {print $2}'; }

echo "building arbor and arbor-bench (release)..." >&2
(cd "$ROOT" && cargo build --release -q -p arbor-cli -p arbor-bench)
ARBOR_BIN=$ROOT/target/release/arbor
if "$ARBOR_BIN" bench --help >/dev/null 2>&1; then
  BENCH=("$ARBOR_BIN" bench)
else
  BENCH=("$ROOT/target/release/arbor-bench")
fi

start_arbor() { # port -> sets ARBOR_PID, returns non-zero if it does not come up
  local port=$1 d=$WORK/arbor
  mkdir -p "$d/data"
  printf 'tickTime=2000\ndataDir=%s\nclientPort=%s\nclientPortAddress=127.0.0.1\nforceSync=yes\n4lw.commands.whitelist=*\nadmin.enableServer=false\nadmin.serverAddress=127.0.0.1\nadmin.serverPort=%s\n' \
    "$d/data" "$port" "$(free_port)" >"$d/zoo.cfg"
  ARBOR_LOG=warn setsid "$ARBOR_BIN" server --config "$d/zoo.cfg" >"$d/server.log" 2>&1 </dev/null &
  ARBOR_PID=$!
  for _ in $(seq 1 100); do
    kill -0 "$ARBOR_PID" 2>/dev/null || { ARBOR_PID=; return 1; }
    port_open "$port" && return 0
    sleep 0.2
  done
  return 1
}

run_workloads() { # name port
  local name=$1 port=$2 ok=0 w
  for w in ${WORKLOADS//,/ }; do
    echo "  $name: $w ($SESSIONS x $OUTSTANDING, ${VALUE_SIZE} B, warm-up $WARMUP, $DURATION)" >&2
    if ! "${BENCH[@]}" --server "127.0.0.1:$port" --workload "$w" --sessions "$SESSIONS" \
        --outstanding "$OUTSTANDING" --value-size "$VALUE_SIZE" --duration "$DURATION" \
        --warmup "$WARMUP" --read-pct 90 --json >"$OUT/$name-$w.json" 2>"$OUT/$name-$w.err"; then
      echo "  $name: $w failed: $(tail -n 3 "$OUT/$name-$w.err")" >&2
      rm -f "$OUT/$name-$w.json"; ok=1
    fi
  done
  return $ok
}

STATUS=0
declare -A RSS NODES
if [ "$RUN_ZK" = 1 ]; then
  if [ ! -f "$ZK_REFERENCE" ]; then
    echo "compare.sh: $ZK_REFERENCE not found" >&2; STATUS=1
  else
    ZK_PORT=$(free_port)
    echo "starting ZooKeeper on 127.0.0.1:$ZK_PORT..." >&2
    if bash "$ZK_REFERENCE" standalone "$WORK/zk" "$ZK_PORT" >&2; then
      wait_serving "$ZK_PORT"
      run_workloads zookeeper "$ZK_PORT" || STATUS=1
      RSS[zookeeper]=$(rss_kib "$(cat "$WORK/zk/pid")")
      NODES[zookeeper]=$(node_count "$ZK_PORT")
      bash "$ZK_REFERENCE" stop "$WORK/zk" >/dev/null 2>&1 || true
    else
      echo "compare.sh: ZooKeeper did not start" >&2; STATUS=1
    fi
  fi
fi
if [ "$RUN_ARBOR" = 1 ]; then
  ARBOR_PORT=$(free_port)
  echo "starting Arbor on 127.0.0.1:$ARBOR_PORT..." >&2
  if start_arbor "$ARBOR_PORT"; then
    wait_serving "$ARBOR_PORT"
    run_workloads arbor "$ARBOR_PORT" || STATUS=1
    RSS[arbor]=$(rss_kib "$ARBOR_PID")
    NODES[arbor]=$(node_count "$ARBOR_PORT")
    kill "$ARBOR_PID" 2>/dev/null || true; wait "$ARBOR_PID" 2>/dev/null || true; ARBOR_PID=
  else
    echo "compare.sh: Arbor did not start; its log ends with:" >&2
    tail -n 5 "$WORK/arbor/server.log" >&2 || true
    STATUS=1
  fi
fi

echo
echo "Machine: $(nproc) CPUs, $(uname -sr); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "Settings: $SESSIONS sessions x $OUTSTANDING outstanding, ${VALUE_SIZE}-byte values, 10000 keys, warm-up $WARMUP, $DURATION per workload; mixed = 90% getData / 10% setData"
echo
python3 - "$OUT" "$WORKLOADS" <<'EOF'
import json, os, sys
out, workloads = sys.argv[1], sys.argv[2].split(",")

def load(server, workload):
    path = os.path.join(out, f"{server}-{workload}.json")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def cell(r, fmt):
    return fmt(r) if r else "n/a"

def ratio(a, b):
    if not a or not b or not b["ops_per_sec"]:
        return "n/a"
    return f'{a["ops_per_sec"] / b["ops_per_sec"]:.2f}x'

print("| workload | ZooKeeper ops/s | Arbor ops/s | Arbor / ZooKeeper | ZooKeeper p50 / p99 / p99.9 ms | Arbor p50 / p99 / p99.9 ms | errors ZK / Arbor |")
print("|---|---:|---:|---:|---:|---:|---:|")
ops = lambda r: f'{r["ops_per_sec"]:.0f}'
lat = lambda r: "{:.2f} / {:.2f} / {:.2f}".format(r["latency_ms"]["p50"], r["latency_ms"]["p99"], r["latency_ms"]["p99.9"])
errs = lambda r: str(r["errors"])
for w in workloads:
    zk, ar = load("zookeeper", w), load("arbor", w)
    print(f"| {w} | {cell(zk, ops)} | {cell(ar, ops)} | {ratio(ar, zk)} | {cell(zk, lat)} | {cell(ar, lat)} | {cell(zk, errs)} / {cell(ar, errs)} |")
EOF
echo
mib() { [ -n "${1:-}" ] && awk -v k="$1" 'BEGIN {printf "%.1f MiB", k / 1024}' || echo "n/a"; }
echo "| server | RSS after the runs | znodes then |"
echo "|---|---:|---:|"
echo "| ZooKeeper 3.8 (JVM, -Xmx1g) | $(mib "${RSS[zookeeper]:-}") | ${NODES[zookeeper]:-n/a} |"
echo "| Arbor | $(mib "${RSS[arbor]:-}") | ${NODES[arbor]:-n/a} |"
echo
echo "Raw JSON reports: $OUT" >&2
exit $STATUS
