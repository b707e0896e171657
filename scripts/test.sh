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
