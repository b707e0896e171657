# shellcheck shell=bash
# Images of real files, registries of their own and the loopback shaping for the benchmarks
# (sourced by bench-push-oci.sh, bench-push-link.sh and bench-image-copy.sh; `log` and `die`
# come from the caller).

# bench_registry_config WORK ADDRESS: a registry config in WORK/registry.yml, storage in
# WORK/data, deletes on, no upload purging.
bench_registry_config() {
    cat >"$1/registry.yml" <<YML
version: 0.1
log: {level: error}
storage:
  filesystem: {rootdirectory: $1/data}
  delete: {enabled: true}
  maintenance: {uploadpurging: {enabled: false}}
http: {addr: "$2", secret: zenreg-bench-secret}
YML
}

# bench_serve DIR ADDRESS: starts a registry of DIR/registry.yml (logging to DIR/registry.log),
# its pid in BENCH_PID, and returns once it answers on ADDRESS.
bench_serve() {
    mkdir -p "$1/data"
    docker-registry serve "$1/registry.yml" >>"$1/registry.log" 2>&1 &
    # shellcheck disable=SC2034 # the caller's
    BENCH_PID=$!
    until [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$2/v2/" || true)" == 200 ]]; do sleep 0.05; done
}

# bench_stop PID: stops a registry bench_serve started (nothing when PID is empty).
bench_stop() {
    if [[ -n $1 ]]; then kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; fi
}

# bench_tc_lock: the loopback interface's qdisc is one for the whole machine, and two shaping
# benchmarks at once delete each other's shaping: every script that shapes lo holds this lock
# for its whole run (on fd 9), and refuses to start beside an htb it did not make.
bench_tc_lock() {
    exec 9>/tmp/zenreg-bench-tc.lock
    flock -n 9 || die "another benchmark holds /tmp/zenreg-bench-tc.lock (it shapes the loopback interface); run this one after it"
    if tc qdisc show dev lo | grep -q '^qdisc htb'; then
        die "the loopback interface already has an htb qdisc (another benchmark?); remove it first: tc qdisc del dev lo root"
    fi
}

# bench_shape RATE PORT: htb on lo, PORT limited to RATE in each direction (traffic to the port,
# and from it), everything else unlimited; `none` removes the shaping. BENCH_SHAPED says whether
# lo is shaped (for the caller's cleanup).
bench_shape() {
    tc qdisc del dev lo root 2>/dev/null || true
    BENCH_SHAPED=0
    [[ $1 == none ]] && return 0
    tc qdisc add dev lo root handle 1: htb default 10 r2q 1000
    # shellcheck disable=SC2034 # the caller's
    BENCH_SHAPED=1
    tc class add dev lo parent 1: classid 1:10 htb rate 100gbit
    tc class add dev lo parent 1: classid 1:20 htb rate "$1" ceil "$1" burst 64k cburst 64k
    tc class add dev lo parent 1: classid 1:30 htb rate "$1" ceil "$1" burst 64k cburst 64k
    tc filter add dev lo protocol ip parent 1: prio 1 u32 match ip dport "$2" 0xffff flowid 1:20
    tc filter add dev lo protocol ip parent 1: prio 1 u32 match ip sport "$2" 0xffff flowid 1:30
}

# bench_make_image NAME WORK MB LAYERS: builds image NAME of LAYERS layers, MB in all, of real
# files: libraries, docs, Python's standard library, toolchain files.
bench_make_image() {
    local name=$1 work=$2 mb=$3 layers=$4 ctx=$2/ctx i
    rm -rf "$ctx"; mkdir -p "$ctx"
    python3 - "$ctx" "$mb" "$layers" <<'PY'
import os, shutil, sys
ctx, mb, layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
roots = ["/usr/lib/x86_64-linux-gnu", "/usr/share/doc", "/usr/lib/python3.11", "/usr/share/locale",
         "/root/.rustup/toolchains", "/usr/lib/gcc", "/usr/share/man", "/usr/include"]
files = []
for root in roots:
    for d, _, names in os.walk(root):
        for n in sorted(names):
            p = os.path.join(d, n)
            if os.path.isfile(p) and not os.path.islink(p):
                files.append(p)
budget, per = mb * 1_000_000, mb * 1_000_000 // layers
layer, used, total = 0, 0, 0
for p in files:
    size = os.path.getsize(p)
    if size > per or total + size > budget:
        continue
    if used + size > per and layer < layers - 1:
        layer, used = layer + 1, 0
    dst = os.path.join(ctx, f"l{layer}", p.lstrip("/"))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    shutil.copyfile(p, dst)
    used += size; total += size
    if total >= budget * 0.99:
        break
PY
    printf 'FROM scratch\n' >"$ctx/Dockerfile"
    for ((i = 0; i < layers; i++)); do printf 'COPY l%d /\n' "$i" >>"$ctx/Dockerfile"; done
    bench_build "$name" "$ctx" "$work"
}

# bench_make_five NAME WORK: the 5-layer image of issue 19, one directory of real files a layer:
# gcc's library directory, Python 3.11's standard library, Debian's package documentation,
# perl's library and the Rust toolchain's x86_64 target libraries (about 560 MB).
bench_make_five() {
    local name=$1 work=$2 ctx=$2/ctx i=0 dir
    rm -rf "$ctx"; mkdir -p "$ctx"
    printf 'FROM scratch\n' >"$ctx/Dockerfile"
    for dir in /usr/lib/gcc /usr/lib/python3.11 /usr/share/doc "/usr/share/perl /usr/lib/x86_64-linux-gnu/perl" \
        "$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/lib"; do
        mkdir -p "$ctx/l$i"
        # shellcheck disable=SC2086 # the perl layer is two directories
        cp -rL --parents $dir "$ctx/l$i/" 2>/dev/null || true
        printf 'COPY l%d /\n' "$i" >>"$ctx/Dockerfile"
        i=$((i + 1))
    done
    bench_build "$name" "$ctx" "$work"
}

bench_build() {
    docker build -q -t "$1" "$2" >/dev/null 2>"$3/build.log" || { cat "$3/build.log" >&2; die "docker build of $1"; }
    rm -rf "$2"
}
