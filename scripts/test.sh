#!/usr/bin/env bash
# The project's test command: everything CI checks, on a fresh machine, in one go.
#
#   bash scripts/test.sh
#
# It formats-checks, lints, documents and tests the workspace in the default build, then builds
# the `aws` feature (the AWS SDK, compiled once) and runs the tests that depend on it. Services
# that end-to-end tests need are started by scripts/services.sh and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export ZENREG_E2E=1
# One codegen unit per crate would be faster to run but slower to build; CI builds once.
export CARGO_INCREMENTAL=0

step() { printf '\n==> %s\n' "$*" >&2; }

step "services: Docker Engine, registries, moto (loopback only)"
eval "$(scripts/services.sh start)"
trap 'scripts/services.sh stop >/dev/null 2>&1 || true' EXIT

step "shellcheck (the scripts stay bash: see scripts/services.sh's header)"
if ! command -v shellcheck >/dev/null; then
    # The service start above refreshed the package lists if they named no candidate.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >&2 ||
        { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends shellcheck >&2; }
fi
shellcheck -x scripts/*.sh scripts/bench/*.sh

step "rustfmt"
cargo fmt --all -- --check

step "clippy (all targets, all features)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "rustdoc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked

# Service tests are `#[ignore = "needs …"]` so that a plain `cargo test` reports them as ignored;
# here the services run, so every test runs (and a missing service fails its tests).
step "tests: default build (AWS implementation not linked)"
cargo test --locked -- --include-ignored

step "tests: --features aws (AWS implementation linked)"
cargo test --locked -p zenreg-cli -p zenreg-aws --features zenreg-cli/aws -- --include-ignored

# ---- fuzz smoke (issue 10) -----------------------------------------------------------------------
# Each cargo-fuzz target of fuzz/ runs for a few seconds (FUZZ_SECONDS) from its committed seeds,
# when a nightly toolchain is installed; cargo-fuzz is installed if missing, within a time limit.
# The fuzz crate is not a workspace member: stable builds never see it. The property tests ran
# above with every other test. The long campaign's figures are in RELIABILITY.md.
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  step "fuzz smoke: every target for ${FUZZ_SECONDS:-5} s (nightly, cargo-fuzz)"
  if ! cargo fuzz --version >/dev/null 2>&1; then
    timeout 900 cargo install cargo-fuzz --locked
  fi
  (
    cd fuzz
    for target in $(cargo +nightly fuzz list); do
      mkdir -p "corpus/$target"
      dict=()
      if [ -f "dicts/$target.dict" ]; then dict=("-dict=dicts/$target.dict"); fi
      cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="${FUZZ_SECONDS:-5}" -rss_limit_mb=2048 "${dict[@]}"
    done
  )
else
  step "fuzz smoke: skipped (no nightly toolchain)"
fi
