//! The `{{name}}` container-registry flavor: its config and the flavor type, nothing else.
//!
//! This crate depends on `zenreg-core` alone, so a binary can list the flavor, describe its
//! config and register validated `{{name}}` components without compiling the implementation
//! (`{{kebab}}-impl`) or its dependencies. `tests/crate_split.rs` keeps it that way.
//!
//! - [`{{Camel}}ContainerRegistryConfig`] is what users give at registration. `#[flavor_config]` adds the base
//!   fields every registry has (`uri`, `authentication_secret`, `default_repository`), rejects
//!   unknown keys, and turns the doc comments into the schema `flavor describe {{name}}` shows.
//!   Add fields with `#[validate(...)]` checks; declare `pub uri: String` yourself to give the URI
//!   a validator of its own.
//! - [`{{Camel}}ContainerRegistryFlavor`] carries the metadata. `implementation` and `feature` are plain strings:
//!   this crate never depends on the implementation, and a binary built without the feature
//!   names the feature that is missing.

use zenreg_core::{Flavor, flavor_config};

/// Configuration of a `{{name}}` container registry.
#[flavor_config(container_registry)]
pub struct {{Camel}}ContainerRegistryConfig {
    /// The project (namespace) that images are pushed into: 1 to 64 characters.
    #[validate(length(min = 1, max = 64))]
    pub project: String,
}

/// The `{{name}}` container registry.
#[derive(Flavor)]
#[flavor(
    name = "{{name}}",
    config = {{Camel}}ContainerRegistryConfig,
    implementation = "{{name}}_impl::{{Camel}}ContainerRegistry",
    feature = "{{name}}"
)]
pub struct {{Camel}}ContainerRegistryFlavor;
