#!/usr/bin/env python3
"""Writes a throwaway Cargo workspace that measures the scale of zenreg's flavor system.

    scripts/bench/gen_flavors.py --out DIR --zenreg-core PATH [--flavors 1000] [--compile 200]
                                 [--lockfile Cargo.lock]

The workspace holds three crates, each depending on zenreg-core by path:

  app      a binary with N flavors, each `#[flavor_config(container_registry)]` +
           `#[derive(Flavor)]` with 2-3 validated fields, whose `main` calls
           `zenreg_cli::main()`; with ZENREG_BENCH_LOOKUPS=R set it instead times the
           catalog (first build, then R rounds of looking up every flavor) and prints JSON.
  macros   a library with M flavors written exactly as in `app` (compile time with the macros).
  serde    a library with the same M config structs and unit structs, but only
           `#[derive(serde::Serialize, serde::Deserialize)]` (the baseline).

One workspace means one lockfile and one feature resolution, so `macros` and `serde` compile
against the very same dependency builds.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shutil

PROFILE = """
[profile.release]
# As in the zenreg workspace, so the binary and its size compare with `zenreg`.
lto = "thin"
codegen-units = 4
strip = "debuginfo"
"""


def config_struct(i: int, macros: bool) -> str:
    """The config of flavor `i`: two or three fields, each with a validator."""
    name = f"Flavor{i:04}Config"
    fields = [
        ("Project that images are pushed into.", "length(min = 1, max = 64)", "project", "String"),
        ("Region of the registry.", "length(min = 2, max = 32)", "region", "Option<String>"),
    ]
    if i % 2 == 0:
        fields.append(("How often a push is retried.", "range(min = 0, max = 10)", "retries", "Option<u32>"))
    lines = [f"/// Configuration of bench flavor {i}."]
    if macros:
        lines.append("#[flavor_config(container_registry)]")
    else:
        # The base fields the macro injects, so both variants carry the same data.
        lines.append("#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]")
        lines.append("#[serde(deny_unknown_fields)]")
    lines.append(f"pub struct {name} {{")
    if not macros:
        lines += [
            "    /// The registry URI.",
            "    pub uri: String,",
            "    /// Secret with the registry credentials.",
            "    pub authentication_secret: Option<String>,",
            "    /// Repository images are tagged into by default.",
            "    pub default_repository: Option<String>,",
        ]
    for doc, validator, field, ty in fields:
        lines.append(f"    /// {doc}")
        if macros:
            lines.append(f"    #[validate({validator})]")
        lines.append(f"    pub {field}: {ty},")
    lines.append("}")
    return "\n".join(lines)


def flavor_struct(i: int, macros: bool) -> str:
    lines = [f"/// Bench flavor {i}: a registry that exists only to be listed."]
    if macros:
        lines += [
            "#[derive(Flavor)]",
            f'#[flavor(name = "bench_{i:04}", config = Flavor{i:04}Config, '
            f'implementation = "bench::BenchRegistry{i:04}", feature = "bench-{i:04}")]',
        ]
    else:
        lines.append("#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]")
    lines.append(f"pub struct Flavor{i:04};")
    return "\n".join(lines)


def flavors_module(count: int, macros: bool, header: str) -> str:
    parts = [header]
    if macros:
        parts.append("use zenreg_core::{Flavor, flavor_config};\n")
    for i in range(1, count + 1):
        parts.append(config_struct(i, macros))
        parts.append(flavor_struct(i, macros) + "\n")
    return "\n".join(parts)


APP_MAIN = r"""//! `zenreg`'s commands over N generated flavors; with ZENREG_BENCH_LOOKUPS=R, a timing loop.

mod flavors;

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;
use zenreg_core::{Catalog, ComponentType};

fn main() -> ExitCode {
    match std::env::var("ZENREG_BENCH_LOOKUPS") {
        Ok(rounds) => lookups(rounds.parse().unwrap_or(200)),
        Err(_) => zenreg_cli::main(),
    }
}

/// Times the first `Catalog::global()` (built from the inventory) and then `rounds` rounds of
/// looking up every flavor by name; prints the per-lookup median, min and max over rounds.
fn lookups(rounds: usize) -> ExitCode {
    let started = Instant::now();
    let catalog = Catalog::global();
    let names = catalog.names(ComponentType::ContainerRegistry);
    let build_us = started.elapsed().as_secs_f64() * 1e6;
    let mut per_lookup_ns = Vec::with_capacity(rounds);
    for _ in 0..rounds.max(1) {
        let round = Instant::now();
        for name in &names {
            black_box(catalog.flavor(ComponentType::ContainerRegistry, black_box(name)).is_ok());
        }
        per_lookup_ns.push(round.elapsed().as_secs_f64() * 1e9 / names.len() as f64);
    }
    per_lookup_ns.sort_by(f64::total_cmp);
    let median = per_lookup_ns[per_lookup_ns.len() / 2];
    println!(
        "{{\"flavors\": {}, \"rounds\": {}, \"catalog_build_us\": {:.1}, \"lookup_ns_median\": {:.2}, \
         \"lookup_ns_min\": {:.2}, \"lookup_ns_max\": {:.2}}}",
        names.len(),
        per_lookup_ns.len(),
        build_us,
        median,
        per_lookup_ns[0],
        per_lookup_ns[per_lookup_ns.len() - 1]
    );
    ExitCode::SUCCESS
}
"""


def write(path: pathlib.Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def manifest(name: str, core: pathlib.Path, lib: bool, serde_only: bool) -> str:
    kind = "[lib]\npath = \"src/lib.rs\"\n" if lib else "[[bin]]\nname = \"zenreg-scale\"\npath = \"src/main.rs\"\n"
    deps = ['serde = { version = "1", features = ["derive"] }'] if serde_only else [f'zenreg-core = {{ path = "{core}" }}']
    if not lib:
        # The binary runs the built-in commands, which live in zenreg-cli beside zenreg-core.
        deps.append(f'zenreg-cli = {{ path = "{core.parent / "zenreg-cli"}" }}')
    return (
        f'[package]\nname = "{name}"\nversion = "0.0.0"\nedition = "2024"\npublish = false\n\n'
        f"{kind}\n[dependencies]\n" + "\n".join(deps) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, type=pathlib.Path, help="directory to create (must not exist)")
    parser.add_argument("--zenreg-core", required=True, type=pathlib.Path, help="path of the zenreg-core crate")
    parser.add_argument("--flavors", type=int, default=1000, help="flavors in the `app` binary")
    parser.add_argument("--compile", type=int, default=200, help="flavors in the `macros` and `serde` crates")
    parser.add_argument("--lockfile", type=pathlib.Path, help="Cargo.lock to start from (pins versions)")
    args = parser.parse_args()

    out: pathlib.Path = args.out
    if out.exists() and any(out.iterdir()):
        parser.error(f"{out} exists and is not empty")
    core = args.zenreg_core.resolve()
    if not (core / "Cargo.toml").is_file() or not re.search(r'name = "zenreg-core"', (core / "Cargo.toml").read_text()):
        parser.error(f"{core} is not the zenreg-core crate")

    write(
        out / "Cargo.toml",
        '[workspace]\nresolver = "3"\nmembers = ["app", "macros", "serde"]\n' + PROFILE,
    )
    if args.lockfile:
        shutil.copyfile(args.lockfile, out / "Cargo.lock")

    write(out / "app/Cargo.toml", manifest("zenreg-scale-app", core, lib=False, serde_only=False))
    write(out / "app/src/main.rs", APP_MAIN)
    write(
        out / "app/src/flavors.rs",
        flavors_module(args.flavors, True, f"//! {args.flavors} generated flavors.\n#![allow(dead_code)]\n"),
    )

    write(out / "macros/Cargo.toml", manifest("zenreg-scale-macros", core, lib=True, serde_only=False))
    write(
        out / "macros/src/lib.rs",
        flavors_module(args.compile, True, f"//! {args.compile} flavors with zenreg's macros.\n"),
    )
    # The baseline depends on serde only; it shares the workspace (and so serde's build) with the
    # others, so both libraries compile against identical dependency artifacts.
    write(out / "serde/Cargo.toml", manifest("zenreg-scale-serde", core, lib=True, serde_only=True))
    write(
        out / "serde/src/lib.rs",
        flavors_module(args.compile, False, f"//! The same {args.compile} structs with serde derives only.\n"),
    )


if __name__ == "__main__":
    main()
