//! Procedural macros behind zenreg's compile-time flavor registry.
//!
//! Do not depend on this crate directly: `zenreg-core` re-exports both macros, and the code they
//! generate reaches serde, validator, schemars and inventory through `zenreg_core::__private`, so
//! a downstream crate needs `zenreg-core` alone.
//!
//! Misuse is reported as one error spanned on the offending token. When the input is wrong the
//! macros still emit a minimal fallback (the item unchanged, a trait impl whose bodies are never
//! reached) so the compiler does not add a cascade of "trait not implemented" errors.

mod config;
mod ctxt;
mod flavor;
mod suggest;

use proc_macro::TokenStream;

/// Makes a struct a flavor config.
///
/// See `zenreg_core::flavor_config` for the full documentation.
#[proc_macro_attribute]
pub fn flavor_config(args: TokenStream, input: TokenStream) -> TokenStream {
    config::expand(args.into(), input.into()).into()
}

/// Makes a unit struct a flavor and registers it.
///
/// See `zenreg_core::Flavor` for the full documentation.
#[proc_macro_derive(Flavor, attributes(flavor))]
pub fn derive_flavor(input: TokenStream) -> TokenStream {
    flavor::expand(input.into()).into()
}
