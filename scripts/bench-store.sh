#!/usr/bin/env bash
# The stores side by side (issue 12): the embedded SQLite file and PostgreSQL over loopback.
#
#   eval "$(scripts/services.sh env)"     # ZENREG_PG_URL, ZENREG_PG_PASSWORD (a running server)
#   bash scripts/bench-store.sh [N]       (N components, default 10000)
#
# Builds the release binary and the `fill_store` example, fills a fresh store of each kind with N
# components through the library API, then measures whole `zenreg` processes:
# - `container-registry list` (table, stdout to a file) and `describe` of a middle component;
# - `register` latency: 30 registrations one after another, each timed;
# - write throughput: 8 processes registering 50 components each at once, registrations per
#   second of wall time.
# Uses `hyperfine -N` (no shell between it and zenreg; output to a file) for list/describe when
# installed, else 30 timed `bash -c` runs; prints medians [min–max].
# Targets (PostgreSQL): list ≤ 60 ms, describe ≤ 10 ms. With hyperfine, psql making the same
# queries over the same connection settings is measured beside them, for reference.
set -euo pipefail
cd "$(dirname "$0")/.."

count="${1:-10000}"
runs=30
: "${ZENREG_PG_URL:?run eval \"\$(scripts/services.sh env)\" first}"
: "${ZENREG_PG_PASSWORD:?run eval \"\$(scripts/services.sh env)\" first}"
export PGPASSWORD="$ZENREG_PG_PASSWORD" CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

cargo build --release --quiet -p zenreg-cli --bin zenreg --example fill_store
target="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
zenreg="$target/release/zenreg"
fill="$target/release/examples/fill_store"

work="$(mktemp -d)"
database="zenreg_bench_$$"
cleanup() {
    psql "$ZENREG_PG_URL" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
psql "$ZENREG_PG_URL" -qc "CREATE DATABASE $database"
base="${ZENREG_PG_URL%%\?*}"
query="${ZENREG_PG_URL#"$base"}"
pg_store="${base%/*}/$database$query"
sqlite_store="$work/zenreg.db"
# A key for the server store's secrets (none are written here; the key is loaded all the same).
head -c 32 /dev/urandom | base64 >"$work/team.key"
chmod 600 "$work/team.key"
export ZENREG_SECRETS_KEY_FILE="$work/team.key"
unset ZENREG_STORE ZENREG_SECRETS_KEY

# Milliseconds of `bash -c COMMAND` (stdout to a file), one line per run.
times() {
    local command="$1" n="$2"
    for _ in $(seq "$n"); do
        local start
        start=$(date +%s%N)
        bash -c "$command" >"$work/out"
        echo $(($(date +%s%N) - start))
    done
}
summary() {
    sort -n | awk '{ v[NR] = $1 / 1000000 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.1f ms [%.1f–%.1f], n = %d", m, v[1], v[NR], NR }'
}

middle=$(printf 'registry-%05d' $((count / 2)))
for kind in sqlite postgresql; do
    store="$sqlite_store"
    [ "$kind" = sqlite ] || store="$pg_store"
    start=$(date +%s%N)
    "$fill" "$store" "$count" 2>/dev/null
    echo "$kind: filled $count components in $((($(date +%s%N) - start) / 1000000)) ms" >&2
    lines=$("$zenreg" --store "$store" container-registry list | wc -l)
    [ "$lines" -eq $((count + 1)) ] || { echo "error: list printed $lines lines" >&2; exit 1; }

    list="$(printf '%q ' "$zenreg" --store "$store" container-registry list)"
    describe="$(printf '%q ' "$zenreg" --store "$store" container-registry describe "$middle")"
    if command -v hyperfine >/dev/null; then
        # -N: hyperfine starts zenreg itself, so no shell's start-up is measured or subtracted.
        commands=(--command-name "$kind list" "$list" --command-name "$kind describe" "$describe")
        if [ "$kind" = postgresql ]; then
            # The reference beside it: psql making the same queries, printing its own table.
            columns="name, id, flavor, config->>'uri', labels::text, updated FROM zenreg_components"
            where="WHERE component_type = 'container_registry'"
            commands+=(--command-name "psql list" "$(printf '%q ' psql -X -q "$pg_store" \
                -c "SELECT $columns $where ORDER BY name")")
            commands+=(--command-name "psql describe" "$(printf '%q ' psql -X -q "$pg_store" \
                -c "SELECT $columns $where AND name = '$middle'")")
        fi
        hyperfine -N --warmup 3 --runs "$runs" --style basic --output "$work/out" --export-json "$work/h.json" \
            "${commands[@]}" >&2
        python3 - "$work/h.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    t = sorted(r["times"])
    print(f"{r['command']}: {r['median'] * 1000:.1f} ms [{t[0] * 1000:.1f}–{t[-1] * 1000:.1f}], n = {len(t)}")
PY
    else
        bash -c "$list" >/dev/null
        echo "$kind list ($count components): $(times "$list" "$runs" | summary)"
        echo "$kind describe: $(times "$describe" "$runs" | summary)"
    fi

    register() {
        for i in $(seq 30); do
            local start
            start=$(date +%s%N)
            "$zenreg" --store "$store" container-registry register "lat-$i" --flavor default \
                --uri=localhost:5000 2>/dev/null
            echo $(($(date +%s%N) - start))
        done
    }
    echo "$kind register (one process, store of $count): $(register | summary)"

    start=$(date +%s%N)
    for p in $(seq 8); do
        (
            for i in $(seq 50); do
                "$zenreg" --store "$store" container-registry register "w$p-$i" --flavor default \
                    --uri=localhost:5000 2>/dev/null || exit 1
            done
        ) &
    done
    wait
    ns=$(($(date +%s%N) - start))
    total=$("$zenreg" --store "$store" container-registry list --output json | grep -c '"name": "w[0-9]-')
    [ "$total" -eq 400 ] || { echo "error: $total of 400 concurrent registrations stored" >&2; exit 1; }
    awk -v ns="$ns" -v kind="$kind" 'BEGIN { printf "%s 8 processes x 50 registrations: %.0f registrations/s (%.2f s)\n", kind, 400 / (ns / 1e9), ns / 1e9 }'
done
