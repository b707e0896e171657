//! Reads a config struct's `#[serde]`, `#[schemars]`, `#[validate]` and `#[flavor]` attributes
//! the way those derives read them, so zenreg's field table carries serde's names.
//!
//! Every key is looked at on its own: a key that is wrong is recorded in the [`Ctxt`] and reading
//! goes on with the next one, so one build reports every problem. Keys zenreg has no stake in are
//! left to serde (which reports the ones it does not know either).

use crate::case::{RULES, RenameRule};
use crate::ctxt::Ctxt;
use crate::suggest::closest;
use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, quote};
use syn::ext::IdentExt;
use syn::meta::ParseNestedMeta;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Attribute, ExprPath, Field, LitStr, Meta, Token};

/// What the struct-level attributes say.
#[derive(Default)]
pub struct Container {
    /// The `rename_all` convention (the same for serialize and deserialize, or refused).
    pub rename_all: Option<RenameRule>,
    /// `#[serde(default)]` on the struct: every field may be missing.
    pub default: bool,
    /// The user wrote `deny_unknown_fields` (zenreg then does not add it a second time).
    pub deny_unknown_fields: bool,
}

/// What `#[flavor(...)]` on a field says about required-ness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Optional,
    Required,
}

/// How a field's values are read, for the per-field type check.
pub enum Reader {
    /// The field type's own `Deserialize`.
    Type,
    /// `deserialize_with = "path"` or `with = "module"` (then `module::deserialize`).
    Function(TokenStream),
}

/// What a field's attributes say.
pub struct FieldAttrs {
    /// The name serde reads and writes.
    pub name: String,
    /// The user's own `rename`, if any (its deserialize side).
    pub rename: Option<LitStr>,
    /// `alias = "…"`, in order.
    pub aliases: Vec<LitStr>,
    /// `default` or `default = "path"` on the field.
    pub default: bool,
    /// `skip` or `skip_deserializing`: not a config key at all.
    pub skip_deserializing: Option<Span>,
    /// How values are read.
    pub reader: Reader,
    /// Where `skip_serializing_if` was written, if it was.
    pub skip_serializing_if: Option<Span>,
    /// `#[flavor(optional)]` or `#[flavor(required)]`, with where it was written.
    pub marker: Option<(Marker, Span)>,
    /// `required` in `#[validate(...)]` or `#[schemars(...)]`.
    pub required_attr: bool,
    /// Some `#[validate(...)]` checks the field.
    pub validated: bool,
    /// `#[validate(nested)]`: validator's generated code calls `.validate()` on the field.
    pub nested: bool,
}

/// serde container keys zenreg refuses, and why.
const REFUSED_CONTAINER_KEYS: &[(&str, &str)] = &[
    ("tag", "a flavor config is an object of its own fields; `tag` adds a key that is no field"),
    ("content", "`content` belongs to adjacently tagged enums; a flavor config is a struct of named fields"),
    ("untagged", "`untagged` belongs to enums; a flavor config is a struct of named fields"),
    (
        "transparent",
        "a flavor config must be an object of named fields; `transparent` makes it (de)serialize as its one field",
    ),
    (
        "from",
        "zenreg checks the config's own fields (names, types, required-ness); converting from another type would hide them",
    ),
    (
        "try_from",
        "zenreg checks the config's own fields (names, types, required-ness); converting from another type would hide them",
    ),
    ("into", "stored configs must read back as this struct; serializing through another type would store other keys"),
    ("remote", "`remote` derives for another crate's type; a flavor config is a type of your crate"),
    ("bound", "a flavor config cannot be generic, so `bound` has nothing to bound"),
    ("field_identifier", "`field_identifier` belongs to enums; a flavor config is a struct of named fields"),
    ("variant_identifier", "`variant_identifier` belongs to enums; a flavor config is a struct of named fields"),
    ("rename_all_fields", "`rename_all_fields` belongs to enums; use `rename_all` on a flavor config"),
    ("crate", "zenreg points serde at its own re-export (`zenreg_core::__private::serde`); remove `crate`"),
];

/// serde field keys zenreg refuses, and why.
const REFUSED_FIELD_KEYS: &[(&str, &str)] = &[
    (
        "flatten",
        "zenreg checks every key against the config's own fields, and serde cannot combine `flatten` with \
         `deny_unknown_fields`; declare the fields in the config itself",
    ),
    ("borrow", "configs are read into owned data (`DeserializeOwned`), so there is nothing to borrow from"),
    ("getter", "`getter` belongs to `remote` derives, which a flavor config cannot use"),
    ("bound", "a flavor config cannot be generic, so `bound` has nothing to bound"),
];

/// `#[schemars(...)]` keys that schemars hands to its copy of serde's attribute reader: written
/// there, they would make the JSON Schema disagree with serde. Each with the advice to give.
const SCHEMARS_SERDE_KEYS: &[&str] = &[
    "rename",
    "rename_all",
    "rename_all_fields",
    "tag",
    "content",
    "untagged",
    "default",
    "skip",
    "skip_serializing",
    "skip_deserializing",
    "flatten",
    "remote",
    "transparent",
    "into",
    "from",
    "try_from",
];

/// Keys serde supports on a config, to recognise a serde-side alternative to a schemars key.
const SERDE_SUPPORTED: &[&str] = &["rename", "rename_all", "default", "skip", "skip_deserializing"];

const MARKERS: &[&str] = &["optional", "required"];

/// Whether `attr` is `#[name ...]`.
fn is(attr: &Attribute, name: &str) -> bool {
    attr.path().is_ident(name)
}

/// Calls `f` for each `key …` of the list attribute `attr`; a key's error is recorded and the
/// rest of its value skipped, so the next key is still read.
pub fn for_each_key(
    cx: &mut Ctxt,
    attr: &Attribute,
    f: &mut dyn FnMut(&mut Ctxt, &str, &ParseNestedMeta) -> syn::Result<()>,
) {
    if let Err(error) = attr.parse_nested_meta(|meta| each(cx, &meta, f)) {
        cx.syn_error(error);
    }
}

/// The same for the arguments of an attribute macro (`#[flavor_config(...)]`).
pub fn for_each_arg(
    cx: &mut Ctxt,
    args: TokenStream,
    f: &mut dyn FnMut(&mut Ctxt, &str, &ParseNestedMeta) -> syn::Result<()>,
) {
    let mut errors = Ctxt::default();
    let parser = syn::meta::parser(|meta| each(&mut errors, &meta, f));
    if let Err(error) = syn::parse::Parser::parse2(parser, args) {
        errors.syn_error(error);
    }
    cx.append(errors);
}

/// The same inside a nested list (`rename(serialize = …, deserialize = …)`).
fn for_each_nested(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta,
    f: &mut dyn FnMut(&mut Ctxt, &str, &ParseNestedMeta) -> syn::Result<()>,
) -> syn::Result<()> {
    meta.parse_nested_meta(|inner| each(cx, &inner, f))
}

fn each(
    cx: &mut Ctxt,
    meta: &ParseNestedMeta,
    f: &mut dyn FnMut(&mut Ctxt, &str, &ParseNestedMeta) -> syn::Result<()>,
) -> syn::Result<()> {
    let key = match meta.path.get_ident() {
        Some(ident) => ident.unraw().to_string(),
        None => meta.path.to_token_stream().to_string(),
    };
    if let Err(error) = f(cx, &key, meta) {
        cx.syn_error(error);
    }
    skip_value(meta)
}

/// Skips whatever is left of the current key's value, up to the next `,`.
fn skip_value(meta: &ParseNestedMeta) -> syn::Result<()> {
    while !meta.input.is_empty() && !meta.input.peek(Token![,]) {
        meta.input.parse::<TokenTree>()?;
    }
    Ok(())
}

fn lit_str(meta: &ParseNestedMeta) -> syn::Result<LitStr> {
    meta.value()?.parse()
}

/// serde's quoted paths: `default = "path"`, `deserialize_with = "path"`.
fn quoted_path(meta: &ParseNestedMeta) -> syn::Result<ExprPath> {
    lit_str(meta)?.parse()
}

/// `key = "x"` (both sides) or `key(serialize = "a", deserialize = "b")`.
fn ser_de(cx: &mut Ctxt, meta: &ParseNestedMeta, what: &str) -> syn::Result<(Option<LitStr>, Option<LitStr>)> {
    if meta.input.peek(Token![=]) {
        let value = lit_str(meta)?;
        return Ok((Some(value.clone()), Some(value)));
    }
    let (mut ser, mut de) = (None, None);
    for_each_nested(cx, meta, &mut |_, key, inner| {
        match key {
            "serialize" => ser = Some(lit_str(inner)?),
            "deserialize" => de = Some(lit_str(inner)?),
            _ => {
                return Err(inner.error(format!(
                    "unknown key `{key}` in `{what}(...)`; expected `serialize = \"…\"` or `deserialize = \"…\"`"
                )));
            }
        }
        Ok(())
    })?;
    Ok((ser, de))
}

fn rename_rule(lit: &LitStr) -> syn::Result<RenameRule> {
    let name = lit.value();
    RenameRule::from_name(&name).ok_or_else(|| {
        let names: Vec<&str> = RULES.iter().map(|(name, _)| *name).collect();
        let hint = match closest(&name, &names) {
            Some(suggestion) => format!("did you mean `{suggestion}`?"),
            None => format!("expected one of: {}", names.join(", ")),
        };
        syn::Error::new(lit.span(), format!("unknown rename rule `{name}`; {hint}"))
    })
}

fn show(value: &Option<String>) -> String {
    value.as_ref().map_or_else(|| "none".to_string(), |v| format!("`{v}`"))
}

/// Refuses `cfg_attr` around the attributes zenreg must read: it cannot see through them.
fn check_cfg_attr(cx: &mut Ctxt, attr: &Attribute) {
    if !is(attr, "cfg_attr") {
        return;
    }
    let Ok(list) = attr.parse_args_with(Punctuated::<Meta, Token![,]>::parse_terminated) else { return };
    for meta in list.iter().skip(1) {
        if let Some(name) = ["serde", "schemars", "validate", "flavor"].into_iter().find(|n| meta.path().is_ident(n)) {
            cx.error_spanned_by(
                meta.path(),
                format!(
                    "#[flavor_config] reads `#[{name}(...)]` itself and cannot see inside `cfg_attr`; \
                     write the attribute without `cfg_attr`"
                ),
            );
        }
    }
}

/// `#[schemars(...)]` on the struct or a field; returns whether it says `required`.
fn schemars_attr(cx: &mut Ctxt, attr: &Attribute) -> bool {
    let mut required = false;
    for_each_key(cx, attr, &mut |_, key, meta| {
        if key == "crate" {
            return Err(syn::Error::new(
                meta.path.span(),
                "zenreg points schemars at its own re-export (`zenreg_core::__private::schemars`); remove `crate`",
            ));
        }
        if key == "required" {
            required = true;
        }
        if SCHEMARS_SERDE_KEYS.contains(&key) {
            let advice = if SERDE_SUPPORTED.contains(&key) {
                format!("write `#[serde({key} ...)]` instead, which both serde and the schema follow")
            } else {
                format!("zenreg does not support `{key}` in `#[serde(...)]` either")
            };
            return Err(syn::Error::new(
                meta.path.span(),
                format!(
                    "`#[schemars({key})]` would make the JSON Schema disagree with serde, whose names and \
                     required fields zenreg follows; {advice}"
                ),
            ));
        }
        Ok(())
    });
    required
}

/// Reads the struct-level attributes.
pub fn container(cx: &mut Ctxt, attrs: &[Attribute]) -> Container {
    let mut out = Container::default();
    for attr in attrs {
        check_cfg_attr(cx, attr);
        if is(attr, "schemars") {
            schemars_attr(cx, attr);
        } else if is(attr, "validate") {
            for_each_key(cx, attr, &mut |_, key, meta| match key {
                "crate" => Err(syn::Error::new(
                    meta.path.span(),
                    "zenreg points validator at its own re-export (`zenreg_core::__private::validator`); remove `crate`",
                )),
                "context" => Err(syn::Error::new(
                    meta.path.span(),
                    "zenreg validates with `Validate::validate()`, which passes no context; \
                     check what needs one in a `validate = path` function of #[flavor_config] instead",
                )),
                _ => Ok(()),
            });
        } else if is(attr, "serde") {
            for_each_key(cx, attr, &mut |cx, key, meta| {
                match key {
                    "rename_all" => {
                        let (ser, de) = ser_de(cx, meta, "rename_all")?;
                        let ser_rule = ser.as_ref().map(rename_rule).transpose()?;
                        let de_rule = de.as_ref().map(rename_rule).transpose()?;
                        if ser_rule != de_rule {
                            return Err(syn::Error::new(
                                meta.path.span(),
                                format!(
                                    "`rename_all` differs between serialize ({}) and deserialize ({}): zenreg stores a \
                                     config as serde serializes it and reads it back with the deserialize names, so \
                                     give one convention: `rename_all = \"...\"`",
                                    show(&ser.map(|s| s.value())),
                                    show(&de.map(|s| s.value()))
                                ),
                            ));
                        }
                        out.rename_all = de_rule;
                    }
                    "default" => {
                        if meta.input.peek(Token![=]) {
                            quoted_path(meta)?;
                        }
                        out.default = true;
                    }
                    "deny_unknown_fields" => out.deny_unknown_fields = true,
                    _ => {
                        if let Some((_, why)) = REFUSED_CONTAINER_KEYS.iter().find(|(k, _)| *k == key) {
                            return Err(syn::Error::new(
                                meta.path.span(),
                                format!("#[flavor_config] does not support `#[serde({key})]`: {why}"),
                            ));
                        }
                    }
                }
                Ok(())
            });
        }
    }
    out
}

/// Reads a field's attributes; `rust_name` is its identifier without `r#`.
pub fn field(cx: &mut Ctxt, container: &Container, field: &Field, rust_name: &str) -> FieldAttrs {
    let default_name = match container.rename_all {
        Some(rule) => rule.apply_to_field(rust_name),
        None => rust_name.to_string(),
    };
    let mut out = FieldAttrs {
        name: default_name.clone(),
        rename: None,
        aliases: Vec::new(),
        default: false,
        skip_deserializing: None,
        reader: Reader::Type,
        skip_serializing_if: None,
        marker: None,
        required_attr: false,
        validated: false,
        nested: false,
    };
    let mut skip_serializing: Option<Span> = None;
    let mut serialize_with: Option<Span> = None;
    let mut deserializer_given = false;
    for attr in &field.attrs {
        check_cfg_attr(cx, attr);
        if is(attr, "schemars") {
            out.required_attr |= schemars_attr(cx, attr);
        } else if is(attr, "validate") {
            out.validated = true;
            // validator reports its own syntax errors; only `required` and `nested` matter here.
            let mut ignored = Ctxt::default();
            for_each_key(&mut ignored, attr, &mut |_, key, _| {
                out.required_attr |= key == "required";
                out.nested |= key == "nested";
                Ok(())
            });
            drop(ignored.check());
        } else if is(attr, "flavor") {
            for_each_key(cx, attr, &mut |_, key, meta| {
                let marker = match key {
                    "optional" => Marker::Optional,
                    "required" => Marker::Required,
                    _ => {
                        let hint = match closest(key, MARKERS) {
                            Some(suggestion) => format!("did you mean `{suggestion}`?"),
                            None => "expected `optional` or `required`".to_string(),
                        };
                        return Err(meta.error(format!("unknown field attribute `flavor({key})`; {hint}")));
                    }
                };
                if let Some((previous, _)) = out.marker {
                    let message = if previous == marker {
                        format!("duplicate `flavor({key})`: give it once")
                    } else {
                        "a field is either `flavor(optional)` or `flavor(required)`, not both".to_string()
                    };
                    return Err(syn::Error::new(meta.path.span(), message));
                }
                out.marker = Some((marker, meta.path.span()));
                Ok(())
            });
        } else if is(attr, "serde") {
            for_each_key(cx, attr, &mut |cx, key, meta| {
                match key {
                    "rename" => {
                        let (ser, de) = ser_de(cx, meta, "rename")?;
                        let ser_name = ser.as_ref().map_or_else(|| default_name.clone(), LitStr::value);
                        let de_name = de.as_ref().map_or_else(|| default_name.clone(), LitStr::value);
                        if ser_name != de_name {
                            return Err(syn::Error::new(
                                meta.path.span(),
                                format!(
                                    "this field would be written as `{ser_name}` and read as `{de_name}`: zenreg \
                                     stores a config as serde serializes it and reads it back, so give one name: \
                                     `rename = \"...\"`"
                                ),
                            ));
                        }
                        out.name = de_name;
                        out.rename = de.or(ser);
                    }
                    "alias" => out.aliases.push(lit_str(meta)?),
                    "default" => {
                        if meta.input.peek(Token![=]) {
                            quoted_path(meta)?;
                        }
                        out.default = true;
                    }
                    "skip" => {
                        out.skip_deserializing = Some(meta.path.span());
                        skip_serializing = Some(meta.path.span());
                    }
                    "skip_deserializing" => out.skip_deserializing = Some(meta.path.span()),
                    "skip_serializing" => skip_serializing = Some(meta.path.span()),
                    "skip_serializing_if" => {
                        quoted_path(meta)?;
                        out.skip_serializing_if = Some(meta.path.span());
                    }
                    "serialize_with" => {
                        quoted_path(meta)?;
                        serialize_with = Some(meta.path.span());
                    }
                    "deserialize_with" => {
                        let path = quoted_path(meta)?;
                        out.reader = Reader::Function(path.to_token_stream());
                        deserializer_given = true;
                    }
                    "with" => {
                        let path = quoted_path(meta)?;
                        out.reader = Reader::Function(quote!(#path::deserialize));
                        deserializer_given = true;
                    }
                    _ => {
                        if let Some((_, why)) = REFUSED_FIELD_KEYS.iter().find(|(k, _)| *k == key) {
                            return Err(syn::Error::new(
                                meta.path.span(),
                                format!("#[flavor_config] does not support `#[serde({key})]` on a field: {why}"),
                            ));
                        }
                    }
                }
                Ok(())
            });
        }
    }
    if let Some(span) = skip_serializing
        && out.skip_deserializing.is_none()
    {
        cx.error(
            span,
            "`skip_serializing` alone breaks the round trip: the field would be accepted but never stored; \
             use `skip` (the field is then no config key) or `skip_serializing_if`",
        );
    }
    if let Some(span) = serialize_with
        && !deserializer_given
    {
        cx.error(
            span,
            "`serialize_with` without `deserialize_with`: stored configs are read back, so give both, or `with`",
        );
    }
    out
}

/// Removes the attributes only zenreg reads (`#[flavor(...)]` on fields) from the output.
pub fn strip_markers(field: &mut Field) {
    field.attrs.retain(|attr| !is(attr, "flavor"));
}
