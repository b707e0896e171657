//! Micro-benchmarks of the library's hot paths: catalog lookup, config validation and the
//! image-name check of a push. `cargo bench -p zenreg-core` runs them; `scripts/bench.sh`
//! runs them with a short measurement time and copies the medians into BENCHMARKS.md.

// criterion's macros generate undocumented public functions.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;
use std::hint::black_box;
use zenreg_core::{Catalog, ComponentType, Flavor, FlavorConfig, JsonObject, flavor_config};

/// A config with validators on every flavor-specific field, as a downstream crate writes it.
#[flavor_config(container_registry)]
pub struct BenchRegistryConfig {
    /// Project that images are pushed into.
    #[validate(length(min = 1, max = 64))]
    pub project: String,
    /// Region of the registry.
    #[validate(length(min = 2, max = 32))]
    pub region: Option<String>,
    /// How often a push is retried.
    #[validate(range(min = 0, max = 10))]
    pub retries: Option<u32>,
}

/// The flavor of [`BenchRegistryConfig`], linked into the catalog of this benchmark.
#[derive(Flavor)]
#[flavor(name = "bench", config = BenchRegistryConfig, implementation = "bench::BenchRegistry", feature = "bench")]
pub struct BenchRegistryFlavor;

fn object(value: serde_json::Value) -> JsonObject {
    value.as_object().cloned().expect("a JSON object")
}

fn catalog(c: &mut Criterion) {
    let catalog = Catalog::global();
    // Built on first use; the benchmark measures lookups in the built catalog.
    assert!(catalog.flavor(ComponentType::ContainerRegistry, "default").is_ok());
    let mut group = c.benchmark_group("catalog");
    group.bench_function("flavor_hit", |b| {
        b.iter(|| Catalog::global().flavor(ComponentType::ContainerRegistry, black_box("digitalocean")))
    });
    group.bench_function("flavor_miss", |b| {
        b.iter(|| Catalog::global().flavor(ComponentType::ContainerRegistry, black_box("no-such-flavor")))
    });
    group.bench_function("flavors_iterate", |b| {
        b.iter(|| Catalog::global().flavors(black_box(ComponentType::ContainerRegistry)).count())
    });
    group.finish();
}

fn validation(c: &mut Criterion) {
    let catalog = Catalog::global();
    let vtable =
        |name: &str| catalog.flavor(ComponentType::ContainerRegistry, name).expect("flavor linked").descriptor.config;
    let default = vtable("default");
    let digitalocean = vtable("digitalocean");
    let bench = vtable("bench");

    let local = object(json!({ "uri": "localhost:5000/", "default_repository": "team" }));
    let ocean = object(json!({ "uri": "registry.digitalocean.com/my-registry" }));
    let validated = object(json!({
        "uri": "registry.example.com/acme", "project": "ml", "region": "eu-west-1", "retries": 3
    }));
    let invalid = object(json!({ "uri": "", "project": "", "region": "x", "retries": 99, "unknown": true }));
    assert!((default.validate)(&local).is_ok());
    assert!((digitalocean.validate)(&ocean).is_ok());
    assert!((bench.validate)(&validated).is_ok());
    assert!((bench.validate)(&invalid).is_err());

    let mut group = c.benchmark_group("validate");
    group.bench_function("builtin_default", |b| b.iter(|| (default.validate)(black_box(&local))));
    group.bench_function("builtin_digitalocean", |b| b.iter(|| (digitalocean.validate)(black_box(&ocean))));
    group.bench_function("validators_ok", |b| b.iter(|| (bench.validate)(black_box(&validated))));
    group.bench_function("validators_typed_from_json", |b| {
        b.iter(|| BenchRegistryConfig::from_json(black_box(&validated)))
    });
    group.bench_function("validators_all_errors", |b| b.iter(|| (bench.validate)(black_box(&invalid))));
    group.finish();
}

fn image_names(c: &mut Criterion) {
    let mut group = c.benchmark_group("image_name");
    group.bench_function("local_match", |b| {
        b.iter(|| {
            zenreg_core::is_valid_image_name_for_registry(
                black_box("localhost:5000/app:1"),
                black_box("localhost:5000"),
            )
        })
    });
    group.bench_function("path_boundary_miss", |b| {
        b.iter(|| {
            zenreg_core::is_valid_image_name_for_registry(black_box("localhost:50001/app"), black_box("localhost:5000"))
        })
    });
    group.bench_function("docker_hub_prefix", |b| {
        b.iter(|| {
            zenreg_core::is_valid_image_name_for_registry(
                black_box("docker.io/me/app:1"),
                black_box("index.docker.io/me"),
            )
        })
    });
    group.finish();
}

criterion_group!(benches, catalog, validation, image_names);
criterion_main!(benches);
