#!/usr/bin/env bash
# Measures zenreg on this machine, side by side, in one run, and writes BENCHMARKS.md:
#
#   1. cli    latency (hyperfine) and peak RSS (GNU time) of `zenreg flavor list`,
#             `container-registry list` and `container-registry describe NAME` with a small and
#             a large store (10 and 10,000 components); ZenML's same commands when it is
#             installed (or with --with-zenml), as ratios
#   2. push   `zenreg container-registry push` against `docker push` of one ~50 MB, 5-layer
#             image to a dedicated local registry, alternating, cold (registry wiped and
#             restarted before every push) and warm (layers present)
#   3. scale  a generated crate with 1,000 flavors: `flavor list` time, catalog lookup time,
#             binary size; compile time of 200 flavors with the macros against serde only
#   4. micro  criterion benchmarks of zenreg-core (catalog lookup, validation, image names)
#
# Usage:
#   scripts/bench.sh [--quick] [--with-zenml] [--only SECTIONS] [--skip SECTIONS]
#                    [--out FILE] [--components N]
#
#   --quick          few repetitions, 100/20 generated flavors: checks the script, not the
#                    figures; writes target/bench/BENCHMARKS.quick.md unless --out is given
#   --with-zenml     pip install 'zenml[local]' into a venv under /tmp (kept as a cache) if
#                    no `zenml` is installed, and measure it too
#   --only, --skip   comma-separated sections among cli,push,scale,micro
#   --out FILE       where to write the report (default BENCHMARKS.md)
#   --components N   components in the large store (default 10000)
#
# Needs root for apt-get (hyperfine, time) and scripts/services.sh (Docker Engine). Every store
# is a temporary file (`--store`, and ZENREG_HOME points into the temporary directory too), the
# push registry is a private docker-registry on a spare loopback port, and both are removed on
# exit. Build caches are kept: target/ (zenreg), target/bench-scale (the generated crate),
# /tmp/zenreg-bench-zenml-venv (ZenML). Not part of the test command: figures are never asserted.

set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
COMMAND_LINE="scripts/bench.sh${*:+ $*}"

QUICK=0
WITH_ZENML=0
OUT=
BIG=10000
SMALL=10
SECTIONS=(cli push scale micro)
declare -A RUN=([cli]=1 [push]=1 [scale]=1 [micro]=1)

usage() {
    sed -n '2,/^$/s/^# \{0,1\}//p' "$0" >&2
    exit 2
}

sections_arg() {
    local list=$1 value=$2 s
    IFS=, read -r -a list_items <<<"$list"
    for s in "${list_items[@]}"; do
        [[ -n ${RUN[$s]+x} ]] || { echo "bench.sh: unknown section '$s' (known: ${SECTIONS[*]})" >&2; exit 2; }
        RUN[$s]=$value
    done
}

while (($#)); do
    case $1 in
        --quick) QUICK=1 ;;
        --with-zenml) WITH_ZENML=1 ;;
        --only)
            [[ $# -ge 2 ]] || usage
            for s in "${SECTIONS[@]}"; do RUN[$s]=0; done
            sections_arg "$2" 1
            shift
            ;;
        --skip)
            [[ $# -ge 2 ]] || usage
            sections_arg "$2" 0
            shift
            ;;
        --out)
            [[ $# -ge 2 ]] || usage
            OUT=$2
            shift
            ;;
        --components)
            [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage
            BIG=$2
            shift
            ;;
        -h | --help) usage ;;
        *) echo "bench.sh: unknown argument '$1'" >&2; usage ;;
    esac
    shift
done

if ((QUICK)); then
    HF_WARMUP=1 HF_RUNS=5 RSS_RUNS=3 PUSH_ROUNDS=2 WARM_ROUNDS=4 SCALE_FLAVORS=100 SCALE_COMPILE=20
    COMPILE_REPEATS=1 CRIT_WARMUP=0.2 CRIT_TIME=0.5 LOOKUP_ROUNDS=50 LOOKUP_RUNS=2 ZENML_RUNS=2
    OUT=${OUT:-target/bench/BENCHMARKS.quick.md}
else
    HF_WARMUP=5 HF_RUNS=30 RSS_RUNS=10 PUSH_ROUNDS=7 WARM_ROUNDS=21 SCALE_FLAVORS=1000 SCALE_COMPILE=200
    COMPILE_REPEATS=3 CRIT_WARMUP=1 CRIT_TIME=3 LOOKUP_ROUNDS=200 LOOKUP_RUNS=5 ZENML_RUNS=5
    OUT=${OUT:-BENCHMARKS.md}
fi
case $OUT in /*) ;; *) OUT=$ROOT/$OUT ;; esac

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# temporary state and its cleanup

WORK=$(mktemp -d /tmp/zenreg-bench.XXXXXX)
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
REG_PID=
PUSH_IMAGE=
# Nothing may fall back to the user's own store, even a command that forgot `--store`.
export ZENREG_HOME=$WORK/zenreg-home
unset ZENREG_STORE
mkdir -p "$ZENREG_HOME" "$WORK/bin"

stop_registry() {
    if [[ -n $REG_PID ]]; then
        kill -TERM "$REG_PID" 2>/dev/null || true
        wait "$REG_PID" 2>/dev/null || true
        REG_PID=
    fi
}

cleanup() {
    local rc=$?
    stop_registry
    if [[ -n $PUSH_IMAGE ]]; then
        docker rmi -f "$PUSH_IMAGE" >/dev/null 2>&1 || true
    fi
    if [[ ${ZENREG_BENCH_KEEP:-0} == 1 ]]; then
        log "kept $WORK (ZENREG_BENCH_KEEP=1)"
    else
        rm -rf -- "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rec() { python3 "$ROOT/scripts/bench/report.py" "$1" "$RESULTS" "${@:2}"; }
meta() { rec value "meta.$1" "" "$2"; }
load1() { cut -d' ' -f1 /proc/loadavg; }
LOADS=()
section_load() { LOADS+=("$1: $(load1)"); }

# Milliseconds elapsed since a $EPOCHREALTIME stamp.
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", (b - a) * 1000 }'; }

median_of() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ---------------------------------------------------------------------------------------------
# tools

need_packages() {
    local missing=() pair cmd pkg
    for pair in "$@"; do
        cmd=${pair%%:*} pkg=${pair#*:}
        [[ -x $cmd ]] || command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    ((${#missing[@]})) || return 0
    ((EUID == 0)) || die "missing ${missing[*]}: apt-get install -y ${missing[*]}"
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2 ||
        { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2; }
}

need_packages hyperfine:hyperfine /usr/bin/time:time python3:python3
[[ ${BASH_VERSINFO[0]} -ge 5 ]] || die "bash 5 is needed (EPOCHREALTIME)"

# ---------------------------------------------------------------------------------------------
# what machine, what load

meta command "$COMMAND_LINE"
meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
meta quick "$( ((QUICK)) && echo yes || echo no)"
meta commit "$(git -c core.fsmonitor=false rev-parse --short HEAD 2>/dev/null || echo '?')$(
    [[ -n "$(git --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null)" ]] && echo ' (with uncommitted changes)'
)"
meta nproc "$(nproc)"
meta cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
meta memory "$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
meta kernel "$(uname -r)"
meta rustc "$(rustc --version)"
meta components_small "$SMALL"
meta components_big "$BIG"
meta scale_flavors "$SCALE_FLAVORS"
meta scale_compile "$SCALE_COMPILE"
meta criterion_time "$CRIT_TIME"
LOAD_BEFORE=$(uptime | sed 's/^.*load average/load average/')
meta load_before "$LOAD_BEFORE"
log "work dir $WORK; $LOAD_BEFORE"
TOOLS="hyperfine $(hyperfine --version | awk '{print $2}'), GNU time $(dpkg-query -W -f='${Version}' time 2>/dev/null || echo '?')"

# ---------------------------------------------------------------------------------------------
# build (copied out of target/ so another build in the tree cannot swap the binary mid-run)

build_zenreg() {
    log "building zenreg (release)"
    cargo build --release --locked -q -p zenreg-cli
    cp target/release/zenreg "$WORK/bin/zenreg"
    Z=$WORK/bin/zenreg
    FILL=
    if [[ -f zenreg-cli/examples/fill_store.rs ]]; then
        log "building the fill_store example"
        cargo build --release --locked -q -p zenreg-cli --example fill_store
        cp target/release/examples/fill_store "$WORK/bin/fill_store"
        FILL=$WORK/bin/fill_store
        meta fill_method "through \`zenreg_store::Client\` (the \`fill_store\` example of zenreg-cli)"
    else
        meta fill_method "with one \`zenreg container-registry register\` per component (the \`fill_store\` example was not there)"
    fi
}
build_zenreg

# Fills a new store with N `default` container registries through zenreg_store::Client.
fill_store() {
    local store=$1 count=$2 i
    if [[ -n $FILL ]]; then
        "$FILL" "$store" "$count" >/dev/null 2>"$WORK/fill.err" || { cat "$WORK/fill.err" >&2; die "fill_store failed"; }
    else
        # Fallback while the fill_store example is missing: the CLI itself, one process each.
        for ((i = 0; i < count; i++)); do
            "$Z" --store "$store" container-registry register "bench-$(printf '%05d' "$i")" \
                --flavor default --uri="localhost:5000" --label "index=$i" >/dev/null 2>&1
        done
    fi
    local got
    got=$("$Z" --store "$store" container-registry list --output json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    [[ $got == "$count" ]] || die "store $store has $got components, expected $count"
}

middle_name() {
    "$Z" --store "$1" container-registry list --output json |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d[len(d)//2]["name"])'
}

# Peak RSS (KiB) of RSS_RUNS runs of a command, recorded as samples under KEY.
measure_rss() {
    local key=$1 values=() i
    shift
    for ((i = 0; i < RSS_RUNS; i++)); do
        /usr/bin/time -f %M -o "$WORK/rss.txt" "$@" >/dev/null 2>"$WORK/rss.err" ||
            { cat "$WORK/rss.err" >&2; die "failed: $*"; }
        values+=("$(tail -n 1 "$WORK/rss.txt")")
    done
    rec samples "$key" KiB "${values[@]}"
}

# ---------------------------------------------------------------------------------------------
# 1. CLI latency and memory

ZENML=
find_zenml() {
    local candidate
    for candidate in /tmp/zenreg-bench-zenml-venv/bin/zenml "$(command -v zenml 2>/dev/null || true)"; do
        if [[ -n $candidate && -x $candidate ]]; then
            ZENML=$candidate
            return 0
        fi
    done
    return 1
}

install_zenml() {
    local venv=/tmp/zenreg-bench-zenml-venv
    log "pip install 'zenml[local]' into $venv (kept as a cache)"
    python3 -m venv "$venv" >&2 2>"$WORK/zenml-venv.err" ||
        { rec value status.zenml "" "python3 -m venv failed: $(tail -n 1 "$WORK/zenml-venv.err")"; return 1; }
    if ! "$venv/bin/pip" install -q 'zenml[local]' >"$WORK/zenml-pip.log" 2>&1; then
        rec value status.zenml "" "pip could not install zenml[local] here: $(grep -m1 -iE 'error' "$WORK/zenml-pip.log" || tail -n 1 "$WORK/zenml-pip.log")"
        rm -rf -- "$venv"
        return 1
    fi
}

bench_zenml() {
    if ! find_zenml; then
        if ((!WITH_ZENML)); then
            rec value status.zenml "" "zenml is not installed (run with --with-zenml to install it)"
            return 0
        fi
        install_zenml || return 0
        find_zenml || { rec value status.zenml "" "no zenml executable after pip install"; return 0; }
    fi
    local home=$WORK/zenml repo=$WORK/zenml/repo i version name
    mkdir -p "$home/config" "$repo"
    # A private config dir and local store: the user's ZenML config is never read or written.
    export ZENML_CONFIG_PATH=$home/config ZENML_ANALYTICS_OPT_IN=false ZENML_DEBUG=false \
        ZENML_LOGGING_VERBOSITY=WARN ZENML_ENABLE_RICH_TRACEBACK=false AUTO_OPEN_DASHBOARD=false
    version=$("$ZENML" version 2>&1 | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -n 1 || true)
    log "ZenML $version: zenml init and $SMALL container registries (10,000 would take hours at ~2 s each)"
    (
        cd "$repo"
        "$ZENML" init >"$WORK/zenml-init.log" 2>&1
        for ((i = 0; i < SMALL; i++)); do
            "$ZENML" container-registry register "bench-$(printf '%05d' "$i")" --flavor=default \
                --uri=localhost:5000 >>"$WORK/zenml-init.log" 2>&1
        done
    ) || { rec value status.zenml "" "zenml init/register failed: $(tail -n 1 "$WORK/zenml-init.log")"; return 0; }
    name=bench-$(printf '%05d' $((SMALL / 2)))
    rec value zenml.version "" "${version:-?}"
    rec value zenml.components "" "$SMALL"
    rec value zenml.note "" "Only the ${SMALL}-component store: registering 10,000 through ZenML's CLI at about 2 s each would take over 5 hours."
    log "hyperfine: ZenML ($ZENML_RUNS runs each)"
    (
        cd "$repo"
        hyperfine -N --warmup 1 --runs "$ZENML_RUNS" --output=pipe --export-json "$WORK/hf-zenml.json" \
            -n flavor_list "$ZENML container-registry flavor list" \
            -n list "$ZENML container-registry list" \
            -n describe "$ZENML container-registry describe $name" >&2
        rec hyperfine zenml.wall "$WORK/hf-zenml.json"
        # shellcheck disable=SC2030  # fewer runs for ZenML, in this subshell only
        RSS_RUNS=$ZENML_RUNS
        measure_rss zenml.rss.flavor_list "$ZENML" container-registry flavor list
        measure_rss zenml.rss.list "$ZENML" container-registry list
        measure_rss zenml.rss.describe "$ZENML" container-registry describe "$name"
    )
    TOOLS+=", ZenML ${version:-?}"
}

bench_cli() {
    section_load cli
    local size store name
    for size in "$SMALL" "$BIG"; do
        store=$WORK/store-$size.db
        log "filling a store with $size components"
        local started=$EPOCHREALTIME
        fill_store "$store" "$size"
        rec value "cli.fill.$size" ms "$(ms_since "$started")"
        name=$(middle_name "$store")
        log "hyperfine: $size components ($HF_RUNS runs each)"
        hyperfine -N --warmup "$HF_WARMUP" --runs "$HF_RUNS" --output=pipe \
            --export-json "$WORK/hf-cli-$size.json" \
            -n flavor_list "$Z --store $store flavor list" \
            -n list "$Z --store $store container-registry list" \
            -n describe "$Z --store $store container-registry describe $name" >&2
        rec hyperfine "cli.wall.$size" "$WORK/hf-cli-$size.json"
        # shellcheck disable=SC2031
        log "peak RSS: $size components ($RSS_RUNS runs each)"
        measure_rss "cli.rss.$size.flavor_list" "$Z" --store "$store" flavor list
        measure_rss "cli.rss.$size.list" "$Z" --store "$store" container-registry list
        measure_rss "cli.rss.$size.describe" "$Z" --store "$store" container-registry describe "$name"
    done
    bench_zenml
}

# ---------------------------------------------------------------------------------------------
# 2. push against docker push

REG_PORT=
REG_DIR=$WORK/registry

free_port() {
    local port
    for port in $(seq 5050 5099); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { echo "$port"; return 0; }
    done
    return 1
}

# Stops our registry, wipes its storage and starts it again: an empty registry.
reset_registry() {
    stop_registry
    rm -rf -- "$REG_DIR/data"
    mkdir -p "$REG_DIR/data"
    docker-registry serve "$REG_DIR/config.yml" </dev/null >>"$REG_DIR/registry.log" 2>&1 &
    REG_PID=$!
    local deadline=$((SECONDS + 30))
    until [[ "$(curl -s -o /dev/null --max-time 2 -w '%{http_code}' "http://127.0.0.1:$REG_PORT/v2/" || true)" == 200 ]]; do
        kill -0 "$REG_PID" 2>/dev/null || { tail -n 20 "$REG_DIR/registry.log" >&2; die "docker-registry exited"; }
        ((SECONDS < deadline)) || die "docker-registry on 127.0.0.1:$REG_PORT did not answer within 30 s"
        sleep 0.1
    done
}

stored_mb() { du -sm "$REG_DIR/data" | cut -f1; }

push_zenreg() { "$Z" --store "$WORK/push.db" container-registry push "$PUSH_IMAGE" --registry bench >"$WORK/push-zenreg.out" 2>"$WORK/push-zenreg.err"; }
push_docker() { docker push "$PUSH_IMAGE" >"$WORK/push-docker.out" 2>&1; }

# Times one push; prints milliseconds.
timed_push() {
    local tool=$1 started
    started=$EPOCHREALTIME
    "push_$tool" || { cat "$WORK/push-$tool".* >&2; die "$tool push failed"; }
    ms_since "$started"
}

bench_push() {
    section_load push
    log "services: Docker Engine (scripts/services.sh)"
    eval "$(scripts/services.sh start docker registry)"
    command -v docker-registry >/dev/null || die "docker-registry is not installed"
    REG_PORT=$(free_port) || die "no free loopback port in 5050-5099"
    mkdir -p "$REG_DIR"
    cat >"$REG_DIR/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REG_DIR/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$REG_PORT
  secret: zenreg-bench-upload-secret
EOF
    local docker_versions
    docker_versions=$(docker version --format 'Docker client {{.Client.Version}}, Engine {{.Server.Version}}' 2>/dev/null || echo 'Docker ?')
    TOOLS+=", $docker_versions, $(docker-registry --version 2>/dev/null | awk '{print $2, $3}')"

    # FROM scratch + 5 COPY of 10 MiB random files: 5 layers, ~52 MB, nothing to pull.
    local context=$WORK/image i
    mkdir -p "$context"
    printf 'FROM scratch\n' >"$context/Dockerfile"
    for i in 1 2 3 4 5; do
        head -c $((10 * 1024 * 1024)) /dev/urandom >"$context/layer$i.bin"
        printf 'COPY layer%s.bin /layer%s.bin\n' "$i" "$i" >>"$context/Dockerfile"
    done
    PUSH_IMAGE=127.0.0.1:$REG_PORT/zenreg-bench/push50m:latest
    log "building $PUSH_IMAGE"
    docker build -q -t "$PUSH_IMAGE" "$context" >/dev/null 2>"$WORK/build.log" || { cat "$WORK/build.log" >&2; die "docker build failed"; }
    rec value push.image_layers "" "$(docker image inspect -f '{{len .RootFS.Layers}}' "$PUSH_IMAGE")"
    rec value push.image_bytes bytes "$(docker image inspect -f '{{.Size}}' "$PUSH_IMAGE")"

    "$Z" --store "$WORK/push.db" container-registry register bench --flavor default --uri="127.0.0.1:$REG_PORT" >/dev/null 2>&1

    local round case tool ms order z d min_stored=999999 mb
    local -a cold_z=() cold_d=() cold_r=() warm_z=() warm_d=() warm_r=()
    # A first push of each (untimed) warms the page cache, the daemon and both binaries.
    reset_registry
    if ! { push_docker && push_zenreg; }; then
        cat "$WORK"/push-*.out "$WORK"/push-*.err >&2 || true
        die "warm-up push failed"
    fi
    local rounds
    for case in cold warm; do
        # A warm push takes tens of milliseconds, so more rounds cost little and tame its noise.
        if [[ $case == cold ]]; then rounds=$PUSH_ROUNDS; else rounds=$WARM_ROUNDS; fi
        log "push $case: $rounds rounds, alternating"
        if [[ $case == warm ]]; then
            # Layers and manifest present before the first timed warm push.
            reset_registry
            push_docker
        fi
        for ((round = 0; round < rounds; round++)); do
            if ((round % 2 == 0)); then order=(zenreg docker); else order=(docker zenreg); fi
            for tool in "${order[@]}"; do
                if [[ $case == cold ]]; then reset_registry; fi
                ms=$(timed_push "$tool")
                if [[ $case == cold ]]; then
                    mb=$(stored_mb)
                    if ((mb < min_stored)); then min_stored=$mb; fi
                fi
                if [[ $tool == zenreg ]]; then z=$ms; else d=$ms; fi
            done
            log "  $case round $((round + 1)): zenreg $z ms, docker $d ms"
            if [[ $case == cold ]]; then
                cold_z+=("$z") cold_d+=("$d") cold_r+=("$(awk -v a="$z" -v b="$d" 'BEGIN { printf "%.4f", a / b }')")
            else
                warm_z+=("$z") warm_d+=("$d") warm_r+=("$(awk -v a="$z" -v b="$d" 'BEGIN { printf "%.4f", a / b }')")
            fi
        done
    done
    rec samples push.cold.zenreg ms "${cold_z[@]}"
    rec samples push.cold.docker ms "${cold_d[@]}"
    rec samples push.cold.ratio "" "${cold_r[@]}"
    rec samples push.warm.zenreg ms "${warm_z[@]}"
    rec samples push.warm.docker ms "${warm_d[@]}"
    rec samples push.warm.ratio "" "${warm_r[@]}"
    rec value push.cold.min_stored_mb MB "$min_stored"
    ((min_stored >= 45)) || die "a cold push stored only $min_stored MB: the registry was not empty or the push skipped layers"

    # Both tools must have pushed the same manifest.
    local zd dd
    zd=$(grep -oE 'sha256:[0-9a-f]{64}' "$WORK/push-zenreg.out" | tail -n 1 || true)
    dd=$(grep -oE 'digest: sha256:[0-9a-f]{64}' "$WORK/push-docker.out" | grep -oE 'sha256:[0-9a-f]{64}' | tail -n 1 || true)
    if [[ -n $zd && $zd == "$dd" ]]; then
        rec value push.digest_check "" "both tools report the same digest (\`${zd:0:19}…\`)"
    else
        rec value push.digest_check "" "digests differ or missing (zenreg '$zd', docker '$dd')"
    fi
    stop_registry
}

# ---------------------------------------------------------------------------------------------
# 3. scale of the flavor system

# A copy of the crates the generated workspace builds against (zenreg-core and zenreg-derive for
# the flavors; zenreg-cli and what it needs for the binary), with a workspace manifest of their
# own for the inherited keys: others may edit the tree during a
# run, and a rebuild of zenreg-core must not land inside a timed compile. `cp -a` keeps the
# files' times, so an unchanged copy does not rebuild.
snapshot_core() {
    local snap=$1
    rm -rf -- "$snap"
    mkdir -p "$snap"
    cp -a zenreg-core zenreg-derive zenreg-store zenreg-push zenreg-cli zenreg-aws-example "$snap/"
    python3 - "$ROOT/Cargo.toml" >"$snap/Cargo.toml" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
members = '["zenreg-derive", "zenreg-core", "zenreg-store", "zenreg-push", "zenreg-cli", "zenreg-aws-example/config"]'
text = re.sub(r"(?ms)^members = \[.*?\]\n", f"members = {members}\n", text, count=1)
text = re.sub(r"(?ms)^default-members = \[.*?\]\n", "", text, count=1)
print(text, end="")
PY
    touch -r Cargo.toml "$snap/Cargo.toml"
}

bench_scale() {
    section_load scale
    local gen=$WORK/scale
    # A target dir of its own: dependencies are built once and kept, and a build here never
    # waits for (or invalidates) the workspace's own target/.
    export CARGO_TARGET_DIR=$ROOT/target/bench-scale
    snapshot_core "$CARGO_TARGET_DIR/zenreg-src"
    log "generating $SCALE_FLAVORS flavors (+ $SCALE_COMPILE for the compile comparison) in $gen"
    python3 scripts/bench/gen_flavors.py --out "$gen" --zenreg-core "$CARGO_TARGET_DIR/zenreg-src/zenreg-core" \
        --flavors "$SCALE_FLAVORS" --compile "$SCALE_COMPILE" --lockfile "$ROOT/Cargo.lock"
    (
        cd "$gen"
        log "building dependencies and the two $SCALE_COMPILE-flavor libraries (first run: minutes)"
        cargo build --release -q -p zenreg-scale-macros -p zenreg-scale-serde

        log "building the same in the dev profile (first run: minutes)"
        cargo build -q -p zenreg-scale-macros -p zenreg-scale-serde

        local i kind profile started
        for profile in release dev; do
            local -a macros=() serde=() flags=()
            if [[ $profile == release ]]; then flags=(--release); fi
            log "compile time ($profile): touch + rebuild, $COMPILE_REPEATS× each, alternating"
            for ((i = 0; i < COMPILE_REPEATS; i++)); do
                for kind in macros serde; do
                    touch "$kind/src/lib.rs"
                    started=$EPOCHREALTIME
                    cargo build "${flags[@]}" -q -p "zenreg-scale-$kind"
                    if [[ $kind == macros ]]; then macros+=("$(ms_since "$started")"); else serde+=("$(ms_since "$started")"); fi
                done
            done
            rec samples "scale.compile.$profile.macros" ms "${macros[@]}"
            rec samples "scale.compile.$profile.serde" ms "${serde[@]}"
            rec value "scale.compile.$profile.overhead_ms_per_flavor" ms "$(awk -v m="$(median_of "${macros[@]}")" \
                -v s="$(median_of "${serde[@]}")" -v n="$SCALE_COMPILE" 'BEGIN { printf "%.3f", (m - s) / n }')"
        done

        log "building the $SCALE_FLAVORS-flavor binary"
        started=$EPOCHREALTIME
        cargo build --release -q -p zenreg-scale-app
        rec value scale.app.build_s s "$(awk -v ms="$(ms_since "$started")" 'BEGIN { printf "%.1f", ms / 1000 }')"
    )
    local app=$WORK/bin/zenreg-scale
    cp "$CARGO_TARGET_DIR/release/zenreg-scale" "$app"
    unset CARGO_TARGET_DIR
    rec value scale.app.binary_bytes bytes "$(stat -c %s "$app")"
    rec value scale.zenreg_binary_bytes bytes "$(stat -c %s "$Z")"
    local listed
    listed=$("$app" flavor list --output json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    ((listed >= SCALE_FLAVORS)) || die "the scale binary lists $listed flavors, expected at least $SCALE_FLAVORS"

    log "hyperfine: flavor list of $listed flavors"
    hyperfine -N --warmup "$HF_WARMUP" --runs "$HF_RUNS" --output=pipe --export-json "$WORK/hf-scale.json" \
        -n flavor_list "$app --store $WORK/scale.db flavor list" \
        -n flavor_describe "$app --store $WORK/scale.db flavor describe bench_0001" >&2
    rec hyperfine scale.app "$WORK/hf-scale.json"
    measure_rss scale.app.rss.flavor_list "$app" --store "$WORK/scale.db" flavor list

    log "catalog lookups ($LOOKUP_RUNS runs of $LOOKUP_ROUNDS rounds)"
    local -a reports=()
    for ((i = 0; i < LOOKUP_RUNS; i++)); do
        reports+=("$(ZENREG_BENCH_LOOKUPS=$LOOKUP_ROUNDS "$app")")
    done
    rec lookup scale.app.lookup "${reports[@]}"
}

# ---------------------------------------------------------------------------------------------
# 4. criterion micro-benchmarks

bench_micro() {
    section_load micro
    log "criterion: cargo bench -p zenreg-core --bench core (${CRIT_TIME}s per benchmark)"
    CRITERION_HOME=$WORK/criterion cargo bench --locked -q -p zenreg-core --bench core -- \
        --warm-up-time "$CRIT_WARMUP" --measurement-time "$CRIT_TIME" --noplot >"$WORK/criterion.log" 2>&1 ||
        { tail -n 40 "$WORK/criterion.log" >&2; die "cargo bench failed"; }
    rec criterion "$WORK/criterion"
}

# ---------------------------------------------------------------------------------------------

for section in "${SECTIONS[@]}"; do
    if ((RUN[$section])); then
        "bench_$section"
    else
        rec value "status.$section" "" "skipped (--only/--skip)"
    fi
done

LOAD_AFTER=$(uptime | sed 's/^.*load average/load average/')
log "done; $LOAD_AFTER"
meta load_after "$LOAD_AFTER"
meta tools "$TOOLS"
LOADS_TEXT=$(IFS=';'; echo "${LOADS[*]:-–}")
meta busy_note "1-minute load at the start of each section: ${LOADS_TEXT//;/; } (2 cores; a load near 0 means idle, near 2 or more means other work competed for the CPUs)"
mkdir -p "$(dirname "$OUT")"
rec render "$OUT"
log "wrote $OUT"
