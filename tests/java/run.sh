#!/usr/bin/env bash
# Compiles the Java interop programs (ZooKeeper 3.8 client + Curator 5 from Debian, plain javac)
# and runs each against a running server:
#   tests/java/run.sh CONNECT_STRING [PROGRAM...]
# Prints one OK/FAIL line per program (the program's full output when it failed, or always with
# VERBOSE=1) and exits non-zero if any failed. Environment: JAVA_CLASSPATH_TOOL (default
# ../shared/tools/java-classpath next to the checkout).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
classpath_tool=${JAVA_CLASSPATH_TOOL:-$repo_root/../shared/tools/java-classpath}

if [ $# -lt 1 ]; then
  sed -n '2,7p' "$0" >&2
  exit 2
fi
connect=$1
shift
programs=("$@")
[ ${#programs[@]} -gt 0 ] || programs=(SeedWatchOne SeedWatchMore SeedWatchChild CoreOps CuratorRecipes)

deps=$("$classpath_tool") || { echo "FAIL: $classpath_tool did not print a classpath" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/arbor-java-tests.XXXXXX")
trap 'rm -rf "$work"' EXIT

# -path: the Debian zookeeper.jar's manifest names a jline.jar that need not be installed.
if ! javac -Xlint:all,-path -d "$work/classes" -cp "$deps" "$here"/src/*.java; then
  echo "FAIL: javac"
  exit 1
fi

failed=()
for program in "${programs[@]}"; do
  log="$work/$program.log"
  started=$SECONDS
  # Each program has its own watchdog; this outer limit only guards against a wedged JVM.
  timeout 150 java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$deps:$work/classes" "$program" "$connect" >"$log" 2>&1
  status=$?
  elapsed=$((SECONDS - started))
  if [ $status -eq 0 ] && grep -qx "OK $program" "$log"; then
    [ "${VERBOSE:-0}" = 1 ] && cat "$log"
    echo "OK $program (${elapsed}s)"
  else
    cat "$log"
    grep -q "^FAIL $program" "$log" || echo "FAIL $program: exit status $status (${elapsed}s)"
    failed+=("$program")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "java: ${#failed[@]} of ${#programs[@]} failed: ${failed[*]}"
  exit 1
fi
echo "java: all ${#programs[@]} passed"
