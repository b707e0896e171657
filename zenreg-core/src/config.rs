//! Flavor configs: the trait `#[flavor_config]` implements, validation that reports every
//! problem at once, and the type-erased view the catalog keeps of each config type.

use crate::component::ComponentType;
use serde_json::{Map, Value};
use std::fmt;

/// A JSON object: what configs are read from and stored as.
pub type JsonObject = Map<String, Value>;

/// One field of a flavor config, as the generated code describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct FieldInfo {
    /// Field name as written in configs and on the command line.
    pub name: &'static str,
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
    /// Every field, base fields first.
    const FIELDS: &'static [FieldInfo];

    /// Checks that `value` deserializes as the type of field `name`; the message if not.
    fn check_field(name: &str, value: &Value) -> Option<String>;

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

    /// The field called `name`, if the config has one.
    pub fn field(&self, name: &str) -> Option<&'static FieldInfo> {
        self.fields.iter().find(|f| f.name == name)
    }
}

fn validate_erased<C: FlavorConfig>(object: &JsonObject) -> Result<JsonObject, ConfigErrors> {
    C::from_json(object).map(|config| config.to_json())
}

/// Checks zenreg applies to every registry URI, whatever the flavor adds.
fn check_uri(uri: &str) -> Option<&'static str> {
    crate::uri::check(uri)
}

/// Turns validator's nested, unordered errors into `field.path: message` problems.
fn flatten_validation(prefix: &str, errors: &validator::ValidationErrors, out: &mut Vec<ConfigProblem>) {
    use validator::ValidationErrorsKind;
    for (field, kind) in errors.errors() {
        let path = match (prefix.is_empty(), field.as_ref()) {
            (true, "__all__") => "config".to_string(),
            (false, "__all__") => prefix.to_string(),
            (true, name) => name.to_string(),
            (false, name) => format!("{prefix}.{name}"),
        };
        match kind {
            ValidationErrorsKind::Field(list) => {
                out.extend(list.iter().map(|e| ConfigProblem { field: path.clone(), message: describe(e) }));
            }
            ValidationErrorsKind::Struct(inner) => flatten_validation(&path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten_validation(&format!("{path}[{index}]"), inner, out);
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
    use serde::de::DeserializeOwned;
    use serde::{Deserialize, Deserializer, Serialize};

    /// Reads a URI and strips its trailing `/` (ZenML does the same).
    pub fn deserialize_uri<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
        let uri = String::deserialize(deserializer)?;
        Ok(uri.trim_end_matches('/').to_string())
    }

    /// Whether `value` deserializes as `T`; the error message if not.
    pub fn check_type<T: DeserializeOwned>(value: &Value) -> Option<String> {
        T::deserialize(value).err().map(|e| e.to_string())
    }

    /// Builds and validates config `T` from a JSON object, collecting every problem.
    pub fn config_from_json<T>(object: &JsonObject) -> Result<T, ConfigErrors>
    where
        T: ContainerRegistryConfig + DeserializeOwned + validator::Validate,
    {
        let mut problems = Vec::new();
        // Keys that cannot be used are reported and left out, so the validators still run on
        // the rest and every problem is reported at once.
        let mut usable = object.clone();
        let mut blocking = false;
        let problem = |field: &str, message: String| ConfigProblem { field: field.to_string(), message };
        for (key, value) in object {
            let Some(field) = T::FIELDS.iter().find(|f| f.name == key) else {
                let names: Vec<&str> = T::FIELDS.iter().map(|f| f.name).collect();
                problems.push(problem(key, unknown_field_message(key, &names)));
                usable.remove(key);
                continue;
            };
            if field.validated && value.as_str().and_then(parse_secret_reference).is_some() {
                problems.push(problem(
                    key,
                    "a secret reference cannot be used here because this field is validated; give the value itself"
                        .to_string(),
                ));
                usable.remove(key);
                blocking |= field.required;
                continue;
            }
            if let Some(message) = T::check_field(key, value) {
                problems.push(problem(key, message));
                blocking = true;
            }
        }
        for field in T::FIELDS.iter().filter(|f| f.required && !object.contains_key(f.name)) {
            problems.push(problem(field.name, "missing required field".to_string()));
            blocking = true;
        }
        if blocking {
            return Err(ConfigErrors::new(problems));
        }
        let config =
            T::deserialize(&Value::Object(usable)).map_err(|e| ConfigErrors::single("config", e.to_string()))?;
        if let Some(message) = check_uri(config.uri()) {
            problems.push(problem("uri", message.to_string()));
        }
        if let Err(errors) = config.validate() {
            flatten_validation("", &errors, &mut problems);
        }
        if problems.is_empty() { Ok(config) } else { Err(ConfigErrors::new(problems)) }
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

    /// The config as a JSON object, without unset optional fields.
    pub fn config_to_json<T: Serialize>(config: &T) -> JsonObject {
        match serde_json::to_value(config) {
            Ok(Value::Object(mut object)) => {
                object.retain(|_, v| !v.is_null());
                object
            }
            _ => Map::new(),
        }
    }

    /// The JSON Schema of `T` as a JSON value.
    pub fn config_schema<T: schemars::JsonSchema>() -> Value {
        schemars::schema_for!(T).to_value()
    }

    /// Stands in for the config of a flavor whose derive failed, so that one error is shown.
    #[derive(Debug)]
    pub enum FallbackConfig {}

    #[diagnostic::do_not_recommend]
    impl FlavorConfig for FallbackConfig {
        const COMPONENT_TYPE: ComponentType = ComponentType::ContainerRegistry;
        const FIELDS: &'static [FieldInfo] = &[];
        fn check_field(_: &str, _: &Value) -> Option<String> {
            None
        }
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
}
