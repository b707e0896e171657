//! `#[derive(Flavor)]`: implements `zenreg_core::Flavor` for a unit struct and submits its static
//! descriptor to the inventory, so linking the crate registers the flavor.

use crate::attrs;
use crate::ctxt::Ctxt;
use crate::suggest::closest;
use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::meta::ParseNestedMeta;
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr, Path, Type};

/// Every key `#[flavor(...)]` accepts, in the order the docs list them.
const KEYS: &[&str] = &[
    "name",
    "config",
    "implementation",
    "feature",
    "display_name",
    "docs_url",
    "sdk_docs_url",
    "logo_url",
    "connector_type",
    "post_registration_message",
    "crate",
];

/// Longest flavor name accepted, as ZenML's store column allows.
const MAX_NAME_LEN: usize = 255;

#[derive(Default)]
struct Attrs {
    name: Option<LitStr>,
    config: Option<Type>,
    implementation: Option<LitStr>,
    feature: Option<LitStr>,
    display_name: Option<LitStr>,
    docs_url: Option<LitStr>,
    sdk_docs_url: Option<LitStr>,
    logo_url: Option<LitStr>,
    connector_type: Option<LitStr>,
    post_registration_message: Option<LitStr>,
    krate: Option<Path>,
}

pub fn expand(input: TokenStream) -> TokenStream {
    let input: DeriveInput = match syn::parse2(input) {
        Ok(input) => input,
        Err(error) => return error.to_compile_error(),
    };
    let mut cx = Ctxt::default();
    check_shape(&mut cx, &input);
    let attrs = parse_attrs(&mut cx, &input);
    let krate = attrs.krate.clone().unwrap_or_else(|| syn::parse_quote!(::zenreg_core));
    match (cx.check(), attrs.name.as_ref(), attrs.config.as_ref()) {
        (None, Some(name), Some(config)) => generate(&input, &attrs, name, config, &krate),
        (errors, _, _) => {
            let errors = errors.unwrap_or_default();
            let fallback = fallback(&input, &krate);
            quote! { #errors #fallback }
        }
    }
}

fn check_shape(cx: &mut Ctxt, input: &DeriveInput) {
    match &input.data {
        Data::Struct(data) => match &data.fields {
            Fields::Unit => {}
            fields => cx.error_spanned_by(
                fields,
                "#[derive(Flavor)] needs a unit struct (`pub struct MyFlavor;`): the flavor is a \
                 marker type, its settings belong in the config struct",
            ),
        },
        Data::Enum(data) => cx.error_spanned_by(
            data.enum_token,
            "#[derive(Flavor)] cannot be used on an enum: declare a unit struct (`pub struct MyFlavor;`)",
        ),
        Data::Union(data) => cx.error_spanned_by(
            data.union_token,
            "#[derive(Flavor)] cannot be used on a union: declare a unit struct (`pub struct MyFlavor;`)",
        ),
    }
    if !input.generics.params.is_empty() {
        cx.error_spanned_by(&input.generics, "a flavor type cannot be generic");
    }
}

fn parse_attrs(cx: &mut Ctxt, input: &DeriveInput) -> Attrs {
    let mut attrs = Attrs::default();
    let mut seen_attr = false;
    // Keys written at all, even with a wrong value: a key given wrongly is not also "missing".
    let mut written: Vec<String> = Vec::new();
    for attr in input.attrs.iter().filter(|attr| attr.path().is_ident("flavor")) {
        seen_attr = true;
        attrs::for_each_key(cx, attr, &mut |cx, key, meta| {
            fn set<T>(cx: &mut Ctxt, slot: &mut Option<T>, value: T, key: &str, meta: &ParseNestedMeta) {
                if slot.is_some() {
                    cx.error(meta.path.span(), format!("duplicate flavor attribute `{key}`: give it once"));
                } else {
                    *slot = Some(value);
                }
            }
            if KEYS.contains(&key) {
                written.push(key.to_string());
            }
            match key {
                "name" => set(cx, &mut attrs.name, string(meta, key)?, key, meta),
                "config" => set(cx, &mut attrs.config, meta.value()?.parse::<Type>()?, key, meta),
                "implementation" => set(cx, &mut attrs.implementation, string(meta, key)?, key, meta),
                "feature" => set(cx, &mut attrs.feature, string(meta, key)?, key, meta),
                "display_name" => set(cx, &mut attrs.display_name, string(meta, key)?, key, meta),
                "docs_url" => set(cx, &mut attrs.docs_url, string(meta, key)?, key, meta),
                "sdk_docs_url" => set(cx, &mut attrs.sdk_docs_url, string(meta, key)?, key, meta),
                "logo_url" => set(cx, &mut attrs.logo_url, string(meta, key)?, key, meta),
                "connector_type" => set(cx, &mut attrs.connector_type, string(meta, key)?, key, meta),
                "post_registration_message" => {
                    set(cx, &mut attrs.post_registration_message, string(meta, key)?, key, meta)
                }
                "crate" => set(cx, &mut attrs.krate, meta.value()?.parse::<Path>()?, key, meta),
                _ => {
                    let hint = match closest(key, KEYS) {
                        Some(suggestion) => {
                            // `nmae = …` is `name` misspelt, not `name` missing as well.
                            written.push(suggestion.to_string());
                            format!("; did you mean `{suggestion}`?")
                        }
                        None => format!("; expected one of: {}", KEYS.join(", ")),
                    };
                    return Err(meta.error(format!("unknown flavor attribute `{key}`{hint}")));
                }
            }
            Ok(())
        });
    }
    if !seen_attr {
        cx.error_spanned_by(&input.ident, "#[derive(Flavor)] needs `#[flavor(name = \"...\", config = ConfigType)]`");
        return attrs;
    }
    match &attrs.name {
        None if !written.iter().any(|k| k == "name") => {
            cx.error_spanned_by(&input.ident, "missing `name` in #[flavor(...)]: add `name = \"my_flavor\"`")
        }
        None => {}
        Some(name) => {
            if let Err(message) = check_name(&name.value()) {
                cx.error_spanned_by(name, message);
            }
        }
    }
    if attrs.config.is_none() && !written.iter().any(|k| k == "config") {
        cx.error_spanned_by(
            &input.ident,
            "missing `config` in #[flavor(...)]: add `config = MyConfig`, a struct annotated with #[flavor_config]",
        );
    }
    if let Some(feature) = &attrs.feature
        && feature.value().trim().is_empty()
    {
        cx.error_spanned_by(feature, "`feature` cannot be empty: name the cargo feature that links the implementation");
    }
    attrs
}

/// The string literal after `key =`, or an error that says so.
fn string(meta: &ParseNestedMeta, key: &str) -> syn::Result<LitStr> {
    meta.value()?
        .parse::<LitStr>()
        .map_err(|error| syn::Error::new(error.span(), format!("`{key}` takes a string literal: `{key} = \"...\"`")))
}

/// Flavor names are what users type: `[a-z][a-z0-9_]*`, at most 255 chars.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("flavor name cannot be empty".into());
    }
    if name.len() > MAX_NAME_LEN {
        return Err(format!("flavor name is {} characters long; the limit is {MAX_NAME_LEN}", name.len()));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    if !first_ok || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(format!(
            "invalid flavor name `{name}`: use lowercase letters, digits and `_`, starting with a letter (e.g. `my_registry`)"
        ));
    }
    Ok(())
}

fn opt(value: &Option<LitStr>) -> TokenStream {
    match value {
        Some(value) => quote!(::core::option::Option::Some(#value)),
        None => quote!(::core::option::Option::None),
    }
}

fn generate(input: &DeriveInput, attrs: &Attrs, name: &LitStr, config: &Type, krate: &Path) -> TokenStream {
    let ident = &input.ident;
    let ident_str = ident.to_string();
    let display_name =
        attrs.display_name.clone().unwrap_or_else(|| LitStr::new(&default_display_name(&name.value()), name.span()));
    let implementation = opt(&attrs.implementation);
    let feature = opt(&attrs.feature);
    let docs_url = opt(&attrs.docs_url);
    let sdk_docs_url = opt(&attrs.sdk_docs_url);
    let logo_url = opt(&attrs.logo_url);
    let connector_type = opt(&attrs.connector_type);
    let post_registration_message = opt(&attrs.post_registration_message);
    let docs = doc_text(input);
    // The associated type carries the span of the user's `config = ...` so that a type which is
    // not a flavor config is reported there, once.
    let config_assoc = quote_spanned!(config.span()=> type Config = #config;);
    quote! {
        #[automatically_derived]
        impl #krate::Flavor for #ident {
            #config_assoc
            const NAME: &'static str = #name;
            fn descriptor() -> &'static #krate::FlavorDescriptor {
                static DESCRIPTOR: #krate::FlavorDescriptor = #krate::FlavorDescriptor {
                    name: #name,
                    display_name: #display_name,
                    description: #docs,
                    component_type: #krate::__private::component_type_of::<#ident>(),
                    integration: ::core::env!("CARGO_PKG_NAME"),
                    source: ::core::concat!(::core::module_path!(), "::", #ident_str),
                    implementation: #implementation,
                    feature: #feature,
                    docs_url: #docs_url,
                    sdk_docs_url: #sdk_docs_url,
                    logo_url: #logo_url,
                    connector_type: #connector_type,
                    post_registration_message: #post_registration_message,
                    config: #krate::__private::config_vtable_of::<#ident>(),
                };
                &DESCRIPTOR
            }
        }
        #krate::__private::inventory::submit! {
            #krate::__private::FlavorRegistration(<#ident as #krate::Flavor>::descriptor)
        }
    }
}

/// Keeps a failed derive from cascading: the type still implements `Flavor`, with bodies that
/// are never compiled into a program because the crate already has an error.
fn fallback(input: &DeriveInput, krate: &Path) -> TokenStream {
    let ident = &input.ident;
    if !input.generics.params.is_empty() {
        return TokenStream::new();
    }
    quote! {
        #[automatically_derived]
        impl #krate::Flavor for #ident {
            type Config = #krate::__private::FallbackConfig;
            const NAME: &'static str = "";
            fn descriptor() -> &'static #krate::FlavorDescriptor {
                ::core::unreachable!()
            }
        }
    }
}

/// `github_registry` -> `Github Registry`.
fn default_display_name(name: &str) -> String {
    name.split('_')
        .filter(|word| !word.is_empty())
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The type's doc comment, joined into one paragraph-preserving string.
fn doc_text(input: &DeriveInput) -> LitStr {
    let mut lines = Vec::new();
    for attr in &input.attrs {
        if attr.path().is_ident("doc")
            && let syn::Meta::NameValue(nv) = &attr.meta
            && let syn::Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) = &nv.value
        {
            lines.push(s.value().trim().to_string());
        }
    }
    LitStr::new(lines.join("\n").trim(), Span::call_site())
}
