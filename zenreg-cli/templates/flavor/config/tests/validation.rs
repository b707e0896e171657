//! The `{{name}}` config accepts good values and reports every problem of a bad one at once.

use serde_json::{Value, json};
use zenreg_core::{ContainerRegistryConfig as _, FlavorConfig as _, JsonObject};

use {{name}}_config::{{Camel}}ContainerRegistryConfig;

fn object(value: Value) -> JsonObject {
    value.as_object().cloned().expect("test input is an object")
}

/// The fields an error names, in its (sorted) order.
fn fields(lines: &[String]) -> Vec<&str> {
    lines.iter().map(|line| line.split(':').next().unwrap_or_default()).collect()
}

#[test]
fn a_good_config_is_accepted_and_normalised() {
    let config = {{Camel}}ContainerRegistryConfig::from_json(&object(json!({
        "uri": "registry.example.com/",
        "project": "ml",
    })))
    .expect("a valid config");
    assert_eq!(config.uri, "registry.example.com", "a trailing `/` is dropped");
    assert_eq!(config.project, "ml");
    assert!(!config.requires_authentication());
    assert_eq!(Value::Object(config.to_json()), json!({ "uri": "registry.example.com", "project": "ml" }));
}

#[test]
fn missing_and_unknown_fields_are_reported_together() {
    let errors = {{Camel}}ContainerRegistryConfig::from_json(&object(json!({
        "projekt": "ml",
        "colour": "blue",
    })))
    .expect_err("an invalid config");
    let lines = errors.lines();
    assert_eq!(fields(&lines), ["colour", "project", "projekt", "uri"], "{lines:#?}");
    assert!(lines[2].contains("`project`"), "a near miss is pointed at: {}", lines[2]);
}

#[test]
fn every_failing_validator_is_reported() {
    let too_long = "p".repeat(65);
    for project in ["", too_long.as_str()] {
        let errors = {{Camel}}ContainerRegistryConfig::from_json(&object(json!({
            "uri": "https://registry.example.com",
            "project": project,
        })))
        .expect_err("an invalid config");
        let lines = errors.lines();
        assert_eq!(fields(&lines), ["project", "uri"], "{lines:#?}");
        assert!(lines[0].contains("64"), "the limit is named: {}", lines[0]);
    }
}
