//! serde, schemars and validate attributes written by the user, on the struct and its fields,
//! work with #[flavor_config] and agree with the field table, the checks and the schema.

use serde_json::{Value, json};
use zenreg_core::__private::serde::{Deserialize, Deserializer};
use zenreg_core::__private::validator::ValidationError;
use zenreg_core::{ContainerRegistryConfig, FlavorConfig, flavor_config};

pub type MaybeText = Option<String>;

mod deep {
    pub type Maybe<T> = ::core::option::Option<T>;
}

/// A nested section, validated with `#[validate(nested)]`.
#[derive(
    Debug,
    Clone,
    zenreg_core::__private::serde::Serialize,
    zenreg_core::__private::serde::Deserialize,
    zenreg_core::__private::validator::Validate,
    zenreg_core::__private::schemars::JsonSchema,
)]
#[serde(crate = "zenreg_core::__private::serde", deny_unknown_fields)]
#[validate(crate = "zenreg_core::__private::validator")]
#[schemars(crate = "zenreg_core::__private::schemars")]
pub struct Limits {
    #[validate(range(max = 100))]
    pub max: u32,
}

/// Every attribute a config author may write.
#[flavor_config(container_registry, validate = whole)]
#[derive(PartialEq, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "Serde-minded config", description = "Keys in camelCase.")]
#[validate(schema(function = "no_root_project", skip_on_field_errors = false))]
pub struct SerdeConfig {
    /// Project; `proj` accepted.
    #[serde(alias = "proj")]
    #[validate(length(min = 1))]
    pub project_name: String,
    /// Renamed explicitly.
    #[serde(rename = "zone")]
    #[schemars(example = "eu-1")]
    pub availability_zone: std::option::Option<String>,
    /// Defaulted through a function.
    #[serde(default = "three", skip_serializing_if = "is_three")]
    pub retry_count: u32,
    /// Defaulted through `Default`.
    #[serde(default)]
    pub labels: Vec<String>,
    /// Not a config key.
    #[serde(skip)]
    pub cache: Vec<u8>,
    /// Read but never taken from input.
    #[serde(skip_deserializing)]
    pub computed: u32,
    /// Option behind aliases and paths.
    pub note: MaybeText,
    pub deep_note: deep::Maybe<u8>,
    pub core_note: ::core::option::Option<u8>,
    /// Optional by marker, required by marker.
    #[flavor(optional)]
    pub maybe: MaybeText,
    #[flavor(required)]
    pub must: Option<String>,
    /// Read by a function of its own.
    #[serde(deserialize_with = "read_level")]
    pub level: u8,
    /// A nested section.
    #[validate(nested)]
    #[serde(default = "limits")]
    pub limits: Limits,
    /// A raw identifier.
    #[serde(default)]
    pub r#type: Option<String>,
}

fn three() -> u32 {
    3
}

fn is_three(n: &u32) -> bool {
    *n == 3
}

fn limits() -> Limits {
    Limits { max: 10 }
}

fn read_level<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u8, D::Error> {
    match String::deserialize(deserializer)?.as_str() {
        "low" => Ok(1),
        "high" => Ok(9),
        other => Err(zenreg_core::__private::serde::de::Error::custom(format!("unknown level `{other}`"))),
    }
}

fn whole(config: &SerdeConfig) -> Result<(), ValidationError> {
    if config.labels.len() > 3 { Err(ValidationError::new("labels")) } else { Ok(()) }
}

fn no_root_project(config: &SerdeConfig) -> Result<(), ValidationError> {
    if config.project_name == "root" {
        Err(ValidationError::new("root").with_message("`root` is reserved".into()))
    } else {
        Ok(())
    }
}

impl PartialEq for Limits {
    fn eq(&self, other: &Self) -> bool {
        self.max == other.max
    }
}

fn object(value: Value) -> zenreg_core::JsonObject {
    value.as_object().unwrap().clone()
}

fn main() {
    let table: Vec<(&str, bool)> = SerdeConfig::FIELDS.iter().map(|f| (f.name, f.required)).collect();
    assert_eq!(
        table,
        [
            ("uri", true),
            ("authentication_secret", false),
            ("default_repository", false),
            ("projectName", true),
            ("zone", false),
            ("retryCount", false),
            ("labels", false),
            ("note", false),
            ("deepNote", false),
            ("coreNote", false),
            ("maybe", false),
            ("must", true),
            ("level", true),
            ("limits", false),
            ("type", false),
        ]
    );
    assert_eq!(SerdeConfig::FIELDS[3].aliases, ["proj"]);

    let schema = SerdeConfig::json_schema();
    assert_eq!(schema["title"], "Serde-minded config");
    let properties: Vec<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    let names: Vec<&str> = SerdeConfig::FIELDS.iter().map(|f| f.name).collect();
    assert_eq!(properties, names);
    let required: Vec<&str> = schema["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(required, ["uri", "projectName", "must", "level"]);

    let config = SerdeConfig::from_json(&object(json!({
        "uri": "localhost:5000/",
        "proj": "web",
        "must": "yes",
        "level": "high",
        "type": "t",
    })))
    .unwrap();
    assert_eq!(config.uri(), "localhost:5000");
    assert_eq!(config.project_name, "web");
    assert_eq!(config.retry_count, 3);
    assert_eq!(config.level, 9);
    assert_eq!(config.r#type.as_deref(), Some("t"));
    let stored = config.to_json();
    assert_eq!(
        Value::Object(stored.clone()),
        json!({
            "uri": "localhost:5000", "projectName": "web", "labels": [], "must": "yes", "level": 9,
            "limits": { "max": 10 }, "type": "t",
        })
    );

    let errors = SerdeConfig::from_json(&object(json!({
        "uri": "localhost:5000",
        "projectName": "root",
        "must": "yes",
        "level": "high",
        "labels": ["a", "b", "c", "d"],
        "limits": { "max": 1000 },
    })))
    .unwrap_err();
    assert_eq!(
        errors.lines(),
        ["config: `root` is reserved", "config: is invalid (labels)", "limits.max: must be at most 100"]
    );

    let errors = SerdeConfig::from_json(&object(json!({
        "uri": "localhost:5000",
        "project_name": "web",
        "level": "medium",
        "cache": [1],
        "computed": 1,
    })))
    .unwrap_err();
    let lines = errors.lines();
    assert_eq!(lines.len(), 6, "{lines:#?}");
    assert!(lines[0].starts_with("cache: unknown field; known fields: uri,"), "{}", lines[0]);
    assert!(lines[1].starts_with("computed: unknown field; known fields: uri,"), "{}", lines[1]);
    assert_eq!(lines[2], "level: unknown level `medium`");
    assert_eq!(lines[3], "must: missing required field");
    assert_eq!(lines[4], "projectName: missing required field");
    assert_eq!(lines[5], "project_name: unknown field; did you mean `projectName`?");
}
