//! Procedural macros behind zenreg's compile-time flavor registry.
//!
//! Do not depend on this crate directly: `zenreg-core` re-exports both macros, and the code they
//! generate reaches serde, validator, schemars and inventory through `zenreg_core::__private`, so
//! a downstream crate needs `zenreg-core` alone.
//!
//! Misuse is reported as spanned errors, all of them in one build (as serde_derive's `Ctxt`
//! does). When the input is wrong the macros still emit a minimal fallback (the item, trait impls
//! whose bodies are never reached) so the compiler does not add a cascade of "trait not
//! implemented" errors.

mod attrs;
mod case;
mod config;
mod ctxt;
mod flavor;
mod suggest;

use proc_macro::TokenStream;

/// Makes a struct a flavor config.
///
/// ```text
/// #[flavor_config(container_registry)]
/// #[serde(rename_all = "camelCase")]
/// pub struct AcmeRegistryConfig {
///     /// Project that images are pushed into.
///     #[validate(length(min = 1))]
///     pub project_name: String,             // key `projectName`
///     #[serde(default = "four", alias = "jobs")]
///     pub parallelism: u32,                 // optional, `jobs` accepted as input
///     pub mirror: Option<String>,           // optional
/// }
/// ```
///
/// On a struct with named fields, `#[flavor_config(container_registry)]`:
/// - injects the base fields `uri: String`, `authentication_secret: Option<String>` and
///   `default_repository: Option<String>` unless the struct declares them (with those types)
///   itself, e.g. to attach its own validators to `uri`. Base fields keep their names whatever
///   `rename_all` says; renaming one is an error.
/// - derives `Debug`, `Clone`, serde's `Serialize`/`Deserialize` (unknown keys are rejected),
///   `validator::Validate` (use `#[validate(...)]` on fields) and `schemars::JsonSchema` (doc
///   comments become descriptions), all through `zenreg_core::__private`. The derive is placed
///   before every other attribute, so `#[serde]`, `#[validate]` and `#[schemars]` can be written
///   on the struct and its fields. A derive of one of those written by the user is dropped.
/// - implements `FlavorConfig` and `ContainerRegistryConfig`; `from_json` reports every problem
///   at once, strips trailing `/` from `uri`, and `to_json` leaves unset optional fields out.
///
/// Options: `validate = path::to_fn` adds a struct-level check
/// `fn(&Self) -> Result<(), zenreg_core::__private::validator::ValidationError>` (repeatable);
/// `crate = path` names zenreg-core when it is renamed.
///
/// # Field names and serde attributes
///
/// Config keys are serde's names, read from the serde attributes as serde reads them; the field
/// table (`FlavorConfig::FIELDS`), required fields, the unknown-key check, secret-reference
/// checks and the JSON Schema all use them.
///
/// Supported on the struct: `rename_all = "…"` (every serde convention; the
/// `rename_all(serialize = …, deserialize = …)` form only when both sides agree), `default`,
/// `default = "path"`, `deny_unknown_fields` (implied anyway), `rename`, `expecting`.
/// On fields: `rename = "…"` (or both sides equal), `alias = "…"` (accepted as input; the
/// canonical name is stored), `default`, `default = "path"`, `skip` and `skip_deserializing`
/// (the field is then no config key), `skip_serializing_if` (on a field that may be missing),
/// `deserialize_with`, `with`, `serialize_with` together with a deserializer.
///
/// Refused with a spanned error saying why (they would make zenreg's view of the fields differ
/// from serde's, or break the stored round trip): `flatten`, `tag`, `untagged`, `content`,
/// `transparent`, `from`, `try_from`, `into`, `remote`, `borrow`, `getter`, `bound`,
/// `field_identifier`, `variant_identifier`, `rename_all_fields`, `crate`, `skip_serializing`
/// alone, `serialize_with` alone, and a `rename`/`rename_all` whose serialize and deserialize
/// names differ. In `#[schemars(...)]`, the keys schemars shares with serde (`rename`, `default`,
/// `skip`, `flatten`, …) are refused too, and so is `#[validate(context = …)]`. Attributes inside
/// `cfg_attr` cannot be read and are refused.
///
/// # Required fields
///
/// A field is required unless it has a default or is an `Option` (under any path, or behind a
/// type alias: the compiler decides, not the spelling of the type). A field with
/// `deserialize_with`/`with` and no default is required, as serde requires it. `required` in
/// `#[validate(...)]` or `#[schemars(...)]` makes a field required. On a field:
/// `#[flavor(required)]` forces it to be required; `#[flavor(optional)]` states that it is
/// optional, which the compiler checks.
#[proc_macro_attribute]
pub fn flavor_config(args: TokenStream, input: TokenStream) -> TokenStream {
    config::expand(args.into(), input.into()).into()
}

/// Makes a unit struct a flavor and registers it in the catalog.
///
/// ```text
/// #[derive(Flavor)]
/// #[flavor(name = "acme", config = AcmeRegistryConfig,
///          implementation = "acme_registry::AcmeRegistry", feature = "acme",
///          display_name = "Acme", docs_url = "...", sdk_docs_url = "...",
///          logo_url = "...", connector_type = "...", post_registration_message = "...",
///          crate = ::zenreg_core)]
/// pub struct AcmeRegistryFlavor;
/// ```
///
/// `name` (`[a-z][a-z0-9_]*`, at most 255 characters) and `config` (a type annotated with
/// `#[flavor_config]`) are required. `implementation` is the Rust path of the type that pushes
/// and `feature` the cargo feature of the binary that links it. The type's doc comment is the
/// flavor's description. Every mistake in `#[flavor(...)]` (unknown or duplicated keys, bad
/// values, a missing key) is reported, all in one build.
#[proc_macro_derive(Flavor, attributes(flavor))]
pub fn derive_flavor(input: TokenStream) -> TokenStream {
    flavor::expand(input.into()).into()
}
