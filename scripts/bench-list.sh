#!/usr/bin/env bash
# How fast `zenreg container-registry list` is on a store of 10,000 components.
#
#   bash scripts/bench-list.sh [N]          (N components, default 10000)
#
# Builds the release binary and the `fill_store` example, fills a fresh store through the
# library API (the code path of `register`), then times `list` as a table and as JSON with
# stdout going to a file (not a terminal, as in a script or a pipe). Uses hyperfine when it
# is installed (`apt-get install -y hyperfine`), else 20 runs in a loop; prints the medians.
# Target: at most 50 ms for 10,000 components.
set -euo pipefail
cd "$(dirname "$0")/.."

count="${1:-10000}"
runs=20
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo build --release --quiet -p zenreg-cli --bin zenreg --example fill_store
target="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
zenreg="$target/release/zenreg"
fill="$target/release/examples/fill_store"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
store="$work/zenreg.db"

start=$(date +%s%N)
"$fill" "$store" "$count"
echo "filled in $((($(date +%s%N) - start) / 1000000)) ms; store $(du -k "$store" | cut -f1) KiB" >&2

# Sanity: the listing has every component.
lines=$("$zenreg" --store "$store" container-registry list | wc -l)
[ "$lines" -eq $((count + 1)) ] || {
    echo "error: list printed $lines lines for $count components" >&2
    exit 1
}

table="$(printf '%q ' "$zenreg" --store "$store" container-registry list)"
json="$table--output json"

if command -v hyperfine >/dev/null; then
    hyperfine --warmup 3 --runs "$runs" --export-json "$work/bench.json" --style basic \
        --command-name "list (table)" "$table > $work/out.txt" \
        --command-name "list --output json" "$json > $work/out.json" >&2
    python3 - "$work/bench.json" "$count" <<'PY'
import json, sys
for result in json.load(open(sys.argv[1]))["results"]:
    print(f"{result['command']}: median {result['median'] * 1000:.1f} ms "
          f"(mean {result['mean'] * 1000:.1f} ± {result['stddev'] * 1000:.1f} ms, "
          f"min {result['min'] * 1000:.1f} ms, {len(result['times'])} runs, {sys.argv[2]} components)")
PY
else
    median() { sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.1f", m / 1000000 }'; }
    for name in "list (table)" "list --output json"; do
        command="$table"
        [ "$name" = "list (table)" ] || command="$json"
        bash -c "$command" >"$work/out" # warm-up
        ms=$(for _ in $(seq "$runs"); do
            start=$(date +%s%N)
            bash -c "$command" >"$work/out"
            echo $(($(date +%s%N) - start))
        done | median)
        echo "$name: median $ms ms ($runs runs, $count components; includes starting bash)"
    done
fi
