#!/usr/bin/env bash
# Side-by-side benchmark: Arbor vs Apache ZooKeeper 3.8, same machine, same run, same settings
# (tickTime 2000, forceSync on, 4lw on, admin server off), all on free 127.0.0.1 ports. Runs
# the same workloads with `arbor bench` against each in turn and prints a markdown table with
# both results, the ratios, and the resident memory (VmRSS) of every server after the runs.
#
#   benches/compare.sh [--ensemble] [--duration 10s] [--warmup 2s] [--sessions 16]
#                      [--outstanding 32] [--value-size 100] [--workloads create,set,get,mixed]
#                      [--rounds N] [--skip-arbor] [--skip-zookeeper] [--out DIR]
#
# Both servers run side by side for the whole comparison, and each workload runs against
# ZooKeeper and then at once against Arbor, so a pair's two results are seconds apart: on a
# shared VM the machine's speed moves by 2x within minutes (CPU steal), which running all of
# one server's workloads before the other's turned into ratio noise. --rounds N repeats the
# whole sequence; the table then gives, per workload, the median of the N pairs' ratios (and
# each pair's ratio) next to the median throughputs and latencies.
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
RUN_ARBOR=1 RUN_ZK=1 OUT= ENSEMBLE=0 ROUNDS=1

while [ $# -gt 0 ]; do
  case "$1" in
    --ensemble) ENSEMBLE=1; shift ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    --outstanding) OUTSTANDING=$2; shift 2 ;;
    --value-size) VALUE_SIZE=$2; shift 2 ;;
    --workloads) WORKLOADS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --skip-arbor) RUN_ARBOR=0; shift ;;
    --skip-zookeeper) RUN_ZK=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

case "$ROUNDS" in ''|*[!0-9]*|0) echo "compare.sh: --rounds needs a positive number" >&2; exit 2 ;; esac

bench_init compare
OUT=${OUT:-$(mktemp -d /tmp/arbor-compare-results.XXXXXX)}
mkdir -p "$OUT"
build_tools

# One line per server process: "label<TAB>RSS KiB<TAB>znodes<TAB>mode", into $OUT/memory.tsv.
record_memory() { # label dir port
  printf '%s\t%s\t%s\t%s\n' "$1" "$(rss_kib "$(pid_of "$2")")" "$(node_count "$3")" "$(server_mode "$3")" \
    >>"$OUT/memory.tsv"
}

STATUS=0
: >"$OUT/memory.tsv"
ZK_TARGET= ARBOR_TARGET=
if [ "$RUN_ZK" = 1 ]; then
  if ! zk_available; then
    STATUS=1
  elif [ "$ENSEMBLE" = 1 ]; then
    bench_log "starting a 3-server ZooKeeper ensemble..."
    if start_zk_ensemble "$WORK/zk"; then
      bench_log "ZooKeeper ensemble on $ZK_CONNECT"
      ZK_TARGET=$ZK_CONNECT
    else
      STATUS=1
    fi
  else
    ZK_PORT=$(free_port)
    bench_log "starting ZooKeeper on 127.0.0.1:$ZK_PORT..."
    if start_zk "$WORK/zk" "$ZK_PORT"; then ZK_TARGET=127.0.0.1:$ZK_PORT; else STATUS=1; fi
  fi
fi
if [ "$RUN_ARBOR" = 1 ]; then
  if [ "$ENSEMBLE" = 1 ]; then
    bench_log "starting a 3-server Arbor ensemble..."
    if start_arbor_ensemble "$WORK/arbor"; then
      bench_log "Arbor ensemble on $ARBOR_CONNECT"
      ARBOR_TARGET=$ARBOR_CONNECT
    else
      STATUS=1
    fi
  else
    ARBOR_PORT=$(free_port)
    bench_log "starting Arbor on 127.0.0.1:$ARBOR_PORT..."
    if start_arbor "$WORK/arbor" "$ARBOR_PORT"; then ARBOR_TARGET=127.0.0.1:$ARBOR_PORT; else STATUS=1; fi
  fi
fi

# Pairs: each workload against ZooKeeper, then at once against Arbor, round after round.
for round in $(seq 1 "$ROUNDS"); do
  for w in ${WORKLOADS//,/ }; do
    for name in zookeeper arbor; do
      if [ "$name" = zookeeper ]; then target=$ZK_TARGET; else target=$ARBOR_TARGET; fi
      [ -n "$target" ] || continue
      bench_log "round $round/$ROUNDS: $name: $w ($SESSIONS x $OUTSTANDING, ${VALUE_SIZE} B, warm-up $WARMUP, $DURATION)"
      run_bench "$target" "$w" "$OUT/$name-$w-r$round.json" || STATUS=1
    done
  done
done

if [ -n "$ZK_TARGET" ]; then
  if [ "$ENSEMBLE" = 1 ]; then
    for i in 1 2 3; do record_memory "ZooKeeper 3.8 member $i" "$WORK/zk/$i" "${ZK_PORTS[i - 1]}"; done
  else
    record_memory "ZooKeeper 3.8" "$WORK/zk" "$ZK_PORT"
  fi
fi
if [ -n "$ARBOR_TARGET" ]; then
  if [ "$ENSEMBLE" = 1 ]; then
    for i in 1 2 3; do record_memory "Arbor member $i" "$WORK/arbor/$i" "${ARBOR_PORTS[i - 1]}"; done
  else
    record_memory "Arbor" "$WORK/arbor" "$ARBOR_PORT"
  fi
fi
if [ "$RUN_ZK" = 1 ]; then bash "$ZK_REFERENCE" stop "$WORK/zk" >/dev/null 2>&1 || true; fi
if [ "$RUN_ARBOR" = 1 ]; then
  if [ "$ENSEMBLE" = 1 ]; then
    for i in 1 2 3; do stop_member "$WORK/arbor/$i"; done
  else
    stop_member "$WORK/arbor"
  fi
fi

KIND=standalone
[ "$ENSEMBLE" = 1 ] && KIND="3-server ensembles, sessions spread over all members"
echo
echo "Machine: $(nproc) CPUs, $(uname -sr); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "Settings: $KIND; $ROUNDS round(s); $SESSIONS sessions x $OUTSTANDING outstanding, ${VALUE_SIZE}-byte values, 10000 keys, warm-up $WARMUP, $DURATION per workload; mixed = 90% getData / 10% setData"
echo
python3 - "$OUT" "$WORKLOADS" "$ROUNDS" <<'EOF'
import json, os, statistics, sys
out, workloads, rounds = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])

def load(server, workload, r):
    try:
        with open(os.path.join(out, f"{server}-{workload}-r{r}.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def med(values):
    return statistics.median(values) if values else None

def side(results):
    got = [r for r in results if r]
    if not got:
        return "n/a", "n/a", "n/a"
    lat = " / ".join(f'{med([r["latency_ms"][q] for r in got]):.2f}' for q in ("p50", "p99", "p99.9"))
    return f'{med([r["ops_per_sec"] for r in got]):,.0f}', lat, str(sum(r["errors"] for r in got))

print("| workload | ZooKeeper ops/s | Arbor ops/s | Arbor / ZooKeeper | ZooKeeper p50 / p99 / p99.9 ms | Arbor p50 / p99 / p99.9 ms | p99 Arbor / ZooKeeper | errors ZK / Arbor |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for w in workloads:
    zks = [load("zookeeper", w, r) for r in range(1, rounds + 1)]
    ars = [load("arbor", w, r) for r in range(1, rounds + 1)]
    pairs = [(z, a) for z, a in zip(zks, ars)
             if z and a and z["ops_per_sec"] and z["latency_ms"]["p99"]]
    ratios = [a["ops_per_sec"] / z["ops_per_sec"] for z, a in pairs]
    p99s = [a["latency_ms"]["p99"] / z["latency_ms"]["p99"] for z, a in pairs]
    zk_ops, zk_lat, zk_err = side(zks)
    ar_ops, ar_lat, ar_err = side(ars)
    ratio = "n/a" if not ratios else f"{med(ratios):.2f}x"
    p99 = "n/a" if not p99s else f"{med(p99s):.2f}"
    if rounds > 1 and ratios:
        ratio += " (" + ", ".join(f"{v:.2f}" for v in ratios) + ")"
        p99 += " (" + ", ".join(f"{v:.2f}" for v in p99s) + ")"
    name = "mixed 90/10" if w == "mixed" else w
    print(f"| {name} | {zk_ops} | {ar_ops} | {ratio} | {zk_lat} | {ar_lat} | {p99} | {zk_err} / {ar_err} |")
if rounds > 1:
    print()
    print(f"Medians over {rounds} rounds; in parentheses each round's pair's ratio "
          "(ZooKeeper, then Arbor at once).")
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
