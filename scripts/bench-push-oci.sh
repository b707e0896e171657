#!/usr/bin/env bash
# Push benchmark of the OCI engine (issue 11): `docker push`, `skopeo copy docker-daemon:`,
# zenreg `--engine docker`, zenreg `--engine oci` (gzip, zstd), cold (registry storage wiped
# before every push) and warm (every blob present), alternating tools each round; then
# `--from oci:` against `skopeo copy oci:` and the upload floor (curl PUT of the same blobs).
# Figures: wall ms per push, medians of per-round ratios against `docker push`, peak RSS.
#
# Usage: scripts/bench-push-oci.sh [--rounds N] [--warm-rounds N] [--image-mb MB] [--big-mb MB]
#                                  [--only-layout | --only-warm | --only-big]
#   --only-layout: build the multi-layer image and measure only `--from oci:` against
#   `skopeo copy oci:` and the upload floor.
#   --only-warm: build the multi-layer image and measure only the warm pushes.
#   --only-big: build the single-layer image and measure only its cold pushes.
# Needs: the Docker Engine (scripts/services.sh start docker), docker-registry, skopeo,
# GNU time, a release build of zenreg (built here, or ZENREG_BIN). A registry of its own on a free loopback
# port; the shared services are never stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=3 WARM_ROUNDS=5 IMAGE_MB=400 BIG_MB=1024 ONLY_LAYOUT=0 ONLY_WARM=0 ONLY_BIG=0
while (($#)); do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --warm-rounds) WARM_ROUNDS=$2; shift 2 ;;
        --image-mb) IMAGE_MB=$2; shift 2 ;;
        --big-mb) BIG_MB=$2; shift 2 ;;
        --only-layout) ONLY_LAYOUT=1; shift ;;
        --only-warm) ONLY_WARM=1; shift ;;
        --only-big) ONLY_BIG=1; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
log() { printf '[bench-oci] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
# ZENREG_BIN: a release binary built before (no build here).
if [[ -n ${ZENREG_BIN:-} ]]; then
    Z=$ZENREG_BIN
else
    cargo build --release -q -p zenreg-cli
    Z=$CARGO_TARGET_DIR/release/zenreg
fi
WORK=$(mktemp -d /tmp/zenreg-bench-oci.XXXXXX)
REG_PID=
cleanup() { [[ -n $REG_PID ]] && kill "$REG_PID" 2>/dev/null; wait 2>/dev/null; rm -rf -- "$WORK"; }
trap cleanup EXIT
# A stop by signal exits through the EXIT trap too (the registry and WORK must not be left).
trap 'exit 143' TERM
trap 'exit 130' INT
eval "$(scripts/services.sh env docker)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
# shellcheck source=scripts/bench/images.sh
source scripts/bench/images.sh
bench_registry_config "$WORK" "$REG"
reset_registry() {
    bench_stop "$REG_PID"
    rm -rf -- "$WORK/data"
    bench_serve "$WORK" "$REG"
    REG_PID=$BENCH_PID
}

push_cmd() { # tool image
    case $1 in
        docker) docker push -q "$2" ;;
        skopeo) skopeo copy -q --dest-tls-verify=false "docker-daemon:$2" "docker://$2" ;;
        zdocker) "$Z" --store "$WORK/z.db" container-registry push "$2" --registry bench --engine docker ;;
        zgzip) "$Z" --store "$WORK/z.db" container-registry push "$2" --registry bench --engine oci ;;
        zzstd) "$Z" --store "$WORK/z.db" container-registry push "$2" --registry bench --engine oci --compression zstd ;;
    esac
}
# Prints "ms rss_kb" of one push.
timed() {
    local start=$EPOCHREALTIME
    /usr/bin/time -f %M -o "$WORK/rss" bash -c "$(declare -f push_cmd); Z=$Z WORK=$WORK; push_cmd $1 $2" >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err" >&2; die "$1 push failed"; }
    awk -v s="$start" -v e="$EPOCHREALTIME" -v r="$(tail -n1 "$WORK/rss")" 'BEGIN { printf "%.0f %d\n", (e - s) * 1000, r }'
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

RESULTS=$WORK/results.txt
: >"$RESULTS"
reset_registry
"$Z" --store "$WORK/z.db" container-registry register bench --flavor default --uri="$REG" >/dev/null 2>&1
log "load: $(uptime | sed 's/.*load average/load average/')"
specs=("multi:$IMAGE_MB:7" "big:$BIG_MB:1")
((ONLY_LAYOUT || ONLY_WARM)) && specs=("multi:$IMAGE_MB:7")
cases=(cold warm)
((ONLY_WARM)) && cases=(warm)
((ONLY_BIG)) && specs=("big:$BIG_MB:1") && cases=(cold)
for spec in "${specs[@]}"; do
    IFS=: read -r name mb layers <<<"$spec"
    log "building $name ($mb MB, $layers layers)"
    bench_make_image "$REG/bench/$name:1" "$WORK" "$mb" "$layers"
    image=$REG/bench/$name:1
    log "$name: $(docker image inspect -f '{{.Size}} bytes, {{len .RootFS.Layers}} layers' "$image")"
    tools=(docker skopeo zdocker zgzip zzstd)
    ((ONLY_LAYOUT)) && continue
    for case in "${cases[@]}"; do
        rounds=$ROUNDS; [[ $case == warm ]] && rounds=$WARM_ROUNDS
        for ((r = 0; r < rounds; r++)); do
            # Rotate the order each round.
            order=("${tools[@]:r%5}" "${tools[@]:0:r%5}")
            for tool in "${order[@]}"; do
                if [[ $case == cold ]]; then
                    reset_registry
                    rm -f "$WORK/blob-cache.json"
                else
                    push_cmd "$tool" "$image" >/dev/null 2>&1 # blobs of this tool's compression present
                fi
                read -r ms rss < <(timed "$tool" "$image")
                stored=$(du -sm "$WORK/data" | cut -f1)
                echo "$name $case $r $tool $ms $rss $stored" >>"$RESULTS"
                log "  $name $case round $((r + 1)) $tool: $ms ms, $((rss / 1024)) MiB, registry $stored MB"
            done
        done
    done
done

# --from oci: against skopeo copy oci: and the upload floor.
((ONLY_WARM || ONLY_BIG)) && ROUNDS=0
((ONLY_WARM || ONLY_BIG)) || log "layout of multi (skopeo copy docker-daemon: → oci:)"
((ONLY_WARM || ONLY_BIG)) || skopeo copy -q "docker-daemon:$REG/bench/multi:1" "oci:$WORK/layout:v1"
((ONLY_WARM || ONLY_BIG)) || log "layout: $(du -sm "$WORK/layout/blobs" | cut -f1) MB in $(find "$WORK/layout/blobs/sha256" -type f | wc -l) blobs"
for ((r = 0; r < ROUNDS; r++)); do
    reset_registry
    start=$EPOCHREALTIME
    "$Z" --store "$WORK/z.db" container-registry push "$REG/bench/layout:1" --registry bench --from "oci:$WORK/layout:v1" >/dev/null 2>&1 || die "from oci failed"
    z=$(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (e - s) * 1000 }')
    reset_registry
    start=$EPOCHREALTIME
    skopeo copy -q --dest-tls-verify=false "oci:$WORK/layout:v1" "docker://$REG/bench/layout:1" || die "skopeo oci failed"
    s=$(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (e - s) * 1000 }')
    reset_registry
    start=$EPOCHREALTIME
    # Wait for these curls only: a bare `wait` would also wait for the registry, which runs
    # in the background of this shell too, and never return.
    floor_pids=()
    for blob in "$WORK"/layout/blobs/sha256/*; do
        loc=$(curl -s -D - -o /dev/null -X POST "http://$REG/v2/bench/floor/blobs/uploads/" | awk 'tolower($1) == "location:" { print $2 }' | tr -d '\r')
        [[ $loc == http* ]] || loc=http://$REG$loc
        curl -s -f -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' --data-binary "@$blob" "$loc&digest=sha256:$(basename "$blob")" &
        floor_pids+=($!)
    done
    for pid in "${floor_pids[@]}"; do wait "$pid" || die "a curl PUT of the floor failed"; done
    f=$(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (e - s) * 1000 }')
    {
        echo "layout cold $r from-oci $z 0 0"
        echo "layout cold $r skopeo-oci $s 0 0"
        echo "layout cold $r floor $f 0 0"
    } >>"$RESULTS"
    log "  from oci: zenreg $z ms, skopeo $s ms, curl floor $f ms"
done

log "summary (median ms; median of per-round ratios against docker push)"
python3 - "$RESULTS" <<'PY'
import sys, statistics as st, collections
rows = [l.split() for l in open(sys.argv[1])]
by = collections.defaultdict(dict)
for name, case, r, tool, ms, rss, stored in rows:
    by[(name, case, r)][tool] = (int(ms), int(rss), int(stored))
for name in ["multi", "big"]:
    for case in ["cold", "warm"]:
        keys = [k for k in by if k[0] == name and k[1] == case]
        if not keys: continue
        print(f"\n{name} {case} (rounds {len(keys)})")
        print("| tool | ms median [min–max] | ratio to docker push, median [min–max] | peak RSS MiB | registry MB |")
        print("|---|---:|---:|---:|---:|")
        for tool in ["docker", "skopeo", "zdocker", "zgzip", "zzstd"]:
            ms = [by[k][tool][0] for k in keys]; rs = [by[k][tool][0] / by[k]["docker"][0] for k in keys]
            rss = st.median(by[k][tool][1] for k in keys) / 1024; mb = st.median(by[k][tool][2] for k in keys)
            print(f"| {tool} | {st.median(ms):.0f} [{min(ms)}–{max(ms)}] | {st.median(rs):.3f} [{min(rs):.3f}–{max(rs):.3f}] | {rss:.0f} | {mb:.0f} |")
keys = [k for k in by if k[0] == "layout"]
if keys:
    print(f"\nfrom oci: (rounds {len(keys)})")
    print("| tool | ms median [min–max] | ratio to the curl floor, median |")
    print("|---|---:|---:|")
    for tool in ["from-oci", "skopeo-oci", "floor"]:
        ms = [by[k][tool][0] for k in keys]; rs = [by[k][tool][0] / by[k]["floor"][0] for k in keys]
        print(f"| {tool} | {st.median(ms):.0f} [{min(ms)}–{max(ms)}] | {st.median(rs):.3f} |")
PY
cp "$RESULTS" /tmp/zenreg-bench-oci-results.txt
log "load: $(uptime | sed 's/.*load average/load average/')"
