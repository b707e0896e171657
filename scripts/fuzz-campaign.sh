#!/usr/bin/env bash
# The long fuzz campaign of issue 10 (the test command runs only a 5-second smoke per target):
# every cargo-fuzz target of fuzz/ for SECONDS (default 600) one after another, from the seeds
# and whatever corpus fuzz/corpus/ holds, niced, with a summary line per target in
# fuzz/campaign-summary.txt and each target's libFuzzer log in fuzz/campaign-TARGET.log.
#
# Usage: bash scripts/fuzz-campaign.sh [SECONDS]        (needs the nightly toolchain and cargo-fuzz)
set -uo pipefail
cd "$(dirname "$0")/../fuzz" || exit 1
seconds=${1:-600}
cargo +nightly fuzz build || exit 1
for target in $(cargo +nightly fuzz list); do
    mkdir -p "corpus/$target"
    dict=()
    [ -f "dicts/$target.dict" ] && dict=("-dict=dicts/$target.dict")
    before=$(find "corpus/$target" -type f | wc -l)
    start=$(date +%s)
    nice -n 19 cargo +nightly fuzz run "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 "${dict[@]}" >"campaign-$target.log" 2>&1
    status=$?
    runs=$(awk '/^stat::number_of_executed_units/ { print $2 }' "campaign-$target.log")
    echo "$target exit=$status seconds=$(($(date +%s) - start)) executions=${runs:-?} corpus=$before->$(find "corpus/$target" -type f | wc -l)" \
        | tee -a campaign-summary.txt
done
