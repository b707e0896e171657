//! `#[flavor_config(container_registry)]`: turns a named struct into a flavor config.
//!
//! - The generated `#[derive(...)]` comes first among the struct's attributes, then zenreg's own
//!   `#[serde]`/`#[validate]`/`#[schemars]` settings, then the user's attributes: a derive helper
//!   written before the derive that introduces it is a hard error.
//! - The base fields are injected as ordinary fields (not a flattened base struct, which serde
//!   cannot combine with `deny_unknown_fields`), each with an explicit `#[serde(rename)]` so that
//!   `rename_all` never changes the names the store and the push flow read.
//! - Field names come from the serde attributes, read here as serde reads them (see `attrs`);
//!   what zenreg cannot honour is a spanned error.
//! - Whether a field is required follows serde's own rule for a missing field: it may be missing
//!   when it has a default, or when nothing replaces serde's reader (`deserialize_with`) and the
//!   field's type is an `Option`. "Is an `Option`" is decided by the compiler, not by the spelling
//!   of the type: the generated constant `<OptionProbe<T>>::IS_OPTION` resolves to an inherent
//!   constant that exists only for `OptionProbe<Option<U>>`, and otherwise to a trait constant
//!   (`false`). Inherent items win over trait items, so `Option<T>` under any path or behind any
//!   type alias is optional, with no specialization. `#[flavor(required)]` forces a field to be
//!   required; `#[flavor(optional)]` states that it is optional and is checked at compile time.
//! - The derives of serde, validator and schemars are pointed at `zenreg_core::__private`, so the
//!   user's crate needs none of them.
//! - The trait impls are small: they hand the field table to zenreg-core's non-generic
//!   validation and only instantiate serde's decode, validator and serialization once per config.

use crate::attrs::{self, Container, FieldAttrs, Marker, Reader};
use crate::ctxt::Ctxt;
use crate::suggest::closest;
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::ext::IdentExt;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, Field, Fields, Ident, Item, ItemStruct, Path, Token, Type};

/// Component types the attribute knows; only container registries exist so far.
const COMPONENT_TYPES: &[&str] = &["container_registry"];
const OPTION_KEYS: &[&str] = &["validate", "crate"];

/// Derives `#[flavor_config]` adds; a user's own derive of one of these is dropped (serde's,
/// validator's and schemars' would point at the user's crates) or, for the std ones, kept.
const ADDED_DERIVES: &[&str] = &["Serialize", "Deserialize", "Validate", "JsonSchema"];

/// A base field every container-registry config has, with the type it must keep.
struct BaseField {
    name: &'static str,
    ty: &'static str,
    decl: fn() -> TokenStream,
}

const BASE_FIELDS: &[BaseField] = &[
    BaseField {
        name: "uri",
        ty: "String",
        decl: || {
            quote! {
                /// The URI of the registry: host, optional port and path, without a scheme
                /// (e.g. `localhost:5000` or `ghcr.io/my-org`).
                pub uri: ::std::string::String
            }
        },
    },
    BaseField {
        name: "authentication_secret",
        ty: "Option<String>",
        decl: || {
            quote! {
                /// Name of a secret holding the `username` and `password` used to push.
                #[serde(default)]
                pub authentication_secret: ::core::option::Option<::std::string::String>
            }
        },
    },
    BaseField {
        name: "default_repository",
        ty: "Option<String>",
        decl: || {
            quote! {
                /// Repository under the URI that images are tagged into by default.
                #[serde(default)]
                pub default_repository: ::core::option::Option<::std::string::String>
            }
        },
    },
];

struct Args {
    component_type: Option<Ident>,
    validators: Vec<Path>,
    krate: Option<Path>,
}

/// Whether a field must be given, as far as the macro can tell.
enum Required {
    Yes,
    No,
    /// Exactly when the field's type is not an `Option`: decided by the compiler.
    UnlessOption,
}

/// A field of the config as the generated code describes it.
struct ConfigField {
    ident: Ident,
    ty: Type,
    attrs: FieldAttrs,
    /// `#[cfg(...)]` attributes, repeated on everything generated for the field.
    cfgs: Vec<Attribute>,
    required: Required,
    is_uri: bool,
}

pub fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let args = parse_args(&mut cx, args);
    let item: Item = match syn::parse2(input) {
        Ok(item) => item,
        Err(error) => {
            // Not Rust at all: rustc's own error is the one to show, the arguments' would be noise.
            drop(cx.check());
            return error.to_compile_error();
        }
    };
    let krate = args.krate.clone().unwrap_or_else(|| syn::parse_quote!(::zenreg_core));
    let mut item = match item {
        Item::Struct(item) => item,
        Item::Enum(item) => {
            cx.error_spanned_by(
                item.enum_token,
                "#[flavor_config] needs a struct with named fields; an enum cannot hold a registry's settings",
            );
            return with_errors(cx, item.to_token_stream());
        }
        other => {
            cx.error_spanned_by(&other, "#[flavor_config] can only be placed on a struct with named fields");
            return with_errors(cx, other.to_token_stream());
        }
    };
    match &item.fields {
        Fields::Named(_) => {}
        Fields::Unnamed(fields) => {
            cx.error_spanned_by(
                fields,
                "#[flavor_config] needs named fields: a tuple struct's fields have no names to configure",
            );
            return with_errors(cx, fallback(item, &krate));
        }
        Fields::Unit => {
            // A unit struct becomes a config with the base fields only.
            item.fields = Fields::Named(syn::parse_quote!({}));
            item.semi_token = None;
        }
    }
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(&item.generics, "a flavor config cannot be generic");
    }
    let container = attrs::container(&mut cx, &item.attrs);
    let fields = read_fields(&mut cx, &container, &mut item);
    check_unique_names(&mut cx, &fields);
    match cx.check() {
        Some(errors) => {
            let fallback = fallback(item, &krate);
            quote!(#errors #fallback)
        }
        None => generate(item, &args, &container, &fields, &krate),
    }
}

fn with_errors(cx: Ctxt, tokens: TokenStream) -> TokenStream {
    let errors = cx.check().unwrap_or_default();
    quote!(#errors #tokens)
}

fn parse_args(cx: &mut Ctxt, args: TokenStream) -> Args {
    let mut out = Args { component_type: None, validators: Vec::new(), krate: None };
    let mut type_written = false;
    let all_keys: Vec<&str> = COMPONENT_TYPES.iter().chain(OPTION_KEYS).copied().collect();
    attrs::for_each_arg(cx, args.clone(), &mut |_, key, meta| {
        match key {
            "validate" => out.validators.push(meta.value()?.parse().map_err(|error| {
                syn::Error::new(
                    error.span(),
                    "`validate` takes the path of a function `fn(&Self) -> Result<(), ValidationError>`",
                )
            })?),
            "crate" => {
                let path: Path = meta
                    .value()?
                    .parse()
                    .map_err(|error| syn::Error::new(error.span(), "`crate` takes a path such as `::zenreg_core`"))?;
                if out.krate.is_some() {
                    return Err(syn::Error::new(
                        meta.path.span(),
                        "duplicate flavor_config option `crate`: give it once",
                    ));
                }
                out.krate = Some(path);
            }
            _ if meta.input.is_empty() || meta.input.peek(Token![,]) => {
                type_written = true;
                if !COMPONENT_TYPES.contains(&key) {
                    let hint = closest(key, &all_keys)
                        .map(|s| format!("did you mean `{s}`?"))
                        .unwrap_or_else(|| format!("expected one of: {}", COMPONENT_TYPES.join(", ")));
                    return Err(syn::Error::new(meta.path.span(), format!("unknown component type `{key}`; {hint}")));
                }
                if out.component_type.is_some() {
                    return Err(syn::Error::new(meta.path.span(), "only one component type can be given"));
                }
                out.component_type = meta.path.get_ident().cloned();
            }
            _ => {
                let hint = closest(key, OPTION_KEYS)
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| "expected a component type, `validate = path` or `crate = path`".into());
                return Err(syn::Error::new(meta.path.span(), format!("unknown flavor_config option `{key}`; {hint}")));
            }
        }
        Ok(())
    });
    if !type_written {
        let message = "missing component type: write #[flavor_config(container_registry)]";
        if args.is_empty() { cx.error(Span::call_site(), message) } else { cx.error_spanned_by(args, message) }
    }
    out
}

/// Reads every field's attributes, injects the base fields the struct does not declare, and puts
/// the three base fields first in a fixed order so every flavor's schema reads the same way.
fn read_fields(cx: &mut Ctxt, container: &Container, item: &mut ItemStruct) -> Vec<ConfigField> {
    let Fields::Named(named) = &mut item.fields else { return Vec::new() };
    let mut rest: Vec<Field> = std::mem::take(&mut named.named).into_iter().collect();
    let mut ordered = Vec::new();
    for base in BASE_FIELDS {
        let declared = rest.iter().position(|f| f.ident.as_ref().is_some_and(|i| i.unraw() == base.name));
        match declared {
            Some(index) => {
                let field = rest.remove(index);
                if normalized_type(&field.ty) != base.ty {
                    cx.error_spanned_by(&field.ty, format!("base field `{}` must have type `{}`", base.name, base.ty));
                }
                ordered.push((field, Some(base.name)));
            }
            None => match Field::parse_named.parse2((base.decl)()) {
                Ok(field) => ordered.push((field, Some(base.name))),
                Err(error) => cx.syn_error(error),
            },
        }
    }
    ordered.extend(rest.into_iter().map(|field| (field, None)));

    let mut out = Vec::new();
    for (mut field, base) in ordered {
        let Some(ident) = field.ident.clone() else { continue };
        let rust_name = ident.unraw().to_string();
        let mut field_attrs = attrs::field(cx, container, &field, &rust_name);
        if let Some(base) = base {
            if let Some(span) = field_attrs.skip_deserializing {
                cx.error(
                    span,
                    format!("base field `{base}` cannot be skipped: every container registry config has it"),
                );
            }
            match &field_attrs.rename {
                Some(rename) if rename.value() != base => cx.error_spanned_by(
                    rename,
                    format!("base field `{base}` keeps its name: the store and the push flow read it as `{base}`"),
                ),
                Some(_) => {}
                None => {
                    // Immune to `rename_all`: the store and the push flow read base fields by name.
                    field.attrs.push(syn::parse_quote!(#[serde(rename = #base)]));
                    field_attrs.name = base.to_string();
                }
            }
        }
        let default = field_attrs.default || container.default;
        let marker = field_attrs.marker;
        let required = match marker {
            _ if default => {
                if let Some((Marker::Required, span)) = marker {
                    cx.error(span, "`flavor(required)` on a field with a default, which is never missing");
                }
                Required::No
            }
            Some((Marker::Required, _)) => Required::Yes,
            _ if field_attrs.required_attr => Required::Yes,
            _ if matches!(field_attrs.reader, Reader::Function(_)) => {
                if let Some((Marker::Optional, span)) = marker {
                    cx.error(
                        span,
                        "`flavor(optional)` on a field with `deserialize_with`/`with` and no default: serde \
                         requires such a field; give it `#[serde(default)]`",
                    );
                }
                Required::Yes
            }
            _ => Required::UnlessOption,
        };
        if let Some(span) = field_attrs.skip_serializing_if
            && matches!(required, Required::Yes)
        {
            cx.error(
                span,
                "`skip_serializing_if` on a required field: a stored config that leaves it out would no longer \
                 validate; give the field `#[serde(default)]`",
            );
        }
        let cfgs = field.attrs.iter().filter(|a| a.path().is_ident("cfg")).cloned().collect();
        out.push(ConfigField {
            is_uri: base == Some("uri"),
            ident,
            ty: field.ty.clone(),
            attrs: field_attrs,
            cfgs,
            required,
        });
        named.named.push(field);
    }
    out
}

/// Two fields (or a field and an alias) answering to one key would make a key ambiguous.
fn check_unique_names(cx: &mut Ctxt, fields: &[ConfigField]) {
    let mut seen: Vec<(String, String)> = Vec::new();
    for field in fields.iter().filter(|f| f.attrs.skip_deserializing.is_none()) {
        let rust = field.ident.to_string();
        let names = std::iter::once((field.attrs.name.clone(), None))
            .chain(field.attrs.aliases.iter().map(|alias| (alias.value(), Some(alias))));
        for (name, alias) in names {
            if let Some((_, owner)) = seen.iter().find(|(seen_name, _)| *seen_name == name) {
                let message = format!("config key `{name}` is used twice: by field `{owner}` and by field `{rust}`");
                match (alias, &field.attrs.rename) {
                    (Some(alias), _) => cx.error_spanned_by(alias, message),
                    (None, Some(rename)) => cx.error_spanned_by(rename, message),
                    (None, None) => cx.error_spanned_by(&field.ident, message),
                }
            } else {
                seen.push((name, rust.clone()));
            }
        }
    }
}

/// `std::string::String` and `String` both read as `String`; `Option<…>` likewise.
fn normalized_type(ty: &Type) -> String {
    match ty {
        Type::Path(tp) if tp.qself.is_none() => {
            let Some(last) = tp.path.segments.last() else { return String::new() };
            match &last.arguments {
                syn::PathArguments::None => last.ident.to_string(),
                syn::PathArguments::AngleBracketed(args) if args.args.len() == 1 => {
                    let inner = match &args.args[0] {
                        syn::GenericArgument::Type(inner) => normalized_type(inner),
                        _ => String::new(),
                    };
                    format!("{}<{inner}>", last.ident)
                }
                _ => String::new(),
            }
        }
        _ => String::new(),
    }
}

/// The derives the user wrote, minus those `#[flavor_config]` adds itself; and which std
/// derives (`Debug`, `Clone`) they already asked for.
fn user_attrs(attrs: Vec<Attribute>) -> (Vec<Attribute>, Vec<String>) {
    let mut kept = Vec::new();
    let mut std_derives = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("derive") {
            kept.push(attr);
            continue;
        }
        let Ok(paths) = attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated) else {
            kept.push(attr);
            continue;
        };
        let name = |p: &Path| p.segments.last().map(|s| s.ident.to_string()).unwrap_or_default();
        std_derives.extend(paths.iter().map(name).filter(|n| n == "Debug" || n == "Clone"));
        let rest: Vec<&Path> = paths.iter().filter(|p| !ADDED_DERIVES.contains(&name(p).as_str())).collect();
        if !rest.is_empty() {
            kept.push(syn::parse_quote!(#[derive(#(#rest),*)]));
        }
    }
    (kept, std_derives)
}

/// The expansion of a config the checks accepted: the struct with its attributes, then the trait
/// impls and their helpers inside one `const _: () = {…}`.
fn generate(
    mut item: ItemStruct,
    args: &Args,
    container: &Container,
    fields: &[ConfigField],
    krate: &Path,
) -> TokenStream {
    let ident = item.ident.clone();
    let private = quote!(#krate::__private);
    let mut fields_info = Vec::new();
    let mut specs = Vec::new();
    let mut helpers = Vec::new();
    for (index, field) in fields.iter().enumerate() {
        if field.attrs.skip_deserializing.is_some() {
            continue;
        }
        fields_info.push(field_info(field, krate, &private));
        let (spec, reader) = field_spec(index, field, &private);
        specs.push(spec);
        helpers.extend(reader);
        helpers.extend(option_checks(field, &private));
    }
    mark_schema_required(&mut item, fields);
    item.attrs = struct_attrs(std::mem::take(&mut item.attrs), args, container, &private);
    let validate_in_scope = validate_in_scope(fields, &private);
    let flavor_config = flavor_config_impl(&ident, krate, &private, &fields_info, &specs);
    let registry_config = container_registry_config_impl(&ident, krate);

    quote! {
        #item

        #validate_in_scope

        #[doc(hidden)]
        const _: () = {
            #[allow(unused_imports)]
            use #private::NotOption as _;

            #(#helpers)*

            #flavor_config

            #registry_config
        };
    }
}

/// The field's entry in `FlavorConfig::FIELDS`: its name and aliases as users write them,
/// whether it is required and whether it has validators.
fn field_info(field: &ConfigField, krate: &Path, private: &TokenStream) -> TokenStream {
    let cfgs = &field.cfgs;
    let name = &field.attrs.name;
    let aliases = &field.attrs.aliases;
    let required = required(field, private);
    let validated = field.is_uri || field.attrs.validated;
    quote! {
        #(#cfgs)*
        #krate::FieldInfo { name: #name, aliases: &[#(#aliases),*], required: #required, validated: #validated }
    }
}

/// Whether the field is required, as an expression: a constant, or for a field serde requires
/// unless it is an `Option`, the compiler's answer to that.
fn required(field: &ConfigField, private: &TokenStream) -> TokenStream {
    match field.required {
        Required::Yes => quote!(true),
        Required::No => quote!(false),
        Required::UnlessOption => {
            let probe = option_probe(field, private);
            quote!(!#probe)
        }
    }
}

/// `true` when the field's type is an `Option`, evaluated by the compiler.
fn option_probe(field: &ConfigField, private: &TokenStream) -> TokenStream {
    let ty = &field.ty;
    quote!(<#private::OptionProbe<#ty>>::IS_OPTION)
}

/// The field's entry in `FIELD_SPECS` (how one value is checked on its own), and the reader
/// function it calls when the field is read by a `deserialize_with` function.
fn field_spec(index: usize, field: &ConfigField, private: &TokenStream) -> (TokenStream, Option<TokenStream>) {
    let cfgs = &field.cfgs;
    let ty = &field.ty;
    let rust_name = field.ident.to_string();
    let (check, reader) = match &field.attrs.reader {
        Reader::Type => (quote!(#private::check_type::<#ty>), None),
        Reader::Function(function) => {
            let helper = format_ident!("__zenreg_check_{}", index);
            let reader = quote! {
                #(#cfgs)*
                fn #helper(
                    value: &#private::serde_json::Value,
                ) -> ::core::option::Option<::std::string::String> {
                    let read: ::core::result::Result<#ty, #private::serde_json::Error> = #function(value);
                    read.err().map(|error| ::std::string::ToString::to_string(&error))
                }
            };
            (quote!(#helper), Some(reader))
        }
    };
    let spec = quote! {
        #(#cfgs)*
        #private::FieldSpec { rust_name: #rust_name, check: #check }
    };
    (spec, reader)
}

/// Compile-time checks of what only the compiler can tell (is the type an `Option`?), for the
/// markers that depend on it: `#[flavor(optional)]` and `skip_serializing_if` on a field serde
/// requires.
fn option_checks(field: &ConfigField, private: &TokenStream) -> Vec<TokenStream> {
    if !matches!(field.required, Required::UnlessOption) {
        return Vec::new();
    }
    let cfgs = &field.cfgs;
    let probe = option_probe(field, private);
    let mut checks = Vec::new();
    if let Some((Marker::Optional, span)) = field.attrs.marker {
        checks.push(quote_spanned! {span=>
            #(#cfgs)*
            const _: () = ::core::assert!(
                #probe,
                "`#[flavor(optional)]` on a field serde requires: its type is not an `Option`; give it `#[serde(default)]`"
            );
        });
    }
    if let Some(span) = field.attrs.skip_serializing_if {
        checks.push(quote_spanned! {span=>
            #(#cfgs)*
            const _: () = ::core::assert!(
                #probe,
                "`skip_serializing_if` on a required field: a stored config that leaves it out would no longer validate; give the field `#[serde(default)]`"
            );
        });
    }
    checks
}

/// Strips zenreg's field markers and makes the schema call required what zenreg calls required.
fn mark_schema_required(item: &mut ItemStruct, fields: &[ConfigField]) {
    if let Fields::Named(named) = &mut item.fields {
        for (field, config_field) in named.named.iter_mut().zip(fields) {
            attrs::strip_markers(field);
            let forced = matches!(config_field.required, Required::Yes) && !config_field.attrs.required_attr;
            if forced && config_field.attrs.skip_deserializing.is_none() {
                field.attrs.push(syn::parse_quote!(#[schemars(required)]));
            }
        }
    }
}

/// The struct's attributes: the generated `#[derive(...)]` first (a derive helper written before
/// the derive that introduces it is an error), serde, validator and schemars pointed at zenreg's
/// re-exports, the `#[flavor_config(validate = ...)]` functions, then the user's own attributes.
fn struct_attrs(user: Vec<Attribute>, args: &Args, container: &Container, private: &TokenStream) -> Vec<Attribute> {
    let private_str = private.to_string().replace(' ', "");
    let serde_crate = format!("{private_str}::serde");
    let validator_crate = format!("{private_str}::validator");
    let schemars_crate = format!("{private_str}::schemars");
    let (kept, std_derives) = user_attrs(user);
    let mut derives: Vec<TokenStream> = Vec::new();
    if !std_derives.iter().any(|d| d == "Debug") {
        derives.push(quote!(::core::fmt::Debug));
    }
    if !std_derives.iter().any(|d| d == "Clone") {
        derives.push(quote!(::core::clone::Clone));
    }
    derives.extend([
        quote!(#private::serde::Serialize),
        quote!(#private::serde::Deserialize),
        quote!(#private::validator::Validate),
        quote!(#private::schemars::JsonSchema),
    ]);
    let deny = (!container.deny_unknown_fields).then(|| quote!(, deny_unknown_fields));
    let mut attrs: Vec<Attribute> = vec![
        syn::parse_quote!(#[derive(#(#derives),*)]),
        syn::parse_quote!(#[serde(crate = #serde_crate #deny)]),
        syn::parse_quote!(#[validate(crate = #validator_crate)]),
    ];
    for validator in &args.validators {
        let path = validator.to_token_stream().to_string().replace(' ', "");
        attrs.push(syn::parse_quote!(#[validate(schema(function = #path, skip_on_field_errors = false))]));
    }
    attrs.push(syn::parse_quote!(#[schemars(crate = #schemars_crate)]));
    attrs.extend(kept);
    attrs
}

/// validator's `#[validate(nested)]` calls `.validate()` on the field where the struct is: bring
/// the trait into scope there when a field is nested.
fn validate_in_scope(fields: &[ConfigField], private: &TokenStream) -> Option<TokenStream> {
    fields.iter().any(|field| field.attrs.nested).then(|| {
        quote! {
            #[allow(unused_imports)]
            use #private::validator::Validate as _;
        }
    })
}

/// `impl FlavorConfig`: the component type, the field tables, and JSON in and out through
/// zenreg-core's shared functions.
fn flavor_config_impl(
    ident: &Ident,
    krate: &Path,
    private: &TokenStream,
    fields_info: &[TokenStream],
    specs: &[TokenStream],
) -> TokenStream {
    quote! {
        #[automatically_derived]
        impl #krate::FlavorConfig for #ident {
            const COMPONENT_TYPE: #krate::ComponentType = #krate::ComponentType::ContainerRegistry;
            const FIELDS: &'static [#krate::FieldInfo] = &[#(#fields_info),*];
            const FIELD_SPECS: &'static [#private::FieldSpec] = &[#(#specs),*];

            fn from_json(
                object: &#private::serde_json::Map<::std::string::String, #private::serde_json::Value>,
            ) -> ::core::result::Result<Self, #krate::ConfigErrors> {
                #private::config_from_json::<Self>(object)
            }

            fn to_json(&self) -> #private::serde_json::Map<::std::string::String, #private::serde_json::Value> {
                #private::config_to_json::<Self>(self)
            }

            fn json_schema() -> #private::serde_json::Value {
                #private::config_schema::<Self>()
            }
        }
    }
}

/// `impl ContainerRegistryConfig`: the base fields the macro injected.
fn container_registry_config_impl(ident: &Ident, krate: &Path) -> TokenStream {
    quote! {
        #[automatically_derived]
        impl #krate::ContainerRegistryConfig for #ident {
            fn uri(&self) -> &str {
                &self.uri
            }
            fn authentication_secret(&self) -> ::core::option::Option<&str> {
                self.authentication_secret.as_deref()
            }
            fn default_repository(&self) -> ::core::option::Option<&str> {
                self.default_repository.as_deref()
            }
        }
    }
}

fn strip_helpers(item: &mut ItemStruct) {
    let helper = |a: &Attribute| ["validate", "serde", "schemars", "flavor"].iter().any(|name| a.path().is_ident(name));
    item.attrs.retain(|a| !helper(a));
    for field in item.fields.iter_mut() {
        field.attrs.retain(|a| !helper(a));
    }
}

/// On error the struct is still emitted (with the base fields, so uses of them resolve) with
/// trait impls whose bodies are never reached, so the errors above are the only ones shown.
fn fallback(mut item: ItemStruct, krate: &Path) -> TokenStream {
    strip_helpers(&mut item);
    if !item.generics.params.is_empty() {
        return item.to_token_stream();
    }
    if let Fields::Named(named) = &mut item.fields {
        for base in BASE_FIELDS {
            if !named.named.iter().any(|f| f.ident.as_ref().is_some_and(|i| i.unraw() == base.name))
                && let Ok(mut field) = Field::parse_named.parse2((base.decl)())
            {
                field.attrs.retain(|a| !a.path().is_ident("serde"));
                named.named.push(field);
            }
        }
    }
    let ident = &item.ident;
    let private = quote!(#krate::__private);
    quote! {
        #item

        #[doc(hidden)]
        const _: () = {
            #[automatically_derived]
            impl #krate::FlavorConfig for #ident {
                const COMPONENT_TYPE: #krate::ComponentType = #krate::ComponentType::ContainerRegistry;
                const FIELDS: &'static [#krate::FieldInfo] = &[];
                const FIELD_SPECS: &'static [#private::FieldSpec] = &[];
                fn from_json(
                    _: &#private::serde_json::Map<::std::string::String, #private::serde_json::Value>,
                ) -> ::core::result::Result<Self, #krate::ConfigErrors> {
                    ::core::unreachable!()
                }
                fn to_json(&self) -> #private::serde_json::Map<::std::string::String, #private::serde_json::Value> {
                    ::core::unreachable!()
                }
                fn json_schema() -> #private::serde_json::Value {
                    ::core::unreachable!()
                }
            }

            #[automatically_derived]
            impl #krate::ContainerRegistryConfig for #ident {
                fn uri(&self) -> &str {
                    ::core::unreachable!()
                }
                fn authentication_secret(&self) -> ::core::option::Option<&str> {
                    ::core::unreachable!()
                }
                fn default_repository(&self) -> ::core::option::Option<&str> {
                    ::core::unreachable!()
                }
            }
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalizes_paths() {
        let ty: Type = syn::parse_quote!(::core::option::Option<::std::string::String>);
        assert_eq!(normalized_type(&ty), "Option<String>");
        let ty: Type = syn::parse_quote!(u32);
        assert_eq!(normalized_type(&ty), "u32");
    }
}
