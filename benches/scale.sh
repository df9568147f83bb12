#!/usr/bin/env bash
# Scale curves, Arbor standalone next to ZooKeeper 3.8 standalone (same settings as
# compare.sh, plus maxClientCnxns=0 on both), each curve on a fresh server:
#
#   znodes    load the tree step by step to --max-znodes 100-byte znodes (steps 1%, 10%, 30%,
#             100% of it: 10k, 100k, 300k, 1M by default); at each step, after --settle: RSS,
#             then getData and setData runs over random keys of the whole tree.
#   sessions  10,000 keys; hold N mostly idle sessions (`arbor bench hold --sessions N`; steps
#             0, 10%, 50%, 100% of --max-sessions: 0, 1k, 5k, 10k); RSS, then a getData run.
#   watches   10,000 keys; hold W data watches set by --watch-sessions sessions on their own
#             nodes (`arbor bench hold --watches W`; steps 0, 10%, 100% of --max-watches: 0,
#             100k, 1M); RSS, then getData and setData runs (which never fire those watches).
#
# Output in --out DIR: znodes.csv, sessions.csv, watches.csv (one row per server and step),
# summary.md (the tables and the memory per znode / session / watch from RSS deltas), and with
# --plot the PNGs (gnuplot, benches/scale.gp) in --plot-dir (default docs/bench).
#
#   benches/scale.sh [--curves znodes,sessions,watches] [--max-znodes 1000000]
#       [--max-sessions 10000] [--max-watches 1000000] [--watch-sessions 100]
#       [--znode-steps N,N..] [--session-steps N,..] [--watch-steps N,..]
#       [--duration 5s] [--warmup 1s] [--settle 35s] [--sessions 16] [--outstanding 32]
#       [--value-size 100] [--skip-arbor] [--skip-zookeeper] [--out DIR] [--plot] [--plot-dir DIR]
#   benches/scale.sh --plot-only --out DIR [--plot-dir DIR]    # plot earlier results again
#
# Smoke test: --max-znodes 20000 --max-sessions 200 --max-watches 20000 --duration 1s
# --warmup 0s --settle 0s. Needs: cargo, python3, ZooKeeper (zk-reference install); for --plot,
# gnuplot (Debian: gnuplot-nox). Raises the open-file limit to the hard limit for both servers
# and the tool (10,000 sessions need that many descriptors on each side).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

CURVES=znodes,sessions,watches
MAX_ZNODES=1000000 MAX_SESSIONS=10000 MAX_WATCHES=1000000 WATCH_SESSIONS=100
ZNODE_STEPS= SESSION_STEPS= WATCH_STEPS=
DURATION=5s WARMUP=1s SETTLE=35s SESSIONS=16 OUTSTANDING=32 VALUE_SIZE=100
BASE_KEYS=10000
RUN_ARBOR=1 RUN_ZK=1 OUT= PLOT=0 PLOT_ONLY=0 PLOT_DIR=
while [ $# -gt 0 ]; do
  case "$1" in
    --curves) CURVES=$2; shift 2 ;;
    --max-znodes) MAX_ZNODES=$2; shift 2 ;;
    --max-sessions) MAX_SESSIONS=$2; shift 2 ;;
    --max-watches) MAX_WATCHES=$2; shift 2 ;;
    --watch-sessions) WATCH_SESSIONS=$2; shift 2 ;;
    --znode-steps) ZNODE_STEPS=$2; shift 2 ;;
    --session-steps) SESSION_STEPS=$2; shift 2 ;;
    --watch-steps) WATCH_STEPS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --settle) SETTLE=$2; shift 2 ;;
    --sessions) SESSIONS=$2; shift 2 ;;
    --outstanding) OUTSTANDING=$2; shift 2 ;;
    --value-size) VALUE_SIZE=$2; shift 2 ;;
    --skip-arbor) RUN_ARBOR=0; shift ;;
    --skip-zookeeper) RUN_ZK=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    --plot) PLOT=1; shift ;;
    --plot-only) PLOT=1; PLOT_ONLY=1; shift ;;
    --plot-dir) PLOT_DIR=$2; shift 2 ;;
    -h|--help) sed -n '2,31p' "$0"; exit 0 ;;
    *) echo "scale.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
PLOT_DIR=${PLOT_DIR:-$ROOT/docs/bench}

# Steps as fractions of the maximum (the defaults give 10k,100k,300k,1M / 0,1k,5k,10k /
# 0,100k,1M); explicit --*-steps win.
steps() { # max fraction...
  local max=$1; shift
  python3 -c 'import sys; m = int(sys.argv[1]); print(",".join(str(v) for v in sorted({round(m * float(f)) for f in sys.argv[2:]})))' "$max" "$@"
}
ZNODE_STEPS=${ZNODE_STEPS:-$(steps "$MAX_ZNODES" 0.01 0.1 0.3 1)}
SESSION_STEPS=${SESSION_STEPS:-$(steps "$MAX_SESSIONS" 0 0.1 0.5 1)}
WATCH_STEPS=${WATCH_STEPS:-$(steps "$MAX_WATCHES" 0 0.1 1)}

plot() {
  command -v gnuplot >/dev/null || { echo "scale.sh: gnuplot not found (apt-get install gnuplot-nox)" >&2; return 1; }
  mkdir -p "$PLOT_DIR"
  local curve
  for curve in znodes sessions watches; do
    # A header alone (a curve never run into this --out DIR) has nothing to plot.
    [ "$(wc -l <"$OUT/$curve.csv" 2>/dev/null || echo 0)" -gt 1 ] || continue
    gnuplot -e "curve='$curve'; csv='$OUT/$curve.csv'; png='$PLOT_DIR/scale-$curve.png'" "$ROOT/benches/scale.gp"
    echo "scale.sh: wrote $PLOT_DIR/scale-$curve.png" >&2
  done
}
if [ "$PLOT_ONLY" = 1 ]; then
  [ -n "$OUT" ] || { echo "scale.sh: --plot-only needs --out DIR" >&2; exit 2; }
  plot; exit
fi

bench_init scale
OUT=${OUT:-$(mktemp -d /tmp/arbor-scale-results.XXXXXX)}
mkdir -p "$OUT"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$(( $(echo "$SESSION_STEPS" | tr , '\n' | sort -n | tail -1) + WATCH_SESSIONS + SESSIONS + 200 ))
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt "$need" ]; then
  bench_log "warning: the open-file limit $(ulimit -n) is below the $need descriptors the sessions curve needs"
fi
build_tools
bench_log "steps: znodes $ZNODE_STEPS; sessions $SESSION_STEPS; watches $WATCH_STEPS"

PREFIX=/scale
RSS_NOW= PID_NOW=

# Starts a fresh server of kind NAME in DIR; sets SERVER (host:port), PORT and PID_NOW. Up to
# three attempts, each on a fresh port (a ZooKeeper start can hang on a four-letter word sent
# before its database is loaded).
start_server() { # name dir
  local name=$1 d=$2 attempt
  for attempt in 1 2 3; do
    PORT=$(free_port)
    SERVER=127.0.0.1:$PORT
    stop_server "$name" "$d"
    rm -rf "$d"; mkdir -p "$d"
    case "$name" in
      arbor) start_arbor "$d" "$PORT" maxClientCnxns=0 ;;
      zookeeper) start_zk "$d" "$PORT" maxClientCnxns=0 ;;
    esac && { PID_NOW=$(pid_of "$d"); return 0; }
    bench_log "$name did not start (attempt $attempt of 3)"
  done
  stop_server "$name" "$d"
  return 1
}

stop_server() { # name dir
  case "$1" in
    arbor) stop_member "$2" ;;
    zookeeper) bash "$ZK_REFERENCE" stop "$2" >/dev/null 2>&1 || true; stop_member "$2" ;;
  esac
}

settle() { [ "$SETTLE" = 0s ] || [ "$SETTLE" = 0 ] || sleep "${SETTLE%s}"; }

# ops/s and p99 of a JSON report, as "ops,p99" (empty fields if the run failed).
ops_p99() {
  python3 - "$1" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
    print(f'{r["ops_per_sec"]:.0f},{r["latency_ms"]["p99"]:.3f},{r["errors"]}')
except (OSError, ValueError, KeyError):
    print(",,")
EOF
}

# A measured run over the --keys N nodes under $PREFIX (which exist); prints "ops,p99,errors".
measure() { # workload keys tag
  local out=$OUT/runs/$3-$1.json
  mkdir -p "$OUT/runs"
  run_bench "$SERVER" "$1" "$out" --keys "$2" --no-populate --keep --prefix "$PREFIX" || true
  ops_p99 "$out"
}

# Loads keys FROM..TO under $PREFIX (--setup-only --keep); prints the seconds it took.
load_keys() { # from to
  local started=$SECONDS
  "${BENCH[@]}" --server "$SERVER" --workload get --keys "$2" --populate-from "$1" --keep --setup-only \
    --prefix "$PREFIX" --sessions "$SESSIONS" --value-size "$VALUE_SIZE" >/dev/null 2>"$OUT/load.err" ||
    { bench_log "loading keys $1..$2 failed: $(tail -n 2 "$OUT/load.err")"; return 1; }
  echo $(( SECONDS - started ))
}

# Starts `arbor bench hold` with the given options in the background (pid in $WORK/hold/pid, so
# the cleanup stops it) and waits for its ready line.
HOLD_PID=
start_hold() { # options...
  mkdir -p "$WORK/hold"
  "${BENCH[@]}" hold --server "$SERVER" --prefix /scale-watched "$@" >"$WORK/hold/ready" 2>"$WORK/hold/err" &
  HOLD_PID=$!
  echo "$HOLD_PID" >"$WORK/hold/pid"
  for _ in $(seq 1 3000); do
    [ -s "$WORK/hold/ready" ] && return 0
    kill -0 "$HOLD_PID" 2>/dev/null || { bench_log "hold failed: $(tail -n 3 "$WORK/hold/err")"; HOLD_PID=; return 1; }
    sleep 0.2
  done
  bench_log "hold was not ready within 600 s"; return 1
}

stop_hold() {
  [ -n "$HOLD_PID" ] || return 0
  kill "$HOLD_PID" 2>/dev/null || true
  wait "$HOLD_PID" 2>/dev/null || bench_log "hold reported: $(tail -n 1 "$WORK/hold/err")"
  HOLD_PID=; rm -f "$WORK/hold/pid"
}

mntr_value() { four_letter "$PORT" mntr | awk -v k="$1" '$1 == k {print $2}'; }
total_watches() { four_letter "$PORT" wchs | sed -n 's/^Total watches:\([0-9]*\).*/\1/p'; }

curve_znodes() { # name dir
  local name=$1 prev=0 n secs rss
  start_server "$name" "$2" || return 1
  for n in ${ZNODE_STEPS//,/ }; do
    bench_log "$name: znodes -> $n"
    secs=$(load_keys "$prev" "$n") || break
    prev=$n
    settle
    rss=$(rss_kib "$PID_NOW")
    echo "$name,$n,$(node_count "$PORT"),$rss,$(hwm_kib "$PID_NOW"),$(measure get "$n" "$name-znodes-$n"),$(measure set "$n" "$name-znodes-$n"),$secs" >>"$OUT/znodes.csv"
  done
  stop_server "$name" "$2"
}

curve_sessions() { # name dir
  local name=$1 n
  start_server "$name" "$2" || return 1
  load_keys 0 "$BASE_KEYS" >/dev/null || return 1
  for n in ${SESSION_STEPS//,/ }; do
    bench_log "$name: idle sessions -> $n"
    if [ "$n" -gt 0 ]; then start_hold --sessions "$n" || break; fi
    settle
    echo "$name,$n,$(mntr_value zk_num_alive_connections),$(rss_kib "$PID_NOW"),$(measure get "$BASE_KEYS" "$name-sessions-$n")" >>"$OUT/sessions.csv"
    stop_hold
  done
  stop_server "$name" "$2"
}

curve_watches() { # name dir
  local name=$1 w
  start_server "$name" "$2" || return 1
  load_keys 0 "$BASE_KEYS" >/dev/null || return 1
  for w in ${WATCH_STEPS//,/ }; do
    bench_log "$name: watches -> $w"
    if [ "$w" -gt 0 ]; then start_hold --watches "$w" --watch-sessions "$WATCH_SESSIONS" || break; fi
    settle
    echo "$name,$w,$(total_watches),$(rss_kib "$PID_NOW"),$(measure get "$BASE_KEYS" "$name-watches-$w"),$(measure set "$BASE_KEYS" "$name-watches-$w")" >>"$OUT/watches.csv"
    stop_hold
  done
  stop_server "$name" "$2"
}

# Only the curves being run start afresh: an --out DIR of an earlier run keeps the others (so
# one curve can be rerun, and its summary and plots sit next to the earlier ones).
header() { # curve
  case "$1" in
    znodes) echo "server,target_znodes,znodes,rss_kib,hwm_kib,get_ops,get_p99_ms,get_errors,set_ops,set_p99_ms,set_errors,load_s" ;;
    sessions) echo "server,idle_sessions,alive_connections,rss_kib,get_ops,get_p99_ms,get_errors" ;;
    watches) echo "server,watches,server_watches,rss_kib,get_ops,get_p99_ms,get_errors,set_ops,set_p99_ms,set_errors" ;;
  esac
}
for curve in znodes sessions watches; do
  case ",$CURVES," in
    *",$curve,"*) header "$curve" >"$OUT/$curve.csv" ;;
    *) [ -s "$OUT/$curve.csv" ] || header "$curve" >"$OUT/$curve.csv" ;;
  esac
done

STATUS=0
SERVERS=()
[ "$RUN_ZK" = 1 ] && { zk_available && SERVERS+=(zookeeper) || STATUS=1; }
[ "$RUN_ARBOR" = 1 ] && SERVERS+=(arbor)
for curve in ${CURVES//,/ }; do
  for name in "${SERVERS[@]}"; do
    "curve_$curve" "$name" "$WORK/$name-$curve" || STATUS=1
  done
done

{
  echo "Machine: $(nproc) CPUs, $(uname -sr); $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "Settings: standalone, tickTime 2000, forceSync on, maxClientCnxns=0; $SESSIONS sessions x $OUTSTANDING outstanding, ${VALUE_SIZE}-byte values, warm-up $WARMUP, $DURATION per run, settle $SETTLE before RSS"
  echo
  python3 - "$OUT" "$WATCH_SESSIONS" <<'EOF'
import csv, math, os, sys
out, watch_sessions = sys.argv[1], int(sys.argv[2])
label = {"zookeeper": "ZooKeeper 3.8", "arbor": "Arbor"}

def rows(name):
    try:
        with open(os.path.join(out, f"{name}.csv")) as f:
            return list(csv.DictReader(f))
    except OSError:
        return []

def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None

def fmt(v, spec=",.0f"):
    return "n/a" if v is None else format(v, spec)

def slope(rs, x, y="rss_kib"):
    pts = [(num(r[x]), num(r[y])) for r in rs if num(r[x]) is not None and num(r[y]) is not None]
    if len(pts) < 2 or pts[-1][0] == pts[0][0]:
        return None
    return (pts[-1][1] - pts[0][1]) * 1024 / (pts[-1][0] - pts[0][0])

per_znode = {}
z = rows("znodes")
if z:
    print("### Tree size (getData / setData over random keys of the whole tree)\n")
    print("| server | znodes | RSS | getData ops/s | getData p99 ms | setData ops/s | setData p99 ms | load s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in z:
        print(f'| {label[r["server"]]} | {fmt(num(r["znodes"]))} | {fmt(num(r["rss_kib"]) and num(r["rss_kib"]) / 1024, ",.1f")} MiB | {fmt(num(r["get_ops"]))} | {fmt(num(r["get_p99_ms"]), ".2f")} | {fmt(num(r["set_ops"]))} | {fmt(num(r["set_p99_ms"]), ".2f")} | {r["load_s"]} |')
    print()
s = rows("sessions")
if s:
    print("### Idle sessions (getData with N idle sessions held open)\n")
    print("| server | idle sessions | connections (mntr) | RSS | getData ops/s | getData p99 ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in s:
        print(f'| {label[r["server"]]} | {fmt(num(r["idle_sessions"]))} | {r["alive_connections"] or "n/a"} | {fmt(num(r["rss_kib"]) and num(r["rss_kib"]) / 1024, ",.1f")} MiB | {fmt(num(r["get_ops"]))} | {fmt(num(r["get_p99_ms"]), ".2f")} |')
    print()
w = rows("watches")
if w:
    print(f"### Watches (data watches held by {watch_sessions} sessions on their own nodes)\n")
    print("| server | watches | on the server (wchs) | RSS | getData ops/s | getData p99 ms | setData ops/s | setData p99 ms |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in w:
        print(f'| {label[r["server"]]} | {fmt(num(r["watches"]))} | {r["server_watches"] or "n/a"} | {fmt(num(r["rss_kib"]) and num(r["rss_kib"]) / 1024, ",.1f")} MiB | {fmt(num(r["get_ops"]))} | {fmt(num(r["get_p99_ms"]), ".2f")} | {fmt(num(r["set_ops"]))} | {fmt(num(r["set_p99_ms"]), ".2f")} |')
    print()

print("### Memory per item (RSS difference between the first and the last step / items added)\n")
print("| server | bytes per znode | bytes per idle session | bytes per watch |")
print("|---|---:|---:|---:|")
for name in ("zookeeper", "arbor"):
    zr = [r for r in z if r["server"] == name]
    sr = [r for r in s if r["server"] == name]
    wr = [r for r in w if r["server"] == name]
    if not (zr or sr or wr):
        continue
    bz = slope(zr, "znodes")
    bs = slope(sr, "idle_sessions")
    bw = None
    if len(wr) >= 2 and num(wr[-1]["rss_kib"]) is not None and num(wr[0]["rss_kib"]) is not None:
        watches = num(wr[-1]["watches"]) - num(wr[0]["watches"])
        delta = (num(wr[-1]["rss_kib"]) - num(wr[0]["rss_kib"])) * 1024
        # The watched nodes (ceil(W / watch sessions), empty) and the watching sessions are
        # not watches: take them off with the per-znode and per-session figures when known.
        nodes = math.ceil(num(wr[-1]["watches"]) / watch_sessions) - math.ceil(num(wr[0]["watches"]) / watch_sessions)
        delta -= nodes * (bz or 0) + watch_sessions * (bs or 0)
        bw = delta / watches if watches else None
    print(f"| {label[name]} | {fmt(bz)} | {fmt(bs)} | {fmt(bw)} |")
EOF
} | tee "$OUT/summary.md"

[ "$PLOT" = 1 ] && { plot || STATUS=1; }
bench_log "results: $OUT"
exit $STATUS
