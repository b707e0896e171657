//! Flavor configs: the trait `#[flavor_config]` implements, validation that reports every
//! problem at once, and the type-erased view the catalog keeps of each config type.
//!
//! # How a config is validated
//!
//! `FlavorConfig::from_json` runs in two parts, so that the code generated for each flavor stays
//! small:
//!
//! 1. A **non-generic core** ([`private::prepare`]) works over the config's field table
//!    ([`FlavorConfig::FIELDS`], plus one type-check function pointer per field, shared by every
//!    field of the same type): it maps aliases to canonical names, reports unknown keys (with
//!    "did you mean"), keys given twice, secret references on validated fields, values of the
//!    wrong type (each field checked on its own, so every one is reported) and missing required
//!    fields, and strips trailing `/` from `uri`.
//! 2. The **typed decode**, the only part instantiated per flavor: serde's `deserialize`, then
//!    `validator`'s `validate`; the non-generic core turns their errors (validator's, struct-level
//!    `validate = fn` checks, zenreg's own `uri` checks) into problems, under serde's field names.
//!
//! Every problem is reported at once as sorted `field: message` lines. Unknown keys and secret
//! references on optional validated fields are left out and the rest still decoded and
//! validated; a wrong type or a missing required field stops before the typed decode.
//! `to_json` serializes the config back and keeps only the config keys that are set, so what is
//! stored reads back as the same config.
//!
//! # Field names, aliases and required fields
//!
//! Field names are serde's (after `rename`/`rename_all`); an `alias` is accepted as input and
//! stored under the canonical name. A field is required exactly when serde would refuse a config
//! without it (no default, and either not an `Option` or read by `deserialize_with`), unless the
//! config says `#[flavor(required)]`, `#[validate(required)]` or `#[schemars(required)]`. Whether a
//! field type is an `Option` is decided by the compiler through [`private::OptionProbe`], so an
//! alias of `Option` is optional too. See `zenreg_derive::flavor_config` for the attributes.

use crate::component::ComponentType;
use serde_json::{Map, Value};
use std::fmt;

/// A JSON object: what configs are read from and stored as.
pub type JsonObject = Map<String, Value>;

/// One field of a flavor config, as the generated code describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FieldInfo {
    /// Field name as written in configs and on the command line: serde's name for it.
    pub name: &'static str,
    /// Other names accepted as input (serde's `alias`); configs are stored under `name`.
    pub aliases: &'static [&'static str],
    /// Whether registration fails without it.
    pub required: bool,
    /// Whether a validator checks it. Secret references (`{{secret.key}}`) are only accepted on
    /// fields without validators, because they are resolved after validation.
    pub validated: bool,
}

/// A flavor's configuration type. Implemented by `#[flavor_config]`; do not implement by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a flavor config",
    label = "not a flavor config",
    note = "annotate the struct with `#[zenreg_core::flavor_config(container_registry)]`"
)]
pub trait FlavorConfig: Sized + Send + Sync + 'static {
    /// The component type this config configures.
    const COMPONENT_TYPE: ComponentType;
    /// Every config key, base fields first. Fields serde never reads (`skip`,
    /// `skip_deserializing`) are not keys and are not listed.
    const FIELDS: &'static [FieldInfo];
    /// What the validation core needs beyond [`FIELDS`](Self::FIELDS), one entry per field.
    #[doc(hidden)]
    const FIELD_SPECS: &'static [private::FieldSpec];

    /// Builds and validates a config from a JSON object, returning every problem found.
    fn from_json(object: &JsonObject) -> Result<Self, ConfigErrors>;

    /// The config as a normalised JSON object (unset optional fields left out).
    fn to_json(&self) -> JsonObject;

    /// The JSON Schema of the config; field doc comments are the descriptions.
    fn json_schema() -> Value;
}

/// What every container-registry config has, whatever its flavor.
pub trait ContainerRegistryConfig: FlavorConfig {
    /// The registry URI (no trailing `/`).
    fn uri(&self) -> &str;
    /// Name of the secret with `username` and `password`, if any.
    fn authentication_secret(&self) -> Option<&str>;
    /// Repository images are tagged into by default, if any.
    fn default_repository(&self) -> Option<&str>;

    /// True exactly when the URI is `localhost:` followed by a 4- or 5-digit port.
    fn is_local(&self) -> bool {
        is_local_uri(self.uri())
    }

    /// True exactly when an authentication secret is configured.
    fn requires_authentication(&self) -> bool {
        self.authentication_secret().is_some()
    }
}

/// `localhost:[0-9]{4,5}`, matched in full.
pub fn is_local_uri(uri: &str) -> bool {
    uri.strip_prefix("localhost:")
        .is_some_and(|port| (4..=5).contains(&port.len()) && port.bytes().all(|b| b.is_ascii_digit()))
}

/// Splits a secret reference `{{secret_name.key}}` into its name and key.
pub fn parse_secret_reference(value: &str) -> Option<(&str, &str)> {
    crate::uri::parse_secret_reference(value)
}

/// One configuration problem: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct ConfigProblem {
    /// Dotted path of the field (`config` for problems of the whole struct).
    pub field: String,
    /// What is wrong, phrased to be read after the field name.
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Every problem of a configuration, sorted by field so output is stable.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct ConfigErrors(Vec<ConfigProblem>);

impl ConfigErrors {
    /// Sorts and de-duplicates the problems.
    pub fn new(mut problems: Vec<ConfigProblem>) -> Self {
        problems.sort();
        problems.dedup();
        ConfigErrors(problems)
    }

    /// One problem.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigErrors(vec![ConfigProblem { field: field.into(), message: message.into() }])
    }

    /// The problems, sorted by field.
    pub fn problems(&self) -> &[ConfigProblem] {
        &self.0
    }

    /// `field: message` lines, sorted.
    pub fn lines(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lines().join("; "))
    }
}

impl std::error::Error for ConfigErrors {}

/// The type-erased face of a config type, kept in each flavor's static descriptor so the
/// catalog can validate and describe configs without knowing their types.
#[derive(Debug, Clone, Copy)]
pub struct ConfigVTable {
    /// Every field of the config.
    pub fields: &'static [FieldInfo],
    /// Validates a JSON object and returns it normalised.
    pub validate: fn(&JsonObject) -> Result<JsonObject, ConfigErrors>,
    /// The JSON Schema of the config.
    pub schema: fn() -> Value,
}

impl ConfigVTable {
    /// The vtable of config type `C`.
    pub const fn of<C: FlavorConfig>() -> Self {
        ConfigVTable { fields: C::FIELDS, validate: validate_erased::<C>, schema: C::json_schema }
    }

    /// The field called `name`, or with the alias `name`, if the config has one.
    pub fn field(&self, name: &str) -> Option<&'static FieldInfo> {
        field_index(self.fields, name).map(|index| &self.fields[index])
    }
}

/// The index of the field answering to key `key` (its name or one of its aliases).
fn field_index(fields: &[FieldInfo], key: &str) -> Option<usize> {
    fields.iter().position(|f| f.name == key).or_else(|| fields.iter().position(|f| f.aliases.contains(&key)))
}

fn validate_erased<C: FlavorConfig>(object: &JsonObject) -> Result<JsonObject, ConfigErrors> {
    C::from_json(object).map(|config| config.to_json())
}

/// Checks zenreg applies to every registry URI, whatever the flavor adds.
fn check_uri(uri: &str) -> Option<&'static str> {
    crate::uri::check(uri)
}

/// Turns validator's nested, unordered errors into `field.path: message` problems. validator
/// names top-level fields as Rust does; `top_level_name` turns those into serde's names.
fn flatten_validation(
    prefix: &str,
    errors: &validator::ValidationErrors,
    top_level_name: &dyn Fn(&str) -> String,
    out: &mut Vec<ConfigProblem>,
) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errors.errors() {
        let path = match (prefix.is_empty(), field.as_ref()) {
            (true, "__all__") => "config".to_string(),
            (false, "__all__") => prefix.to_string(),
            (true, name) => top_level_name(name),
            (false, name) => format!("{prefix}.{name}"),
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                out.extend(list.iter().map(|e| ConfigProblem { field: path.clone(), message: describe(e) }));
            }
            ValidationErrorsKind::Struct(inner) => flatten_validation(&path, inner, top_level_name, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten_validation(&format!("{path}[{index}]"), inner, top_level_name, out);
                }
            }
        }
    }
}

/// A readable message for a validator error: its own message, else one built from its code.
fn describe(error: &validator::ValidationError) -> String {
    if let Some(message) = &error.message {
        return message.to_string();
    }
    let param = |name: &str| error.params.get(name).map(|v| v.to_string().trim_matches('"').to_string());
    match error.code.as_ref() {
        "length" => match (param("equal"), param("min"), param("max")) {
            (Some(n), _, _) => format!("must be exactly {n} characters long"),
            (None, Some(min), Some(max)) => format!("must be between {min} and {max} characters long"),
            (None, Some(min), None) if min == "1" => "cannot be empty".to_string(),
            (None, Some(min), None) => format!("must be at least {min} characters long"),
            (None, None, Some(max)) => format!("must be at most {max} characters long"),
            _ => "has the wrong length".to_string(),
        },
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            _ => "is out of range".to_string(),
        },
        "email" => "must be an email address".to_string(),
        "url" => "must be a URL".to_string(),
        "regex" => "has an invalid format".to_string(),
        "required" => "is required".to_string(),
        "contains" => format!("must contain `{}`", param("needle").unwrap_or_default()),
        "does_not_contain" => format!("must not contain `{}`", param("needle").unwrap_or_default()),
        "must_match" => format!("must match `{}`", param("other").unwrap_or_default()),
        code => format!("is invalid ({code})"),
    }
}

/// The entry points of the generated code.
pub mod private {
    use super::*;
    use crate::config::ContainerRegistryConfig;
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use std::marker::PhantomData;

    /// What the validation core knows of a field beyond its [`FieldInfo`].
    #[derive(Debug, Clone, Copy)]
    pub struct FieldSpec {
        /// The Rust name of the field, as validator reports it.
        pub rust_name: &'static str,
        /// Checks that a value reads as the field's type (with its `deserialize_with`, if any);
        /// the message if not.
        pub check: fn(&Value) -> Option<String>,
    }

    /// `<OptionProbe<T>>::IS_OPTION` is `true` exactly when `T` is an `Option`, whatever path or
    /// type alias names it. The inherent constant below exists only for `OptionProbe<Option<U>>`
    /// and inherent items take precedence over trait items; for any other type the name resolves
    /// to [`NotOption::IS_OPTION`] (the generated code brings the trait into scope).
    pub struct OptionProbe<T: ?Sized>(PhantomData<T>);

    /// The fallback of [`OptionProbe`]: not an `Option`.
    pub trait NotOption {
        /// `false`: the probed type is not an `Option`.
        const IS_OPTION: bool = false;
    }

    impl<T: ?Sized> NotOption for OptionProbe<T> {}

    impl<T> OptionProbe<Option<T>> {
        /// `true`: the probed type is an `Option`.
        pub const IS_OPTION: bool = true;
    }

    /// Whether `value` deserializes as `T`; the error message if not. One instance per field
    /// type, shared by every config of a crate.
    pub fn check_type<T: DeserializeOwned>(value: &Value) -> Option<String> {
        T::deserialize(value).err().map(|e| e.to_string())
    }

    /// A config object that passed the checks of the field table, ready for the typed decode,
    /// with the problems that did not stop it.
    pub struct Prepared {
        /// The object to decode: canonical keys only, `uri` normalised.
        pub object: JsonObject,
        fields: &'static [FieldInfo],
        specs: &'static [FieldSpec],
        problems: Vec<ConfigProblem>,
    }

    fn problem(field: &str, message: String) -> ConfigProblem {
        ConfigProblem { field: field.to_string(), message }
    }

    /// Checks `object` against the field table: unknown keys, keys given twice, secret
    /// references on validated fields, types and missing required fields. Unknown keys and
    /// secret references on optional fields are left out so the rest can still be validated;
    /// any other problem stops here, with every problem found.
    pub fn prepare(
        fields: &'static [FieldInfo],
        specs: &'static [FieldSpec],
        object: &JsonObject,
    ) -> Result<Prepared, ConfigErrors> {
        let mut problems = Vec::new();
        let mut usable = Map::new();
        let mut blocking = false;
        let mut given: Vec<Option<&str>> = vec![None; fields.len()];
        for (key, value) in object {
            let Some(index) = field_index(fields, key) else {
                let names: Vec<&str> = fields.iter().map(|f| f.name).collect();
                problems.push(problem(key, unknown_field_message(key, &names)));
                continue;
            };
            let field = &fields[index];
            let given_as = if key == field.name { String::new() } else { format!(" (given as `{key}`)") };
            if let Some(previous) = given[index] {
                problems
                    .push(problem(field.name, format!("given twice, as `{previous}` and as `{key}`; give it once")));
                blocking = true;
                continue;
            }
            given[index] = Some(key);
            if field.validated && value.as_str().and_then(parse_secret_reference).is_some() {
                problems.push(problem(
                    field.name,
                    format!(
                        "a secret reference cannot be used here because this field is validated; give the value \
                         itself{given_as}"
                    ),
                ));
                blocking |= field.required;
                continue;
            }
            let mut value = value.clone();
            if field.name == "uri"
                && let Value::String(uri) = &mut value
            {
                // ZenML strips trailing `/` too.
                uri.truncate(uri.trim_end_matches('/').len());
            }
            if let Some(message) = specs.get(index).and_then(|spec| (spec.check)(&value)) {
                problems.push(problem(field.name, format!("{message}{given_as}")));
                blocking = true;
            }
            usable.insert(field.name.to_string(), value);
        }
        for (field, given) in fields.iter().zip(&given) {
            if field.required && given.is_none() {
                problems.push(problem(field.name, "missing required field".to_string()));
                blocking = true;
            }
        }
        if blocking {
            return Err(ConfigErrors::new(problems));
        }
        Ok(Prepared { object: usable, fields, specs, problems })
    }

    impl Prepared {
        /// After a successful decode: zenreg's `uri` checks and validator's verdict, added to
        /// the problems found before; `Ok` when there are none.
        pub fn finish(
            mut self,
            uri: &str,
            validation: Result<(), validator::ValidationErrors>,
        ) -> Result<(), ConfigErrors> {
            if let Some(message) = check_uri(uri) {
                self.problems.push(problem("uri", message.to_string()));
            }
            if let Err(errors) = validation {
                let (fields, specs) = (self.fields, self.specs);
                let serde_name = |rust_name: &str| match specs.iter().position(|s| s.rust_name == rust_name) {
                    Some(index) if index < fields.len() => fields[index].name.to_string(),
                    _ => rust_name.trim_start_matches("r#").to_string(),
                };
                flatten_validation("", &errors, &serde_name, &mut self.problems);
            }
            if self.problems.is_empty() { Ok(()) } else { Err(ConfigErrors::new(self.problems)) }
        }

        /// The typed decode failed where the field table saw nothing wrong (a custom
        /// deserializer, say): its message, under `config`, with the problems found before.
        pub fn decode_failed(mut self, error: &serde_json::Error) -> ConfigErrors {
            self.problems.push(problem("config", error.to_string()));
            ConfigErrors::new(self.problems)
        }
    }

    /// Builds and validates config `T` from a JSON object, collecting every problem: the field
    /// table is checked by the non-generic [`prepare`]; only the decode, validator's `validate`
    /// and the glue below are instantiated per config.
    pub fn config_from_json<T>(object: &JsonObject) -> Result<T, ConfigErrors>
    where
        T: ContainerRegistryConfig + DeserializeOwned + validator::Validate,
    {
        let prepared = prepare(T::FIELDS, T::FIELD_SPECS, object)?;
        match T::deserialize(ObjectDeserializer(&prepared.object)) {
            Ok(config) => {
                let validation = config.validate();
                prepared.finish(config.uri(), validation)?;
                Ok(config)
            }
            Err(error) => Err(prepared.decode_failed(&error)),
        }
    }

    /// "unknown field; did you mean `uri`?" or the list of known fields.
    fn unknown_field_message(key: &str, names: &[&str]) -> String {
        let closest = names
            .iter()
            .map(|name| (strsim::damerau_levenshtein(key, name), *name))
            .filter(|(distance, name)| *distance <= (name.len() / 3).max(1))
            .min_by_key(|(distance, _)| *distance);
        match closest {
            Some((_, name)) => format!("unknown field; did you mean `{name}`?"),
            None => format!("unknown field; known fields: {}", names.join(", ")),
        }
    }

    /// The config as a JSON object: its keys that are set, and nothing serde writes besides
    /// (a `skip_deserializing` field is no config key and would not read back).
    pub fn config_to_json<T: FlavorConfig + Serialize>(config: &T) -> JsonObject {
        output_object(T::FIELDS, serde_json::to_value(config))
    }

    /// The non-generic part of [`config_to_json`].
    fn output_object(fields: &[FieldInfo], value: Result<Value, serde_json::Error>) -> JsonObject {
        match value {
            Ok(Value::Object(mut object)) => {
                object.retain(|key, value| !value.is_null() && fields.iter().any(|f| f.name == key));
                object
            }
            _ => Map::new(),
        }
    }

    /// Presents a checked config object to a config's derived `Deserialize` as a map, and nothing
    /// else: the visitor's sequence path is never instantiated, and each field value is read by
    /// a function shared by every field of its type (`next_value_seed` is not inlined into each
    /// config's visitor). The result is what deserializing the `Value` itself gives.
    struct ObjectDeserializer<'a>(&'a JsonObject);

    impl<'de> serde::Deserializer<'de> for ObjectDeserializer<'de> {
        type Error = serde_json::Error;

        fn deserialize_any<V: serde::de::Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
            visitor.visit_map(ObjectAccess { entries: self.0.iter(), value: None })
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map struct enum identifier ignored_any
        }
    }

    struct ObjectAccess<'a> {
        entries: serde_json::map::Iter<'a>,
        value: Option<&'a Value>,
    }

    impl<'de> serde::de::MapAccess<'de> for ObjectAccess<'de> {
        type Error = serde_json::Error;

        fn next_key_seed<K: serde::de::DeserializeSeed<'de>>(
            &mut self,
            seed: K,
        ) -> Result<Option<K::Value>, Self::Error> {
            let Some((key, value)) = self.entries.next() else { return Ok(None) };
            self.value = Some(value);
            seed.deserialize(serde::de::value::BorrowedStrDeserializer::new(key)).map(Some)
        }

        #[inline(never)]
        fn next_value_seed<V: serde::de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
            match self.value.take() {
                Some(value) => seed.deserialize(value),
                None => Err(serde::de::Error::custom("a value was read before its key")),
            }
        }

        fn size_hint(&self) -> Option<usize> {
            Some(self.entries.len())
        }
    }

    /// The JSON Schema of `T` as a JSON value. Only `T`'s own derived `json_schema` is
    /// instantiated per config; the root of the schema is assembled by the non-generic
    /// `root_schema`, as schemars' `schema_for!` assembles it.
    pub fn config_schema<T: schemars::JsonSchema>() -> Value {
        root_schema(T::schema_name(), T::json_schema)
    }

    /// `schema_for!` without the type parameter: the config's schema with its title, the
    /// meta-schema, the definitions of the types it refers to, and the settings' transforms.
    fn root_schema(
        name: std::borrow::Cow<'static, str>,
        json_schema: fn(&mut schemars::SchemaGenerator) -> schemars::Schema,
    ) -> Value {
        let mut generator = schemars::SchemaGenerator::default();
        let mut schema = json_schema(&mut generator);
        let meta_schema = generator.settings().meta_schema.clone();
        let definitions_path = generator.settings().definitions_path.clone();
        let mut definitions = generator.take_definitions(false);
        let object = schema.ensure_object();
        object.entry("title").or_insert_with(|| name.into());
        if let Some(meta_schema) = meta_schema {
            object.insert("$schema".into(), meta_schema.into());
        }
        if !definitions.is_empty() {
            // `definitions_path` is a JSON pointer such as `/$defs` (optionally `#/$defs/`).
            let path = definitions_path.trim_start_matches('#').trim_end_matches('/');
            let mut target = object;
            for segment in path.split('/').filter(|segment| !segment.is_empty()) {
                let entry = target.entry(segment.to_string()).or_insert_with(|| Value::Object(Map::new()));
                if !entry.is_object() {
                    *entry = Value::Object(Map::new());
                }
                let Value::Object(next) = entry else { unreachable!("just made an object") };
                target = next;
            }
            target.append(&mut definitions);
        }
        for transform in generator.transforms_mut() {
            transform.transform(&mut schema);
        }
        schema.to_value()
    }

    /// What `schema_for!` gives, for the tests that [`root_schema`] gives the same.
    #[cfg(test)]
    pub(crate) fn schema_for<T: schemars::JsonSchema>() -> Value {
        schemars::schema_for!(T).to_value()
    }

    /// Stands in for the config of a flavor whose derive failed, so that one error is shown.
    #[derive(Debug)]
    pub enum FallbackConfig {}

    #[diagnostic::do_not_recommend]
    impl FlavorConfig for FallbackConfig {
        const COMPONENT_TYPE: ComponentType = ComponentType::ContainerRegistry;
        const FIELDS: &'static [FieldInfo] = &[];
        const FIELD_SPECS: &'static [FieldSpec] = &[];
        fn from_json(_: &JsonObject) -> Result<Self, ConfigErrors> {
            Err(ConfigErrors::single("config", "this flavor failed to compile"))
        }
        fn to_json(&self) -> JsonObject {
            match *self {}
        }
        fn json_schema() -> Value {
            Value::Null
        }
    }

    impl ContainerRegistryConfig for FallbackConfig {
        fn uri(&self) -> &str {
            match *self {}
        }
        fn authentication_secret(&self) -> Option<&str> {
            match *self {}
        }
        fn default_repository(&self) -> Option<&str> {
            match *self {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flavor_config;
    use serde_json::json;

    #[test]
    fn local_uri_matches_exactly() {
        assert!(is_local_uri("localhost:5000"));
        assert!(is_local_uri("localhost:12345"));
        assert!(!is_local_uri("localhost:500"));
        assert!(!is_local_uri("localhost:123456"));
        assert!(!is_local_uri("localhost:5000/repo"));
        assert!(!is_local_uri("127.0.0.1:5000"));
    }

    #[test]
    fn secret_references() {
        assert_eq!(parse_secret_reference("{{creds.password}}"), Some(("creds", "password")));
        assert_eq!(parse_secret_reference(" {{ a.b }} "), Some(("a", "b")));
        assert_eq!(parse_secret_reference("{{nokey}}"), None);
        assert_eq!(parse_secret_reference("plain"), None);
        assert_eq!(parse_secret_reference("{{.x}}"), None);
    }

    /// A section of [`TestConfig`], so the schema has definitions.
    #[derive(
        Debug, Clone, serde::Serialize, serde::Deserialize, validator::Validate, schemars::JsonSchema, PartialEq,
    )]
    #[serde(deny_unknown_fields)]
    pub struct Window {
        #[validate(range(max = 24))]
        start_hour: u8,
    }

    /// A config exercising names, aliases, defaults and validators.
    #[flavor_config(container_registry, validate = not_both)]
    #[serde(rename_all = "kebab-case")]
    pub struct TestConfig {
        /// Required and validated.
        #[validate(length(min = 2))]
        project_name: String,
        /// Optional, with an old name.
        #[serde(alias = "zone")]
        region_name: Option<String>,
        /// Renamed, defaulted.
        #[serde(rename = "jobs", default = "two")]
        #[validate(range(min = 1, max = 8))]
        parallel_jobs: u32,
        /// Optional, not validated.
        mirror: Option<String>,
        /// A nested section.
        #[serde(default)]
        #[validate(nested)]
        window: Option<Window>,
    }

    fn two() -> u32 {
        2
    }

    fn not_both(config: &TestConfig) -> Result<(), validator::ValidationError> {
        match (&config.mirror, &config.region_name) {
            (Some(_), Some(_)) => Err(validator::ValidationError::new("both")
                .with_message("`mirror` and `region-name` exclude each other".into())),
            _ => Ok(()),
        }
    }

    fn object(value: Value) -> JsonObject {
        value.as_object().cloned().expect("an object")
    }

    #[test]
    fn the_field_table_has_serde_names() {
        let table: Vec<(&str, &[&str], bool, bool)> =
            TestConfig::FIELDS.iter().map(|f| (f.name, f.aliases, f.required, f.validated)).collect();
        let none: &[&str] = &[];
        assert_eq!(
            table,
            [
                ("uri", none, true, true),
                ("authentication_secret", none, false, false),
                ("default_repository", none, false, false),
                ("project-name", none, true, true),
                ("region-name", &["zone"][..], false, false),
                ("jobs", none, false, true),
                ("mirror", none, false, false),
                ("window", none, false, true),
            ]
        );
        let vtable = ConfigVTable::of::<TestConfig>();
        assert_eq!(vtable.field("zone").map(|f| f.name), Some("region-name"));
        assert_eq!(vtable.field("parallel_jobs"), None);
    }

    #[test]
    fn a_valid_config_is_normalised_under_canonical_names() {
        let config = TestConfig::from_json(&object(json!({
            "uri": "registry.test:5000///",
            "project-name": "ml",
            "zone": "eu",
            "window": { "start_hour": 3 },
        })))
        .unwrap();
        assert_eq!(config.uri, "registry.test:5000");
        assert_eq!(config.region_name.as_deref(), Some("eu"));
        assert_eq!(config.parallel_jobs, 2);
        assert_eq!(
            Value::Object(config.to_json()),
            json!({
                "uri": "registry.test:5000", "project-name": "ml", "region-name": "eu", "jobs": 2,
                "window": { "start_hour": 3 },
            })
        );
        assert_eq!(TestConfig::from_json(&config.to_json()).unwrap().to_json(), config.to_json());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let errors = TestConfig::from_json(&object(json!({
            "project_name": "ml",
            "jobs": "many",
            "zone": 7,
            "colour": "red",
        })))
        .unwrap_err();
        let lines = errors.lines();
        assert_eq!(lines.len(), 6, "{lines:#?}");
        assert_eq!(
            lines[0],
            "colour: unknown field; known fields: uri, authentication_secret, default_repository, project-name, \
             region-name, jobs, mirror, window"
        );
        assert!(lines[1].starts_with("jobs: invalid type: string \"many\", expected u32"), "{}", lines[1]);
        assert_eq!(lines[2], "project-name: missing required field");
        assert_eq!(lines[3], "project_name: unknown field; did you mean `project-name`?");
        assert!(lines[4].starts_with("region-name: invalid type: integer `7`"), "{}", lines[4]);
        assert!(lines[4].ends_with(" (given as `zone`)"), "{}", lines[4]);
        assert_eq!(lines[5], "uri: missing required field");
    }

    #[test]
    fn validators_report_under_serde_names_with_uri_and_struct_checks() {
        let errors = TestConfig::from_json(&object(json!({
            "uri": "http://registry.test",
            "project-name": "m",
            "jobs": 9,
            "mirror": "m.test",
            "region-name": "eu",
            "window": { "start_hour": 25 },
            "nope": 1,
        })))
        .unwrap_err();
        assert_eq!(
            errors.lines(),
            [
                "config: `mirror` and `region-name` exclude each other",
                "jobs: must be between 1 and 8",
                "nope: unknown field; known fields: uri, authentication_secret, default_repository, project-name, \
                 region-name, jobs, mirror, window",
                "project-name: must be at least 2 characters long",
                "uri: must not have a scheme: drop `http://` or `https://` (e.g. `ghcr.io/my-org`)",
                "window.start_hour: must be at most 24",
            ]
        );
    }

    #[test]
    fn secret_references_only_on_fields_without_validators() {
        let config = TestConfig::from_json(&object(json!({
            "uri": "registry.test",
            "project-name": "ml",
            "mirror": "{{store.mirror}}",
        })))
        .unwrap();
        assert_eq!(config.mirror.as_deref(), Some("{{store.mirror}}"));
        let errors = TestConfig::from_json(&object(json!({
            "uri": "{{store.uri}}",
            "project-name": "{{store.project}}",
            "jobs": "{{store.jobs}}",
        })))
        .unwrap_err();
        let fields: Vec<&str> = errors.problems().iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["jobs", "project-name", "uri"]);
        assert!(errors.problems().iter().all(|p| p.message.starts_with("a secret reference cannot be used here")));
    }

    #[test]
    fn a_key_and_its_alias_together_are_refused() {
        let errors = TestConfig::from_json(&object(json!({
            "uri": "registry.test",
            "project-name": "ml",
            "region-name": "eu",
            "zone": "us",
        })))
        .unwrap_err();
        assert_eq!(errors.lines(), ["region-name: given twice, as `region-name` and as `zone`; give it once"]);
    }

    #[test]
    fn the_map_decode_equals_serdes_own() {
        let input = json!({
            "uri": "registry.test", "project-name": "ml", "region-name": "eu", "jobs": 3,
            "window": { "start_hour": 1 },
        });
        let prepared = private::prepare(TestConfig::FIELDS, TestConfig::FIELD_SPECS, &object(input.clone())).unwrap();
        let ours = private::config_from_json::<TestConfig>(&prepared.object).unwrap();
        let serdes: TestConfig = serde_json::from_value(input).unwrap();
        assert_eq!(serde_json::to_value(ours).unwrap(), serde_json::to_value(serdes).unwrap());
    }

    /// A config with the base fields only, like the built-in flavors' (declared here so that
    /// this module does not import `builtin`, which sits above it).
    #[crate::flavor_config(container_registry)]
    struct BaseOnlyConfig {}

    #[test]
    fn the_root_schema_equals_schema_for() {
        assert_eq!(TestConfig::json_schema(), private::schema_for::<TestConfig>());
        assert!(TestConfig::json_schema()["$defs"]["Window"].is_object());
        assert_eq!(BaseOnlyConfig::json_schema(), private::schema_for::<BaseOnlyConfig>());
    }
}
