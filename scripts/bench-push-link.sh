#!/usr/bin/env bash
# Push benchmark on the links users have (issue 19): one registry port of loopback shaped with
# `tc` htb, both directions, at each RATE given (e.g. 20mbit, 100mbit, 1gbit; `none` = unshaped),
# and `docker push`, `skopeo copy docker-daemon:`, zenreg's default, zenreg zstd and zenreg at
# pinned gzip levels 1 and 6, cold (registry storage and blob cache wiped before every push), in
# rotating order. Figures per push: wall time, bytes the registry stores, the ratio to `docker
# push` in the same round, and the ratio to the tool's own link floor (its bytes ÷ the rate).
#
# Usage: scripts/bench-push-link.sh [--rounds N] [--links "20mbit 100mbit 1gbit none"]
#                                   [--images "five multi big"] [--tools "docker skopeo …"] [--trace]
#   five:  the 5-layer image of real files (gcc's library directory, Python 3.11's standard
#          library, Debian's package documentation, perl's library, the Rust toolchain's x86_64
#          target libraries), about 560 MB;
#   multi: the 7-layer image of bench-push-oci.sh (--multi-mb, default 400);
#   big:   one layer of --big-mb (default 1024) MB.
#   tools: docker skopeo zdefault zzstd zgzip1 zgzip6 (all by default); zarchive: zenreg's
#          default from a `docker save` file written before the round (untimed), which tells
#          the Engine's export latency apart from the push pipeline; zexport: zenreg's engine
#          reading the Engine's export instead of its store (ZENREG_LAYER_STORE=off); zupN:
#          zenreg's engine with N uploads at once (ZENREG_HTTP_UPLOADS=N).
#   --trace: on shaped links, samples the link during each timed push (scripts/bench/link-trace.py)
#          and logs where it carried under half its rate: the first second, between, the last.
# Needs root (tc), the Docker Engine (scripts/services.sh start docker), docker-registry, skopeo
# and a release build of zenreg (built here, or ZENREG_BIN). When tc is missing or not permitted
# it says so and exits with 1. Before the timed rounds of each link, one untimed push lets
# zenreg measure it (its default level follows what it measured). CI does not run it: a full run takes hours (a 560 MB image at
# 20 Mbit/s is over a minute per push). Results: a table on stdout, raw rows in
# /tmp/zenreg-bench-link-results.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=3 LINKS="20mbit 100mbit 1gbit none" IMAGES="five multi big" MULTI_MB=400 BIG_MB=1024
TOOLS="docker skopeo zdefault zzstd zgzip1 zgzip6" TRACE=0
while (($#)); do
    case $1 in
        --rounds) ROUNDS=$2; shift 2 ;;
        --links) LINKS=$2; shift 2 ;;
        --images) IMAGES=$2; shift 2 ;;
        --tools) TOOLS=$2; shift 2 ;;
        --multi-mb) MULTI_MB=$2; shift 2 ;;
        --big-mb) BIG_MB=$2; shift 2 ;;
        --trace) TRACE=1; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
log() { printf '[bench-link] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
# shellcheck source=scripts/bench/images.sh
source scripts/bench/images.sh

command -v tc >/dev/null || die "tc is missing (apt-get install iproute2): the links cannot be shaped"
((EUID == 0)) || die "tc needs root to shape the loopback interface"
bench_tc_lock

if [[ -n ${ZENREG_BIN:-} ]]; then
    Z=$ZENREG_BIN
else
    cargo build --release -q -p zenreg-cli
    Z=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/zenreg
fi
WORK=$(mktemp -d /tmp/zenreg-bench-link.XXXXXX)
REG_PID=
BENCH_SHAPED=0
cleanup() {
    if ((BENCH_SHAPED)); then tc qdisc del dev lo root 2>/dev/null || true; fi
    if [[ -n $REG_PID ]]; then kill "$REG_PID" 2>/dev/null || true; fi
    wait 2>/dev/null || true
    rm -rf -- "$WORK"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
eval "$(scripts/services.sh env docker)"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
REG=127.0.0.1:$PORT
bench_registry_config "$WORK" "$REG"

reset_registry() {
    bench_stop "$REG_PID"
    rm -rf -- "$WORK/data" "$WORK/blob-cache.json"
    bench_serve "$WORK" "$REG"
    REG_PID=$BENCH_PID
}

shape() { bench_shape "$1" "$PORT"; }

# Bits per second of a tc rate (20mbit, 1gbit, …); 0 for none.
bits() {
    python3 -c 'import re,sys; m=re.fullmatch(r"(\d+(?:\.\d+)?)([kmg]?)bit", sys.argv[1]); print(0 if not m else int(float(m[1]) * {"":1,"k":1e3,"m":1e6,"g":1e9}[m[2]]))' "$1"
}

push_cmd() { # tool image
    local z=("$Z" --store "$WORK/z.db" container-registry push "$2" --registry bench --engine oci)
    case $1 in
        docker) docker push -q "$2" ;;
        skopeo) skopeo copy -q --dest-tls-verify=false "docker-daemon:$2" "docker://$2" ;;
        # zenreg's default: its engine and level are chosen by what the pushes before measured.
        zdefault) "$Z" --store "$WORK/z.db" container-registry push "$2" --registry bench ;;
        zzstd) "${z[@]}" --compression zstd ;;
        zgzip1) "${z[@]}" --compression gzip --compression-level 1 ;;
        zgzip6) "${z[@]}" --compression gzip --compression-level 6 ;;
        zarchive) "$Z" --store "$WORK/z.db" container-registry push "$2" --registry bench --from "docker-archive:$WORK/saved.tar" ;;
        # zenreg's engine reading the Engine's export, not its store (what a zenreg that may
        # not read the store does).
        zexport) ZENREG_LAYER_STORE=off "${z[@]}" ;;
        # zenreg's engine with N uploads at once (ZENREG_HTTP_UPLOADS; 4 by default).
        zup[0-9]*) ZENREG_HTTP_UPLOADS=${1#zup} "${z[@]}" ;;
        *) die "unknown tool $1" ;;
    esac
}

RESULTS=$WORK/results.txt
: >"$RESULTS"
reset_registry
"$Z" --store "$WORK/z.db" container-registry register bench --flavor default --uri="$REG" >/dev/null
log "commit $(git rev-parse --short HEAD), load: $(uptime | sed 's/.*load average/load average/')"
read -r -a tools <<<"$TOOLS"
for name in $IMAGES; do
    case $name in
        five) bench_make_five "$REG/bench/five:1" "$WORK" ;;
        multi) bench_make_image "$REG/bench/multi:1" "$WORK" "$MULTI_MB" 7 ;;
        big) bench_make_image "$REG/bench/big:1" "$WORK" "$BIG_MB" 1 ;;
        *) die "unknown image $name" ;;
    esac
    image=$REG/bench/$name:1
    log "$name: $(docker image inspect -f '{{.Size}} bytes, {{len .RootFS.Layers}} layers' "$image")"
    if [[ " $TOOLS " == *" zarchive "* ]]; then
        start=$EPOCHREALTIME
        docker save -o "$WORK/saved.tar" "$image"
        log "$name: docker save took $(awk -v s="$start" -v e="$EPOCHREALTIME" 'BEGIN { printf "%.1f", e - s }') s"
    fi
    for link in $LINKS; do
        rate=$(bits "$link")
        # zenreg's default level and engine follow what it measured before: untimed pushes on
        # this link teach it, as the pushes before would have for a user (the link and
        # zenreg's engine first; then, when that push waited on the Engine's export, a try of
        # the Engine's own push).
        rm -f -- "$WORK/link-cache.json" "$WORK/engine-cache.json"
        for _ in 1 2; do
            shape none
            reset_registry
            shape "$link"
            push_cmd zdefault "$image" >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; die "a learning push failed"; }
        done
        learned=$(python3 - "$WORK/link-cache.json" <<'PY' 2>/dev/null || echo nothing
import json, sys
for host, entry in json.load(open(sys.argv[1])).items():
    link = entry["link"]
    print(f"{link['kind']} {link['bytes_per_second'] * 8 / 1e6:.0f} Mbit/s")
PY
        )
        log "  $name $link: zenreg learned $learned"
        engines=$(python3 - "$WORK/engine-cache.json" <<'PY' 2>/dev/null || echo nothing
import json, sys
for pair, runs in json.load(open(sys.argv[1])).items():
    for engine, run in runs.items():
        if run:
            print(f"{engine} {run['bytes_per_second'] / 1e6:.1f} MB/s (export wait {run['export_wait']:.0%})", end="; ")
PY
        )
        log "  $name $link: engines measured: $engines"
        for ((r = 0; r < ROUNDS; r++)); do
            order=("${tools[@]:r%${#tools[@]}}" "${tools[@]:0:r%${#tools[@]}}")
            for tool in "${order[@]}"; do
                shape none
                reset_registry
                shape "$link"
                tracer=
                if ((TRACE && rate)); then
                    python3 scripts/bench/link-trace.py sample "$PORT" "$WORK/trace" &
                    tracer=$!
                    sleep 0.3
                fi
                start=$EPOCHREALTIME
                push_cmd "$tool" "$image" >"$WORK/out" 2>"$WORK/err" || { cat "$WORK/err" >&2; die "$tool push failed"; }
                end=$EPOCHREALTIME
                ms=$(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", (e - s) * 1000 }')
                if [[ -n $tracer ]]; then
                    sleep 0.2
                    kill "$tracer"
                    wait "$tracer" || true
                    log "  $tool $(python3 scripts/bench/link-trace.py summary "$WORK/trace" "$start" "$end" "$rate")"
                fi
                bytes=$(find "$WORK/data/docker/registry/v2/blobs" -name data -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
                echo "$name $link $rate $r $tool $ms $bytes" >>"$RESULTS"
                log "  $name $link round $((r + 1)) $tool: $ms ms, $((bytes / 1000000)) MB"
            done
        done
    done
    shape none
    docker rmi -f "$image" >/dev/null 2>&1 || true
    rm -f -- "$WORK/saved.tar"
done
log "load: $(uptime | sed 's/.*load average/load average/')"
cp "$RESULTS" /tmp/zenreg-bench-link-results.txt
python3 - "$RESULTS" <<'PY'
import sys, statistics as st, collections
rows = [l.split() for l in open(sys.argv[1])]
by = collections.defaultdict(dict)
for name, link, rate, r, tool, ms, b in rows:
    by[(name, link, int(rate), r)][tool] = (int(ms), int(b))
groups = sorted({k[:3] for k in by}, key=lambda g: (g[0], -g[2] if g[2] else -10**12))
for name, link, rate in groups:
    keys = [k for k in by if k[:3] == (name, link, rate)]
    named = ["docker", "skopeo", "zdefault", "zexport", "zarchive", "zzstd", "zgzip1", "zgzip6"]
    named += sorted({t for k in keys for t in by[k] if t.startswith("zup")}, key=lambda t: int(t[3:]))
    tools = [t for t in named if all(t in by[k] for k in keys)]
    print(f"\n{name} at {link} (rounds {len(keys)})")
    print("| tool | s median [min–max] | MB in the registry | ratio to docker push (median) | ratio to its link floor (median) |")
    print("|---|---:|---:|---:|---:|")
    for tool in tools:
        ms = [by[k][tool][0] for k in keys]
        mb = st.median(by[k][tool][1] for k in keys) / 1e6
        ratio = st.median(by[k][tool][0] / by[k]["docker"][0] for k in keys) if "docker" in tools else float("nan")
        floor = st.median(by[k][tool][0] / 1000 / (by[k][tool][1] * 8 / rate) for k in keys) if rate else float("nan")
        print(f"| {tool} | {st.median(ms)/1000:.1f} [{min(ms)/1000:.1f}–{max(ms)/1000:.1f}] | {mb:.0f} | {ratio:.2f} | {floor:.2f} |")
PY
