#!/usr/bin/env bash
# The main job, on a fresh machine: start Docker Engine and a local registry (Debian's
# docker.io and docker-registry, loopback only) unless they are running, build a tiny image
# locally, register a `default` container registry in zenreg's embedded store, push the image
# through it and print the digest.
#
#   bash scripts/push-demo.sh
#
# The services keep running afterwards (`scripts/services.sh stop` stops them).
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/services.sh start docker registry)"

echo "==> building zenreg (release)" >&2
cargo build --release --locked -q -p zenreg-cli
zenreg=target/release/zenreg

echo "==> building a tiny local image" >&2
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
printf 'pushed by zenreg at %s\n' "$(date -u +%FT%TZ)" > "$context/hello.txt"
printf 'FROM scratch\nCOPY hello.txt /hello.txt\n' > "$context/Dockerfile"
image="$ZENREG_REGISTRY/zenreg-hello:latest"
docker build -q -t "$image" "$context" >/dev/null 2>"$context/build.log" || { cat "$context/build.log" >&2; exit 1; }

echo "==> registering container registry 'local' ($ZENREG_REGISTRY) in $("$zenreg" --version)" >&2
if "$zenreg" container-registry describe local >/dev/null 2>&1; then
    "$zenreg" container-registry update local --uri="$ZENREG_REGISTRY"
else
    "$zenreg" container-registry register local --flavor default --uri="$ZENREG_REGISTRY"
fi

echo "==> pushing $image" >&2
"$zenreg" container-registry push "$image" --registry local
