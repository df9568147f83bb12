#!/usr/bin/env bash
# Drives Apache ZooKeeper's own zkCli.sh (via zk-reference cli) against a running server and
# checks its output:
#   tests/java/zkcli.sh CONNECT_STRING
# Prints one OK/FAIL line per check and exits non-zero if any failed. Environment: ZK_REFERENCE
# (default ../shared/tools/zk-reference next to the checkout).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
zk_reference=${ZK_REFERENCE:-$repo_root/../shared/tools/zk-reference}

if [ $# -ne 1 ]; then
  sed -n '2,6p' "$0" >&2
  exit 2
fi
connect=$1
base="/zkcli-$$-$RANDOM"
passed=0
failed=0
output=""
status=0
# Each check starts a client JVM; skipping the optimising compiler roughly halves its startup.
export JAVA_TOOL_OPTIONS="${JAVA_TOOL_OPTIONS:-} -XX:TieredStopAtLevel=1 -XX:+UseSerialGC"

# Runs one zkCli.sh command (or, with no arguments, the commands on stdin in one session).
cli() {
  output=$("$zk_reference" cli "$connect" "$@" 2>&1)
  status=$?
}

pass() {
  echo "OK   $1"
  passed=$((passed + 1))
}

fail() {
  echo "FAIL $1: $2"
  printf '%s\n' "$output" | sed 's/^/       | /'
  failed=$((failed + 1))
}

# check NAME WANT_STATUS(ok|error) [REGEX...] -- COMMAND...
# The command must succeed (exit 0) or fail (exit non-zero) as stated, and its output must have a
# line matching every extended REGEX (each anchored to a whole line).
check() {
  local name=$1 want=$2
  shift 2
  local patterns=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    patterns+=("$1")
    shift
  done
  shift
  cli "$@"
  if [ "$want" = ok ] && [ $status -ne 0 ]; then
    fail "$name" "zkCli.sh $* exited with $status, expected success"
    return
  fi
  if [ "$want" = error ] && [ $status -eq 0 ]; then
    fail "$name" "zkCli.sh $* succeeded, expected an error exit"
    return
  fi
  local pattern
  for pattern in "${patterns[@]}"; do
    if ! grep -Eqx -- "$pattern" <<<"$output"; then
      fail "$name" "no line matching /$pattern/ in the output of zkCli.sh $*"
      return
    fi
  done
  pass "$name"
}

# refute NAME REGEX -- COMMAND...: the command succeeds and NO output line matches REGEX.
refute() {
  local name=$1 pattern=$2
  shift 3
  cli "$@"
  if [ $status -ne 0 ]; then
    fail "$name" "zkCli.sh $* exited with $status, expected success"
  elif grep -Eqx -- "$pattern" <<<"$output"; then
    fail "$name" "unexpected line matching /$pattern/ in the output of zkCli.sh $*"
  else
    pass "$name"
  fi
}

b=$base
check "create" ok "Created $b" -- create "$b" hello
check "create an existing node" error "Node already exists: $b" -- create "$b" again
check "get -s" ok "hello" "dataVersion = 0" "dataLength = 5" "numChildren = 0" "ephemeralOwner = 0x0" \
  "cZxid = 0x[0-9a-f]+" "ctime = .+" -- get -s "$b"
check "set" ok -- set "$b" world
check "get -s after set" ok "world" "dataVersion = 1" "dataLength = 5" -- get -s "$b"
check "set -v with a stale version" error "version No is not valid : $b" -- set -v 7 "$b" nope
check "create child a" ok "Created $b/a" -- create "$b/a" 1
check "create child b" ok "Created $b/b" -- create "$b/b" 2
check "create -s" ok "Created $b/seq-0000000002" -- create -s "$b/seq-" x
# zkCli.sh exits without closing its session, so the ephemeral outlives the command (until the
# session times out); it shows up with a non-zero owner.
check "create -e" ok "Created $b/eph" -- create -e "$b/eph" x
check "create -e -s" ok "Created $b/es-0000000004" -- create -e -s "$b/es-" y
check "ls" ok "\[a, b, eph, es-0000000004, seq-0000000002\]" -- ls "$b"
# dataVersion 1: the set with a stale version above changed nothing.
check "stat" ok "numChildren = 5" "cversion = 5" "dataVersion = 1" "dataLength = 5" \
  "pZxid = 0x[0-9a-f]+" -- stat "$b"
check "stat of the ephemeral" ok "ephemeralOwner = 0x0*[1-9a-f][0-9a-f]*" "dataLength = 1" -- stat "$b/eph"

# One interactive session: its ephemeral is visible inside it and gone once it quits.
cli <<EOF
create -e $b/session-eph z
ls $b
quit
EOF
if [ $status -eq 0 ] && grep -qx "Created $b/session-eph" <<<"$output" \
   && grep -Eqx '\[.*session-eph.*\]' <<<"$output"; then
  pass "ephemeral within one session"
else
  fail "ephemeral within one session" "expected Created and an ls listing session-eph (exit $status)"
fi
check "ephemeral gone after quit" error "Node does not exist: $b/session-eph" -- stat "$b/session-eph"

check "delete a node with children" error "Node not empty: $b" -- delete "$b"
check "delete -v with a stale version" error "version No is not valid : $b/a" -- delete -v 9 "$b/a"
check "delete -v with the right version" ok -- delete -v 0 "$b/a"
refute "ls after delete" '\[a, .*' -- ls "$b"
check "get of a missing node" error "Node does not exist: $b/missing" -- get "$b/missing"
check "deleteall" ok -- deleteall "$b"
check "stat after deleteall" error "Node does not exist: $b" -- stat "$b"

echo "zkcli: $passed passed, $failed failed"
[ $failed -eq 0 ]
