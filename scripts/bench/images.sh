# shellcheck shell=bash
# Images of real files and a registry of their own for the push benchmarks (sourced by
# bench-push-oci.sh and bench-push-link.sh; `log` and `die` come from the caller).

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
