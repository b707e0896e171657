//! zenreg-core: container-registry flavors registered at compile time.
//!
//! A *flavor* couples a *config* (validated when a component is registered) with an
//! *implementation* (used when pushing). Both are ordinary Rust types:
//!
//! ```
//! use zenreg_core::{flavor_config, Flavor};
//!
//! /// Configuration of the Acme registry.
//! #[flavor_config(container_registry)]
//! pub struct AcmeRegistryConfig {
//!     /// Project that images are pushed into.
//!     #[validate(length(min = 1))]
//!     pub project: String,
//! }
//!
//! /// The Acme registry.
//! #[derive(Flavor)]
//! #[flavor(name = "acme", config = AcmeRegistryConfig,
//!          implementation = "acme_registry::AcmeRegistry", feature = "acme")]
//! pub struct AcmeRegistryFlavor;
//!
//! let catalog = zenreg_core::Catalog::global();
//! let acme = catalog.flavor(zenreg_core::ComponentType::ContainerRegistry, "acme").unwrap();
//! assert!(acme.descriptor.source.ends_with("::AcmeRegistryFlavor"));
//! assert_eq!(acme.descriptor.feature, Some("acme"));
//! ```
//!
//! Linking the crate that defines a flavor registers it (through `inventory`); the catalog
//! ([`Catalog::global`]) lists every linked flavor.
//!
//! # What this crate is, and is not
//!
//! zenreg-core is the **flavor SDK**: what a crate that defines a flavor needs, and nothing more
//! (serde, validator, schemars, inventory, thiserror and secrecy; no store, no command line, no
//! Docker, no C compiler). The rest of zenreg is layered on top, each crate wrapping the errors of the one
//! below:
//!
//! | crate | job |
//! |---|---|
//! | `zenreg-derive` | the macros, re-exported here |
//! | `zenreg-core` | component types, configs and their validation, flavors, implementations, the catalog, the built-in flavors |
//! | `zenreg-store` | the embedded store and the `Client` API (components, secrets) |
//! | `zenreg-push` | the push flow, the Docker Engine transport, Docker config credentials |
//! | `zenreg-cli` | every built-in command, `zenreg_cli::main()` for any binary, and the `zenreg` binary |
//!
//! # API change: credentials are secret types
//!
//! [`Credentials::password`] is a [`SecretString`] (re-exported from `secrecy`), no longer a
//! `String`: it is zeroized when dropped and never printed. Build credentials with
//! [`Credentials::new`] (or `password: value.into()`), and read the value with
//! [`ExposeSecret::expose_secret`] only where it is sent:
//!
//! ```
//! use zenreg_core::{Credentials, ExposeSecret};
//!
//! let token = String::from("from-the-registry-login");
//! let credentials = Credentials::new("AWS", token);
//! assert_eq!(credentials.password.expose_secret(), "from-the-registry-login");
//! ```
//!
//! Modules depend on each other in one direction only: `component` ← `config` ← `error` ←
//! `flavor` ← `registry` (with `diagnostics`, `reference`) ← `catalog` ← `builtin`.

extern crate self as zenreg_core;

pub mod builtin;
pub mod catalog;
pub mod component;
pub mod config;
pub mod diagnostics;
pub mod error;
pub mod flavor;
pub mod reference;
pub mod registry;
pub mod uri;

pub use catalog::{Catalog, FlavorEntry};
pub use component::ComponentType;
pub use config::{
    ConfigErrors, ConfigProblem, ConfigVTable, ContainerRegistryConfig, FieldInfo, FlavorConfig, JsonObject,
};
pub use diagnostics::{Diagnostic, Diagnostics, Level};
pub use error::{CatalogError, Error};
pub use flavor::{Flavor, FlavorDescriptor};
pub use reference::{Reference, ReferenceError};
pub use registry::{
    ContainerRegistry, Credentials, DynContainerRegistry, ImplementationDescriptor, is_valid_image_name_for_registry,
};
/// The secret types of [`Credentials`] (from `secrecy`), so that flavor crates need no
/// dependency of their own to build or read them.
pub use secrecy::{ExposeSecret, SecretString};

/// Makes a struct a flavor config.
///
/// `#[flavor_config(container_registry)]` on a struct with named fields:
/// - injects the base fields `uri: String`, `authentication_secret: Option<String>` and
///   `default_repository: Option<String>` unless the struct declares them (with those types)
///   itself, e.g. to attach its own validators to `uri`;
/// - derives `Debug`, `Clone`, serde (unknown keys are rejected), `validator::Validate` (use
///   `#[validate(...)]` on fields) and `schemars::JsonSchema` (doc comments become descriptions);
/// - strips trailing `/` from `uri`;
/// - implements [`FlavorConfig`] and [`ContainerRegistryConfig`].
///
/// Options: `validate = path::to_fn` adds a struct-level check
/// `fn(&Self) -> Result<(), zenreg_core::__private::validator::ValidationError>` (repeatable);
/// `crate = path` names zenreg-core when it is renamed.
pub use zenreg_derive::flavor_config;

/// Makes a unit struct a flavor and registers it in the catalog.
///
/// ```text
/// #[derive(Flavor)]
/// #[flavor(name = "acme", config = AcmeRegistryConfig,
///          implementation = "acme_registry::AcmeRegistry", feature = "acme",
///          display_name = "Acme", docs_url = "...", sdk_docs_url = "...",
///          logo_url = "...", connector_type = "...")]
/// pub struct AcmeRegistryFlavor;
/// ```
///
/// `name` (`[a-z][a-z0-9_]*`, at most 255 characters) and `config` (a type annotated with
/// [`flavor_config`]) are required. `implementation` is the Rust path of the type that pushes
/// and `feature` the cargo feature of the binary that links it.
pub use zenreg_derive::Flavor;

/// What the generated code needs; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::config::private::*;
    pub use crate::flavor::{FlavorRegistration, component_type_of, config_vtable_of};
    pub use crate::registry::{ImplementationRegistration, build_container_registry};
    pub use inventory;
    pub use schemars;
    pub use serde;
    pub use serde_json;
    pub use validator;
}
