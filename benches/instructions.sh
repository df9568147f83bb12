#!/usr/bin/env bash
# Instructions the server executes per request, counted by valgrind's callgrind: a measure
# of CPU work that does not move with the machine's load, for A/B comparisons of Arbor builds
# on a shared VM (where throughput of the same binary moves by 2x between runs).
#
#   benches/instructions.sh [--workload set] [--duration 10s] [--out DIR] [BIN...]
#
# For each BIN (default: a release build of this tree): starts `arbor server` under callgrind,
# builds the workload's keys, zeroes the counters, runs the workload (16 x 32, 100 B) for
# --duration, dumps the counters, and prints one line: instructions per completed request.
# Runs under callgrind are ~50x slower than native, so the counts cover tens of thousands of
# requests. The profile stays in DIR (callgrind_annotate DIR/<n>.callgrind.1) for a breakdown.
# Needs: valgrind. Time counts nothing here: cache misses and waits are not instructions.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

WORKLOAD=set DURATION=10s OUT= BINS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --workload) WORKLOAD=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    -*) echo "instructions.sh: unknown option $1" >&2; exit 2 ;;
    *) BINS+=("$1"); shift ;;
  esac
done
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind" >&2; exit 2; }

bench_init instructions
OUT=${OUT:-$(mktemp -d /tmp/arbor-instructions.XXXXXX)}
mkdir -p "$OUT"
if [ ${#BINS[@]} -eq 0 ]; then
  build_tools
  BINS=("$ARBOR_BIN")
fi

n=0
for bin in "${BINS[@]}"; do
  n=$((n + 1))
  d=$WORK/$n port=$(free_port)
  mkdir -p "$d/data"
  arbor_common_cfg "$d/data" "$port" "$(free_port)" >"$d/zoo.cfg"
  profile=$OUT/$n.callgrind
  ARBOR_LOG=warn setsid valgrind --tool=callgrind --callgrind-out-file="$profile" \
    "$bin" server --config "$d/zoo.cfg" >"$d/server.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$d/pid"
  wait_serving "$port" 120 || { tail -n 5 "$d/server.log" >&2; exit 1; }
  common=(--server "127.0.0.1:$port" --workload "$WORKLOAD" --prefix /instructions --keep
          --sessions 16 --outstanding 32 --value-size 100)
  "$bin" bench "${common[@]}" --setup-only >/dev/null
  callgrind_control --zero "$pid" >/dev/null 2>&1
  "$bin" bench "${common[@]}" --no-populate --duration "$DURATION" --warmup 0s --json \
    >"$d/report.json"
  callgrind_control --dump "$pid" >/dev/null 2>&1
  # The dump is written as <file>.1 once the server has processed the request.
  for _ in $(seq 1 50); do [ -s "$profile.1" ] && break; sleep 0.2; done
  kill "$pid" 2>/dev/null || true
  python3 - "$d/report.json" "$profile.1" "$bin" <<'EOF'
import json, re, sys
report = json.load(open(sys.argv[1]))
ops = report["ops"] + report["warmup_ops"]
total = 0
with open(sys.argv[2]) as f:
    for line in f:
        m = re.match(r"(summary|totals): (\d+)", line)
        if m:
            total = int(m.group(2))
print(f"{sys.argv[3]}: {report['workload']}: {ops} requests, {total} instructions, "
      f"{total // max(ops, 1)} per request")
EOF
done
bench_log "profiles: $OUT"
