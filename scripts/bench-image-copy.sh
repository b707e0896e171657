#!/usr/bin/env bash
# Image copy benchmark (issue 20): `zenreg image copy` against `skopeo copy docker:// docker://`
# and the transfer floor (every blob streamed `curl GET | curl PUT`, all at once, then the
# manifest), between two registries of its own on loopback, alternating tools each round.
# Scenarios per image:
#   cold:   the destination registry wiped before every copy;
#   shaped: cold, the destination's port shaped with tc htb to --link (default 100mbit; root);
#   same:   within the source registry, into a new repository each time (mounts);
#   warm:   the destination already holds everything;
#   tag:    `zenreg image tag` (the source registry's access log must show no blob request).
#
# Usage: scripts/bench-image-copy.sh [--rounds N] [--images "multi five big"] [--link RATE|none]
#                                    [--scenarios "cold shaped same warm tag"]
#   multi: the 7-layer image of bench-push-oci.sh (--multi-mb, default 400);
#   five:  the 5-layer image of real files of bench-push-link.sh (about 560 MB);
#   big:   one layer of --big-mb (default 1024) MB.
# Needs the Docker Engine (scripts/services.sh start docker) to build the images once,
# docker-registry, skopeo, curl, python3, tc and root for `shaped` (skipped with a message
# otherwise), and a release build of zenreg (built here, or ZENREG_BIN). Results: a table on
# stdout, raw rows in /tmp/zenreg-bench-image-results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=5 IMAGES="multi five big" LINK=100mbit MULTI_MB=400 BIG_MB=1024 SCENARIOS="cold shaped same warm tag"
while (($#)); do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --images) IMAGES=$2; shift 2 ;;
        --link) LINK=$2; shift 2 ;;
        --scenarios) SCENARIOS=$2; shift 2 ;;
        --multi-mb) MULTI_MB=$2; shift 2 ;;
        --big-mb) BIG_MB=$2; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
log() { printf '[bench-image] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=scripts/bench/images.sh
source scripts/bench/images.sh

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
if [[ -n ${ZENREG_BIN:-} ]]; then
    Z=$ZENREG_BIN
else
    cargo build --release -q -p zenreg-cli
    Z=$CARGO_TARGET_DIR/release/zenreg
fi
if [[ " $SCENARIOS " == *" shaped "* && $LINK != none ]]; then
    if ! command -v tc >/dev/null || ((EUID != 0)); then
        log "tc or root missing: the shaped scenario is skipped"
        SCENARIOS=${SCENARIOS//shaped/}
    else
        bench_tc_lock
    fi
fi
WORK=$(mktemp -d /tmp/zenreg-bench-image.XXXXXX)
SRC_PID='' DST_PID='' BENCH_SHAPED=0
cleanup() {
    if ((BENCH_SHAPED)); then tc qdisc del dev lo root 2>/dev/null || true; fi
    for pid in $SRC_PID $DST_PID; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
eval "$(scripts/services.sh env docker)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SRC_PORT=$(free_port) DST_PORT=$(free_port)
SRC=127.0.0.1:$SRC_PORT DST=127.0.0.1:$DST_PORT
mkdir -p "$WORK/src" "$WORK/dst"
bench_registry_config "$WORK/src" "$SRC"
bench_registry_config "$WORK/dst" "$DST"
# The access log is what shows that `tag` makes no blob request.
sed -i 's/^log: {level: error}$/log: {level: error, accesslog: {disabled: false}}/' "$WORK/src/registry.yml" "$WORK/dst/registry.yml"

# start_registry NAME: (re)starts registry NAME (src or dst); `wipe` as $2 empties its storage.
start_registry() {
    local name=$1 address pid
    if [[ $name == src ]]; then pid=$SRC_PID address=$SRC; else pid=$DST_PID address=$DST; fi
    bench_stop "$pid"
    if [[ ${2:-} == wipe ]]; then rm -rf -- "$WORK/$name/data"; fi
    bench_serve "$WORK/$name" "$address"
    if [[ $name == src ]]; then SRC_PID=$BENCH_PID; else DST_PID=$BENCH_PID; fi
}

# shape RATE: the destination's port limited to RATE both ways; none removes it.
shape() { bench_shape "$1" "$DST_PORT"; }

# floor FROM TO: the blobs of FROM (registry/repo:tag) streamed `curl GET | curl PUT` into TO's
# repository, all at once, then the manifest: what any copy must move, with nothing else.
floor() {
    local from=$1 to=$2 manifest digest location
    local from_host=${from%%/*} from_rest=${from#*/} to_host=${to%%/*} to_rest=${to#*/}
    local from_repo=${from_rest%:*} tag=${from_rest##*:} to_repo=${to_rest%:*}
    local accept=application/vnd.docker.distribution.manifest.v2+json,application/vnd.oci.image.manifest.v1+json
    manifest=$WORK/floor-manifest.json
    curl -sf -H "Accept: $accept" -o "$manifest" "http://$from_host/v2/$from_repo/manifests/$tag"
    local pids=()
    while read -r digest; do
        location=$(curl -sf -X POST -D - -o /dev/null "http://$to_host/v2/$to_repo/blobs/uploads/" |
            tr -d '\r' | awk 'tolower($1) == "location:" { print $2 }')
        [[ $location == http* ]] || location=http://$to_host$location
        (curl -sf "http://$from_host/v2/$from_repo/blobs/$digest" |
            curl -sf -X PUT -T - -H 'Content-Type: application/octet-stream' -o /dev/null "$location&digest=$digest") &
        pids+=($!)
    done < <(python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); [print(d["digest"]) for d in [m["config"]] + m["layers"]]' "$manifest")
    for pid in "${pids[@]}"; do wait "$pid" || die "a floor transfer failed"; done
    curl -sf -X PUT -H "Content-Type: $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mediaType"])' "$manifest")" \
        --data-binary "@$manifest" -o /dev/null "http://$to_host/v2/$to_repo/manifests/$tag"
}

copy_cmd() { # tool from to
    case $1 in
        zenreg) "$Z" --store "$WORK/z.db" image copy "$2" "$3" ;;
        skopeo) skopeo copy -q --src-tls-verify=false --dest-tls-verify=false "docker://$2" "docker://$3" ;;
        floor) floor "$2" "$3" ;;
        *) die "unknown tool $1" ;;
    esac
}

RESULTS=$WORK/results.txt
: >"$RESULTS"
start_registry src wipe
start_registry dst wipe
"$Z" --store "$WORK/z.db" container-registry register src --flavor default --uri="$SRC" >/dev/null
"$Z" --store "$WORK/z.db" container-registry register dst --flavor default --uri="$DST" >/dev/null
log "commit $(git rev-parse --short HEAD), load: $(uptime | sed 's/.*load average/load average/')"
tools=(zenreg skopeo floor)
# time_one SCENARIO IMAGE ROUND TOOL FROM TO
time_one() {
    local start ms
    start=$EPOCHREALTIME
    copy_cmd "$4" "$5" "$6" >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err" >&2; die "$4 $1 copy failed"; }
    ms=$(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (e - s) * 1000 }')
    echo "$2 $1 $3 $4 $ms" >>"$RESULTS"
    log "  $2 $1 round $(($3 + 1)) $4: $ms ms"
}
for name in $IMAGES; do
    case $name in
        five) bench_make_five "$SRC/bench/five:1" "$WORK" ;;
        multi) bench_make_image "$SRC/bench/multi:1" "$WORK" "$MULTI_MB" 7 ;;
        big) bench_make_image "$SRC/bench/big:1" "$WORK" "$BIG_MB" 1 ;;
        *) die "unknown image $name" ;;
    esac
    image=$SRC/bench/$name:1
    docker push -q "$image" >/dev/null || die "docker push of $image"
    docker rmi -f "$image" >/dev/null 2>&1 || true
    log "$name: $(du -sm "$WORK/src/data" | cut -f1) MB in the source registry"
    for scenario in $SCENARIOS; do
        for ((r = 0; r < ROUNDS; r++)); do
            order=("${tools[@]:r%${#tools[@]}}" "${tools[@]:0:r%${#tools[@]}}")
            for tool in "${order[@]}"; do
                case $scenario in
                    cold | shaped)
                        shape none
                        start_registry dst wipe
                        [[ $scenario == shaped ]] && shape "$LINK"
                        time_one "$scenario" "$name" "$r" "$tool" "$image" "$DST/bench/$name:1"
                        ;;
                    same)
                        [[ $tool == floor ]] && continue
                        time_one same "$name" "$r" "$tool" "$image" "$SRC/bench/$name-$tool-$r:1"
                        ;;
                    warm)
                        [[ $tool == floor ]] && continue
                        shape none
                        copy_cmd skopeo "$image" "$DST/bench/$name:1" >/dev/null 2>&1 || die "warming the destination"
                        time_one warm "$name" "$r" "$tool" "$image" "$DST/bench/$name:1"
                        ;;
                    tag)
                        [[ $tool == zenreg ]] || continue
                        before=$(wc -l <"$WORK/src/registry.log")
                        start=$EPOCHREALTIME
                        "$Z" --store "$WORK/z.db" image tag "$image" "t$r" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; die "tag failed"; }
                        ms=$(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.0f", (e - s) * 1000 }')
                        blobs=$(tail -n "+$((before + 1))" "$WORK/src/registry.log" | grep -c '/blobs/' || true)
                        echo "$name tag $r zenreg $ms" >>"$RESULTS"
                        log "  $name tag round $((r + 1)): $ms ms, $blobs blob requests"
                        ((blobs == 0)) || die "image tag made $blobs blob requests"
                        ;;
                    *) die "unknown scenario $scenario" ;;
                esac
            done
        done
    done
    shape none
done
log "load: $(uptime | sed 's/.*load average/load average/')"
cp "$RESULTS" /tmp/zenreg-bench-image-results.txt
python3 - "$RESULTS" <<'PY'
import sys, statistics as st, collections
rows = [l.split() for l in open(sys.argv[1])]
by = collections.defaultdict(dict)
for name, scenario, r, tool, ms in rows:
    by[(name, scenario, r)][tool] = int(ms)
for group in sorted({k[:2] for k in by}):
    keys = [k for k in by if k[:2] == group]
    tools = [t for t in ["zenreg", "skopeo", "floor"] if all(t in by[k] for k in keys)]
    print(f"\n{group[0]} {group[1]} (rounds {len(keys)})")
    print("| tool | s median [min–max] | ratio to skopeo (median) | ratio to the floor (median) |")
    print("|---|---:|---:|---:|")
    for tool in tools:
        ms = [by[k][tool] for k in keys]
        ratio = lambda other: st.median(by[k][tool] / by[k][other] for k in keys) if other in tools else float("nan")
        print(f"| {tool} | {st.median(ms)/1000:.2f} [{min(ms)/1000:.2f}–{max(ms)/1000:.2f}] | {ratio('skopeo'):.2f} | {ratio('floor'):.2f} |")
PY
