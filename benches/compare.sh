#!/usr/bin/env bash
# Side-by-side benchmark: Arbor vs Apache ZooKeeper 3.8, same machine, same run, same settings
# (tickTime 2000, forceSync on, 4lw on, admin server off), all on free 127.0.0.1 ports. Runs
# the same workloads with `arbor bench` against each in turn and prints a markdown table with
# both results, the ratios, and the resident memory (VmRSS) of every server after the runs.
#
#   benches/compare.sh [--ensemble] [--duration 10s] [--warmup 2s] [--sessions 16]
#                      [--outstanding 32] [--value-size 100] [--workloads create,set,get,mixed]
#                      [--skip-arbor] [--skip-zookeeper] [--out DIR]
#
# Standalone by default. --ensemble: a 3-server Arbor ensemble (server.N lines, myid) next to a
# 3-server ZooKeeper ensemble (`zk-reference ensemble`); the benchmark's sessions are spread
# over all three members (`--server h1,h2,h3`), as ZooKeeper clients spread over an ensemble.
# Needs: cargo, python3 (for the table), and ZooKeeper (`shared/tools/zk-reference install`).
# Load is bounded in time (per workload: warm-up + duration) and goes to 127.0.0.1 only.
# Exit status: 0 when every selected server ran every workload, 1 otherwise.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

DURATION=10s WARMUP=2s SESSIONS=16 OUTSTANDING=32 VALUE_SIZE=100
WORKLOADS=create,set,get,mixed
RUN_ARBOR=1 RUN_ZK=1 OUT= ENSEMBLE=0

while [ $# -gt 0 ]; do
  case "$1" in
    --ensemble) ENSEMBLE=1; shift ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    --outstanding) OUTSTANDING=$2; shift 2 ;;
    --value-size) VALUE_SIZE=$2; shift 2 ;;
    --workloads) WORKLOADS=$2; shift 2 ;;
    --skip-arbor) RUN_ARBOR=0; shift ;;
    --skip-zookeeper) RUN_ZK=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

bench_init compare
OUT=${OUT:-$(mktemp -d /tmp/arbor-compare-results.XXXXXX)}
mkdir -p "$OUT"
build_tools

run_workloads() { # name connect-string
  local name=$1 servers=$2 ok=0 w
  for w in ${WORKLOADS//,/ }; do
    bench_log "$name: $w ($SESSIONS x $OUTSTANDING, ${VALUE_SIZE} B, warm-up $WARMUP, $DURATION)"
    run_bench "$servers" "$w" "$OUT/$name-$w.json" || ok=1
  done
  return $ok
}

# One line per server process: "label<TAB>RSS KiB<TAB>znodes<TAB>mode", into $OUT/memory.tsv.
record_memory() { # label dir port
  printf '%s\t%s\t%s\t%s\n' "$1" "$(rss_kib "$(pid_of "$2")")" "$(node_count "$3")" "$(server_mode "$3")" \
    >>"$OUT/memory.tsv"
}

STATUS=0
: >"$OUT/memory.tsv"
if [ "$RUN_ZK" = 1 ]; then
  if ! zk_available; then
    STATUS=1
  elif [ "$ENSEMBLE" = 1 ]; then
    bench_log "starting a 3-server ZooKeeper ensemble..."
    if start_zk_ensemble "$WORK/zk"; then
      bench_log "ZooKeeper ensemble on $ZK_CONNECT"
      run_workloads zookeeper "$ZK_CONNECT" || STATUS=1
      for i in 1 2 3; do record_memory "ZooKeeper 3.8 member $i" "$WORK/zk/$i" "${ZK_PORTS[i - 1]}"; done
    else
      STATUS=1
    fi
    bash "$ZK_REFERENCE" stop "$WORK/zk" >/dev/null 2>&1 || true
  else
    ZK_PORT=$(free_port)
    bench_log "starting ZooKeeper on 127.0.0.1:$ZK_PORT..."
    if start_zk "$WORK/zk" "$ZK_PORT"; then
      run_workloads zookeeper "127.0.0.1:$ZK_PORT" || STATUS=1
      record_memory "ZooKeeper 3.8" "$WORK/zk" "$ZK_PORT"
    else
      STATUS=1
    fi
    bash "$ZK_REFERENCE" stop "$WORK/zk" >/dev/null 2>&1 || true
  fi
fi
if [ "$RUN_ARBOR" = 1 ]; then
  if [ "$ENSEMBLE" = 1 ]; then
    bench_log "starting a 3-server Arbor ensemble..."
    if start_arbor_ensemble "$WORK/arbor"; then
      bench_log "Arbor ensemble on $ARBOR_CONNECT"
      run_workloads arbor "$ARBOR_CONNECT" || STATUS=1
      for i in 1 2 3; do record_memory "Arbor member $i" "$WORK/arbor/$i" "${ARBOR_PORTS[i - 1]}"; done
    else
      STATUS=1
    fi
    for i in 1 2 3; do stop_member "$WORK/arbor/$i"; done
  else
    ARBOR_PORT=$(free_port)
    bench_log "starting Arbor on 127.0.0.1:$ARBOR_PORT..."
    if start_arbor "$WORK/arbor" "$ARBOR_PORT"; then
      run_workloads arbor "127.0.0.1:$ARBOR_PORT" || STATUS=1
      record_memory "Arbor" "$WORK/arbor" "$ARBOR_PORT"
    else
      STATUS=1
    fi
    stop_member "$WORK/arbor"
  fi
fi

KIND=standalone
[ "$ENSEMBLE" = 1 ] && KIND="3-server ensembles, sessions spread over all members"
echo
echo "Machine: $(nproc) CPUs, $(uname -sr); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "Settings: $KIND; $SESSIONS sessions x $OUTSTANDING outstanding, ${VALUE_SIZE}-byte values, 10000 keys, warm-up $WARMUP, $DURATION per workload; mixed = 90% getData / 10% setData"
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

def p99_ratio(a, b):
    if not a or not b or not b["latency_ms"]["p99"]:
        return "n/a"
    return f'{a["latency_ms"]["p99"] / b["latency_ms"]["p99"]:.2f}'

print("| workload | ZooKeeper ops/s | Arbor ops/s | Arbor / ZooKeeper | ZooKeeper p50 / p99 / p99.9 ms | Arbor p50 / p99 / p99.9 ms | p99 Arbor / ZooKeeper | errors ZK / Arbor |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
ops = lambda r: f'{r["ops_per_sec"]:,.0f}'
lat = lambda r: "{:.2f} / {:.2f} / {:.2f}".format(r["latency_ms"]["p50"], r["latency_ms"]["p99"], r["latency_ms"]["p99.9"])
errs = lambda r: str(r["errors"])
for w in workloads:
    zk, ar = load("zookeeper", w), load("arbor", w)
    name = "mixed 90/10" if w == "mixed" else w
    print(f"| {name} | {cell(zk, ops)} | {cell(ar, ops)} | {ratio(ar, zk)} | {cell(zk, lat)} | {cell(ar, lat)} | {p99_ratio(ar, zk)} | {cell(zk, errs)} / {cell(ar, errs)} |")
EOF
echo
echo "| server | mode | RSS after the runs | znodes then |"
echo "|---|---|---:|---:|"
while IFS=$'\t' read -r label rss nodes mode; do
  case "$label" in ZooKeeper*) label="$label (JVM, -Xmx1g)" ;; esac
  echo "| $label | ${mode:-n/a} | $(mib "$rss") | ${nodes:-n/a} |"
done <"$OUT/memory.tsv"
echo
bench_log "raw JSON reports: $OUT"
exit $STATUS
