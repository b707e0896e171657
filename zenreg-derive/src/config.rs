//! `#[flavor_config(container_registry)]`: turns a named struct into a flavor config.
//!
//! The base fields are injected as ordinary fields (not a flattened base struct, which serde
//! cannot combine with `deny_unknown_fields`), and the derives of serde, validator and schemars
//! are pointed at `zenreg_core::__private` so the user's crate needs none of them.

use crate::ctxt::Ctxt;
use crate::suggest::closest;
use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Attribute, Field, Fields, Ident, Item, ItemStruct, Meta, Path, Token, Type};

/// Component types the attribute knows; only container registries exist so far.
const COMPONENT_TYPES: &[&str] = &["container_registry"];
const OPTION_KEYS: &[&str] = &["validate", "crate"];

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

pub fn expand(args: TokenStream, input: TokenStream) -> TokenStream {
    let mut cx = Ctxt::default();
    let args = parse_args(&mut cx, args);
    let item: Item = match syn::parse2(input) {
        Ok(item) => item,
        Err(error) => return error.to_compile_error(),
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
        Fields::Unnamed(fields) => cx.error_spanned_by(
            fields,
            "#[flavor_config] needs named fields: a tuple struct's fields have no names to configure",
        ),
        Fields::Unit => {
            // A unit struct becomes a config with the base fields only.
            item.fields = Fields::Named(syn::parse_quote!({}));
            item.semi_token = None;
        }
    }
    if !item.generics.params.is_empty() {
        cx.error_spanned_by(&item.generics, "a flavor config cannot be generic");
    }
    if !cx.is_ok() {
        return with_errors(cx, fallback(strip_validate(item), &krate));
    }
    inject_base_fields(&mut cx, &mut item);
    if !cx.is_ok() {
        return with_errors(cx, fallback(strip_validate(item), &krate));
    }
    generate(item, &args, &krate)
}

fn with_errors(cx: Ctxt, tokens: TokenStream) -> TokenStream {
    let errors = cx.check().unwrap_or_default();
    quote!(#errors #tokens)
}

fn parse_args(cx: &mut Ctxt, args: TokenStream) -> Args {
    let mut out = Args { component_type: None, validators: Vec::new(), krate: None };
    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args.clone()) {
        Ok(metas) => metas,
        Err(error) => {
            cx.syn_error(error);
            return out;
        }
    };
    for meta in metas {
        match &meta {
            Meta::Path(path) => {
                let name = path.get_ident().map(ToString::to_string).unwrap_or_default();
                if out.component_type.is_some() {
                    cx.error_spanned_by(path, "only one component type can be given");
                } else if COMPONENT_TYPES.contains(&name.as_str()) {
                    out.component_type = path.get_ident().cloned();
                } else {
                    let hint = closest(&name, COMPONENT_TYPES)
                        .map(|s| format!("did you mean `{s}`?"))
                        .unwrap_or_else(|| format!("expected one of: {}", COMPONENT_TYPES.join(", ")));
                    cx.error_spanned_by(path, format!("unknown component type `{}`; {hint}", path.to_token_stream()));
                }
            }
            Meta::NameValue(nv) if nv.path.is_ident("validate") => {
                match syn::parse2::<Path>(nv.value.to_token_stream()) {
                    Ok(path) => out.validators.push(path),
                    Err(_) => cx.error_spanned_by(
                        &nv.value,
                        "`validate` takes the path of a function `fn(&Self) -> Result<(), ValidationError>`",
                    ),
                }
            }
            Meta::NameValue(nv) if nv.path.is_ident("crate") => match syn::parse2::<Path>(nv.value.to_token_stream()) {
                Ok(path) => out.krate = Some(path),
                Err(_) => cx.error_spanned_by(&nv.value, "`crate` takes a path such as `::zenreg_core`"),
            },
            other => {
                let key = other.path().to_token_stream().to_string();
                let hint = closest(&key, OPTION_KEYS)
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| "expected a component type, `validate = path` or `crate = path`".into());
                cx.error_spanned_by(other.path(), format!("unknown flavor_config option `{key}`; {hint}"));
            }
        }
    }
    if out.component_type.is_none() && cx.is_ok() {
        cx.error_spanned_by(args, "missing component type: write #[flavor_config(container_registry)]");
    }
    out
}

/// Injects the base fields the struct does not declare, checks the types of those it does, and
/// puts all three first in a fixed order so every flavor's schema reads the same way.
fn inject_base_fields(cx: &mut Ctxt, item: &mut ItemStruct) {
    let Fields::Named(named) = &mut item.fields else { return };
    let mut rest: Vec<Field> = std::mem::take(&mut named.named).into_iter().collect();
    let mut base_fields = Vec::new();
    for base in BASE_FIELDS {
        let declared = rest.iter().position(|f| f.ident.as_ref().is_some_and(|i| i == base.name));
        match declared {
            Some(index) => {
                let field = rest.remove(index);
                if normalized_type(&field.ty) != base.ty {
                    cx.error_spanned_by(&field.ty, format!("base field `{}` must have type `{}`", base.name, base.ty));
                }
                base_fields.push(field);
            }
            None => match Field::parse_named.parse2((base.decl)()) {
                Ok(field) => base_fields.push(field),
                Err(error) => cx.syn_error(error),
            },
        }
    }
    named.named.extend(base_fields);
    named.named.extend(rest);
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

fn is_option(ty: &Type) -> bool {
    normalized_type(ty).starts_with("Option<")
}

fn has_serde_default(attrs: &[Attribute]) -> bool {
    attrs.iter().filter(|a| a.path().is_ident("serde")).any(|a| {
        let mut found = false;
        let _ = a.parse_nested_meta(|meta| {
            if meta.path.is_ident("default") {
                found = true;
            }
            if meta.input.peek(Token![=]) {
                let _: syn::Expr = meta.value()?.parse()?;
            } else if !meta.input.is_empty() && !meta.input.peek(Token![,]) {
                let _: proc_macro2::Group = meta.input.parse()?;
            }
            Ok(())
        });
        found
    })
}

fn has_validators(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|a| a.path().is_ident("validate"))
}

/// Removes the helper attributes of the derives a failed expansion will not add, so they do not
/// add "cannot find attribute" errors to the real one.
fn strip_validate(mut item: ItemStruct) -> ItemStruct {
    let helper = |a: &Attribute| ["validate", "serde", "schemars"].iter().any(|name| a.path().is_ident(name));
    item.attrs.retain(|a| !helper(a));
    for field in item.fields.iter_mut() {
        field.attrs.retain(|a| !helper(a));
    }
    item
}

/// Derives the user already asked for are not derived again.
fn user_derives(item: &ItemStruct) -> Vec<String> {
    let mut names = Vec::new();
    for attr in item.attrs.iter().filter(|a| a.path().is_ident("derive")) {
        if let Ok(paths) = attr.parse_args_with(Punctuated::<Path, Token![,]>::parse_terminated) {
            names.extend(paths.iter().filter_map(|p| p.segments.last().map(|s| s.ident.to_string())));
        }
    }
    names
}

fn generate(mut item: ItemStruct, args: &Args, krate: &Path) -> TokenStream {
    let ident = item.ident.clone();
    let derived = user_derives(&item);
    let private = quote!(#krate::__private);
    let private_str = private.to_string();
    let serde_crate = format!("{private_str}::serde");
    let validator_crate = format!("{private_str}::validator");
    let schemars_crate = format!("{private_str}::schemars");
    let deserialize_uri = format!("{private_str}::deserialize_uri");

    let mut fields_info = Vec::new();
    let mut checks = Vec::new();
    for field in item.fields.iter_mut() {
        let Some(name) = field.ident.as_ref().map(ToString::to_string) else { continue };
        let required = !is_option(&field.ty) && !has_serde_default(&field.attrs);
        // `uri` is always checked (non-empty, no scheme, no whitespace) by zenreg itself.
        let validated = name == "uri" || has_validators(&field.attrs);
        fields_info.push(quote! {
            #krate::FieldInfo { name: #name, required: #required, validated: #validated }
        });
        let ty = &field.ty;
        checks.push(quote! { #name => #private::check_type::<#ty>(value), });
        if name == "uri" {
            field.attrs.push(syn::parse_quote!(#[serde(deserialize_with = #deserialize_uri)]));
        }
    }

    let mut derives: Vec<TokenStream> = Vec::new();
    for (short, full) in [
        ("Debug", quote!(::core::fmt::Debug)),
        ("Clone", quote!(::core::clone::Clone)),
        ("Serialize", quote!(#private::serde::Serialize)),
        ("Deserialize", quote!(#private::serde::Deserialize)),
        ("Validate", quote!(#private::validator::Validate)),
        ("JsonSchema", quote!(#private::schemars::JsonSchema)),
    ] {
        if !derived.iter().any(|d| d == short) {
            derives.push(full);
        }
    }
    let schema_validators = args.validators.iter().map(|path| {
        let path = path.to_token_stream().to_string();
        quote!(#[validate(schema(function = #path, skip_on_field_errors = false))])
    });
    item.attrs.push(syn::parse_quote!(#[derive(#(#derives),*)]));
    item.attrs.push(syn::parse_quote!(#[serde(crate = #serde_crate, deny_unknown_fields)]));
    item.attrs.push(syn::parse_quote!(#[validate(crate = #validator_crate)]));
    for validator in schema_validators {
        item.attrs.push(syn::parse_quote!(#validator));
    }
    item.attrs.push(syn::parse_quote!(#[schemars(crate = #schemars_crate)]));

    quote! {
        #item

        impl #krate::FlavorConfig for #ident {
            const COMPONENT_TYPE: #krate::ComponentType = #krate::ComponentType::ContainerRegistry;
            const FIELDS: &'static [#krate::FieldInfo] = &[#(#fields_info),*];

            fn check_field(name: &str, value: &#private::serde_json::Value) -> ::core::option::Option<::std::string::String> {
                match name {
                    #(#checks)*
                    _ => ::core::option::Option::None,
                }
            }

            fn from_json(
                object: &#private::serde_json::Map<::std::string::String, #private::serde_json::Value>,
            ) -> ::core::result::Result<Self, #krate::ConfigErrors> {
                #private::config_from_json::<Self>(object)
            }

            fn to_json(&self) -> #private::serde_json::Map<::std::string::String, #private::serde_json::Value> {
                #private::config_to_json(self)
            }

            fn json_schema() -> #private::serde_json::Value {
                #private::config_schema::<Self>()
            }
        }

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

/// On error the struct is still emitted (so uses of it resolve) with a `FlavorConfig` impl whose
/// bodies are never reached, so the one error above is the only one the user sees.
fn fallback(item: ItemStruct, krate: &Path) -> TokenStream {
    let ident = &item.ident;
    if !item.generics.params.is_empty() {
        return item.to_token_stream();
    }
    let private = quote!(#krate::__private);
    quote! {
        #item
        impl #krate::FlavorConfig for #ident {
            const COMPONENT_TYPE: #krate::ComponentType = #krate::ComponentType::ContainerRegistry;
            const FIELDS: &'static [#krate::FieldInfo] = &[];
            fn check_field(_: &str, _: &#private::serde_json::Value) -> ::core::option::Option<::std::string::String> {
                ::core::unreachable!()
            }
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
