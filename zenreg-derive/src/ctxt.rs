//! Collects every error found while reading a macro's input, so they can be reported together.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use std::fmt::Display;

/// Error sink in the style of serde_derive's `Ctxt`: errors are pushed as they are found and
/// combined into one `syn::Error` at the end, each keeping its own span.
///
/// It must end in [`check`](Ctxt::check) (or be [`append`](Ctxt::append)ed to another): a `Ctxt`
/// dropped unchecked panics the macro with "forgot to check for errors", so no path through an
/// expansion can lose the errors it collected.
pub struct Ctxt {
    // `None` once checked.
    errors: Option<Vec<syn::Error>>,
}

impl Default for Ctxt {
    fn default() -> Self {
        Ctxt { errors: Some(Vec::new()) }
    }
}

impl Ctxt {
    fn errors(&mut self) -> &mut Vec<syn::Error> {
        // A checked `Ctxt` has been consumed, so every reachable one holds its list.
        self.errors.get_or_insert_with(Vec::new)
    }

    /// Records an error spanned on `tokens`.
    pub fn error_spanned_by<T: ToTokens, M: Display>(&mut self, tokens: T, message: M) {
        self.errors().push(syn::Error::new_spanned(tokens.into_token_stream(), message));
    }

    /// Records an error at `span`.
    pub fn error<M: Display>(&mut self, span: Span, message: M) {
        self.errors().push(syn::Error::new(span, message));
    }

    /// Records an already built error.
    pub fn syn_error(&mut self, error: syn::Error) {
        self.errors().push(error);
    }

    /// Takes over the errors of `other` (which counts as checked: its errors live on here).
    pub fn append(&mut self, mut other: Ctxt) {
        let taken = other.errors.take().unwrap_or_default();
        self.errors().extend(taken);
    }

    /// All errors as `compile_error!` invocations, or `None` when there were none. Consumes the
    /// context: this is the one way to end it.
    pub fn check(mut self) -> Option<TokenStream> {
        let mut errors = self.errors.take().unwrap_or_default().into_iter();
        let mut combined = errors.next()?;
        for error in errors {
            combined.combine(error);
        }
        Some(combined.to_compile_error())
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        // Not while unwinding from another panic: that one is the one to report.
        if self.errors.is_some() && !std::thread::panicking() {
            panic!("forgot to check for errors");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[should_panic(expected = "forgot to check for errors")]
    fn a_context_dropped_unchecked_panics() {
        let mut cx = Ctxt::default();
        cx.error(Span::call_site(), "lost");
    }

    #[test]
    #[should_panic(expected = "forgot to check for errors")]
    fn an_empty_context_dropped_unchecked_panics_too() {
        drop(Ctxt::default());
    }

    #[test]
    fn checked_and_appended_contexts_drop_quietly() {
        let mut outer = Ctxt::default();
        let mut inner = Ctxt::default();
        inner.error(Span::call_site(), "first");
        outer.append(inner);
        outer.error(Span::call_site(), "second");
        let errors = outer.check().expect("two errors").to_string();
        assert!(errors.contains("first") && errors.contains("second"), "{errors}");
        assert!(Ctxt::default().check().is_none());
    }
}
