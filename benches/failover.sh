#!/usr/bin/env bash
# Failover time: a 3-server Arbor ensemble and a 3-server ZooKeeper 3.8 ensemble
# (`zk-reference ensemble`), default settings (tickTime 2000), on free 127.0.0.1 ports. In each
# trial `arbor bench failover` writes from clients on the two members that do not lead (one
# setData every --interval per client), kill -9s the leader, and measures the time from the
# kill until a survivor reports Mode: leader, until the first successful write issued after the
# kill, and until every client has written again. The killed member is restarted (same data)
# and must serve again before the next trial. Prints median and max over the trials.
#
#   benches/failover.sh [--trials 5] [--clients-per-member 2] [--interval 10ms] [--steady 3s]
#                       [--timeout 60s] [--skip-arbor] [--skip-zookeeper] [--out DIR]
#
# Needs: cargo, python3, ZooKeeper (`shared/tools/zk-reference install`).
# Exit status: 0 when every selected server recovered in every trial, 1 otherwise.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

TRIALS=5 CLIENTS=2 INTERVAL=10ms STEADY=3s TIMEOUT=60s
RUN_ARBOR=1 RUN_ZK=1 OUT=
while [ $# -gt 0 ]; do
  case "$1" in
    --trials) TRIALS=$2; shift 2 ;;
    --clients-per-member) CLIENTS=$2; shift 2 ;;
    --interval) INTERVAL=$2; shift 2 ;;
    --steady) STEADY=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --skip-arbor) RUN_ARBOR=0; shift ;;
    --skip-zookeeper) RUN_ZK=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "failover.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

bench_init failover
OUT=${OUT:-$(mktemp -d /tmp/arbor-failover-results.XXXXXX)}
mkdir -p "$OUT"
build_tools

# Runs the trials against the ensemble under DIR (members DIR/1..3, client ports PORTS...);
# RESTART is the function that starts member DIR/N again.
run_trials() { # name dir restart-function port1 port2 port3
  local name=$1 d=$2 restart=$3 ports=("$4" "$5" "$6") t i pids killed ok=0
  local servers
  servers=$(connect_string "${ports[@]}")
  for t in $(seq 1 "$TRIALS"); do
    for i in 1 2 3; do wait_serving "${ports[i - 1]}" 60 || ok=1; done
    pids=$(for i in 1 2 3; do pid_of "$d/$i"; done | paste -sd,)
    bench_log "$name trial $t/$TRIALS (members $servers, pids $pids)"
    if ! "${BENCH[@]}" failover --server "$servers" --pids "$pids" --clients-per-member "$CLIENTS" \
        --interval "$INTERVAL" --steady "$STEADY" --timeout "$TIMEOUT" --json \
        >"$OUT/$name-$t.json" 2>"$OUT/$name-$t.err"; then
      bench_log "$name trial $t: $(tail -n 2 "$OUT/$name-$t.err")"
      ok=1
    fi
    killed=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["killed_pid"])' "$OUT/$name-$t.json" 2>/dev/null || true)
    for i in 1 2 3; do
      if [ -n "$killed" ] && [ "$(pid_of "$d/$i")" = "$killed" ]; then
        bench_log "$name: restarting member $i"
        rm -f "$d/$i/pid"
        "$restart" "$d/$i"
      fi
    done
  done
  for i in 1 2 3; do wait_serving "${ports[i - 1]}" 60 || ok=1; done
  return $ok
}

STATUS=0
if [ "$RUN_ZK" = 1 ]; then
  if zk_available && start_zk_ensemble "$WORK/zk"; then
    bench_log "ZooKeeper ensemble on $ZK_CONNECT"
    run_trials zookeeper "$WORK/zk" zk_launch "${ZK_PORTS[@]}" || STATUS=1
  else
    STATUS=1
  fi
  bash "$ZK_REFERENCE" stop "$WORK/zk" >/dev/null 2>&1 || true
fi
if [ "$RUN_ARBOR" = 1 ]; then
  if start_arbor_ensemble "$WORK/arbor"; then
    bench_log "Arbor ensemble on $ARBOR_CONNECT"
    run_trials arbor "$WORK/arbor" launch_arbor "${ARBOR_PORTS[@]}" || STATUS=1
  else
    STATUS=1
  fi
  for i in 1 2 3; do stop_member "$WORK/arbor/$i"; done
fi

echo
echo "Machine: $(nproc) CPUs, $(uname -sr); $(date -u +%Y-%m-%dT%H:%MZ)"
echo "Settings: 3-server ensembles, tickTime 2000, forceSync on; $CLIENTS clients on each non-leader member, one setData every $INTERVAL each; kill -9 of the leader after $STEADY of load; $TRIALS trials"
echo
python3 - "$OUT" "$TRIALS" <<'EOF' || STATUS=1
import json, os, statistics, sys
out, trials = sys.argv[1], int(sys.argv[2])

def reports(name):
    found = []
    for t in range(1, trials + 1):
        try:
            with open(os.path.join(out, f"{name}-{t}.json")) as f:
                found.append(json.load(f))
        except (OSError, ValueError):
            found.append(None)
    return found

def stat(rs, key):
    values = [r[key] for r in rs if r and r.get(key) is not None]
    if not values:
        return "n/a"
    return f"{statistics.median(values):,.0f} / {max(values):,.0f}"

print("| server | trials recovered | new leader ms (median / max) | first write ms (median / max) | every client ms (median / max) |")
print("|---|---:|---:|---:|---:|")
failed = False
for name, label in (("zookeeper", "ZooKeeper 3.8"), ("arbor", "Arbor")):
    rs = reports(name)
    if not any(rs):
        continue
    recovered = sum(1 for r in rs if r and r["recovered"])
    failed |= recovered < trials
    print(f"| {label} | {recovered} / {trials} | {stat(rs, 'new_leader_ms')} | {stat(rs, 'first_write_ms')} | {stat(rs, 'all_clients_ms')} |")
print()
print("Per trial, first write / every client (ms):")
for name in ("zookeeper", "arbor"):
    rs = reports(name)
    if any(rs):
        cells = [f"{r['first_write_ms']:.0f}/{r['all_clients_ms']:.0f}" if r and r["recovered"] else "failed" for r in rs]
        print(f"  {name}: " + ", ".join(cells))
sys.exit(1 if failed else 0)
EOF
bench_log "raw JSON reports: $OUT"
exit $STATUS
