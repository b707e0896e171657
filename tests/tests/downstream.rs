//! A downstream crate's flavor is a flavor like any other: listed, validated, implemented.

use serde_json::{Value, json};
use zenreg_acme::AcmeRegistryConfig;
use zenreg_core::{Catalog, CatalogError, ComponentType, ContainerRegistryConfig, FlavorConfig};

const CR: ComponentType = ComponentType::ContainerRegistry;

fn object(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().expect("test input is an object").clone()
}

#[test]
fn the_downstream_flavor_is_in_the_catalog_next_to_the_built_ins() {
    let names = Catalog::global().names(CR);
    for expected in ["acme", "acme_unlinked", "default", "dockerhub", "github", "gcp", "azure", "digitalocean"] {
        assert!(names.contains(&expected), "{expected} missing from {names:?}");
    }
    let acme = Catalog::global().flavor(CR, "acme").unwrap();
    assert_eq!(acme.descriptor.integration, "zenreg-acme");
    assert_eq!(acme.descriptor.source, "zenreg_acme::AcmeRegistryFlavor");
    assert_eq!(acme.descriptor.display_name, "Acme Registry");
    assert_eq!(acme.descriptor.description, "The Acme in-house registry.");
    assert_eq!(acme.descriptor.resource_type(), "docker-registry");
    assert!(acme.is_linked());
    assert!(Catalog::global().conflicts().is_empty());
}

#[test]
fn an_unlinked_implementation_names_the_feature_that_links_it() {
    let entry = Catalog::global().flavor(CR, "acme_unlinked").unwrap();
    assert!(!entry.is_linked());
    let error = Catalog::global().implementation(CR, "acme_unlinked").unwrap_err();
    assert_eq!(
        error,
        CatalogError::NotLinked {
            flavor: "acme_unlinked".into(),
            feature: Some("acme-heavy".into()),
            implementation: Some("acme_heavy::AcmeHeavyRegistry".into()),
        }
    );
}

#[test]
fn an_unknown_flavor_lists_the_known_ones() {
    let error = Catalog::global().flavor(CR, "acmee").unwrap_err();
    let message = error.to_string();
    assert!(message.starts_with("unknown container_registry flavor `acmee`; known flavors: acme, acme_unlinked"));
}

#[test]
fn a_valid_config_is_normalised() {
    let config = AcmeRegistryConfig::from_json(&object(json!({
        "uri": "registry.acme.test:5000//",
        "project": "ml",
    })))
    .unwrap();
    assert_eq!(config.uri, "registry.acme.test:5000");
    assert_eq!(config.parallelism, 4);
    assert!(!config.requires_authentication());
    assert!(!config.is_local());
    assert_eq!(
        Value::Object(config.to_json()),
        json!({ "uri": "registry.acme.test:5000", "project": "ml", "parallelism": 4, "labels": [] })
    );
}

#[test]
fn every_problem_is_reported_at_once_sorted_by_field() {
    let errors = AcmeRegistryConfig::from_json(&object(json!({
        "projekt": "ml",
        "parallelism": "many",
        "labels": [1],
        "colour": "blue",
    })))
    .unwrap_err();
    let lines = errors.lines();
    assert_eq!(lines.len(), 6, "{lines:#?}");
    assert_eq!(
        lines[0],
        "colour: unknown field; known fields: uri, authentication_secret, default_repository, project, parallelism, mirror, labels"
    );
    assert!(lines[1].starts_with("labels: invalid type: integer `1`, expected a string"), "{}", lines[1]);
    assert!(lines[2].starts_with("parallelism: invalid type: string \"many\""), "{}", lines[2]);
    assert_eq!(lines[3], "project: missing required field");
    assert_eq!(lines[4], "projekt: unknown field; did you mean `project`?");
    assert_eq!(lines[5], "uri: missing required field");
}

#[test]
fn validators_run_after_types_check_and_all_of_them_report() {
    let errors = AcmeRegistryConfig::from_json(&object(json!({
        "uri": "https://registry.acme.test",
        "project": "",
        "parallelism": 99,
    })))
    .unwrap_err();
    assert_eq!(
        errors.lines(),
        [
            "parallelism: must be between 1 and 16",
            "project: must be between 1 and 40 characters long",
            "uri: must not have a scheme: drop `http://` or `https://` (e.g. `ghcr.io/my-org`)",
        ]
    );
}

#[test]
fn struct_level_validators_report_under_config() {
    let errors = AcmeRegistryConfig::from_json(&object(json!({
        "uri": "registry.acme.test",
        "project": "ml",
        "mirror": "registry.acme.test",
    })))
    .unwrap_err();
    assert_eq!(errors.lines(), ["config: `mirror` must differ from `uri`: a registry cannot mirror itself"]);
}

#[test]
fn secret_references_are_accepted_only_on_fields_without_validators() {
    let ok = AcmeRegistryConfig::from_json(&object(json!({
        "uri": "registry.acme.test",
        "project": "ml",
        "mirror": "{{acme_mirror.host}}",
    })));
    assert_eq!(ok.unwrap().mirror.as_deref(), Some("{{acme_mirror.host}}"));
    let errors = AcmeRegistryConfig::from_json(&object(json!({
        "uri": "{{acme.uri}}",
        "project": "{{acme.project}}",
    })))
    .unwrap_err();
    assert_eq!(errors.problems().len(), 2);
    for problem in errors.problems() {
        assert!(problem.message.starts_with("a secret reference cannot be used here"), "{problem}");
    }
}

#[test]
fn the_schema_carries_docs_types_and_required_fields() {
    let schema = AcmeRegistryConfig::json_schema();
    assert_eq!(schema["properties"]["project"]["description"], "Project that images are pushed into.");
    assert_eq!(schema["properties"]["parallelism"]["type"], "integer");
    assert_eq!(schema["additionalProperties"], false);
    let required: Vec<&str> = schema["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(required, ["uri", "project"]);
    let fields: Vec<(&str, bool, bool)> =
        AcmeRegistryConfig::FIELDS.iter().map(|f| (f.name, f.required, f.validated)).collect();
    assert_eq!(
        fields,
        [
            ("uri", true, true),
            ("authentication_secret", false, false),
            ("default_repository", false, false),
            ("project", true, true),
            ("parallelism", false, true),
            ("mirror", false, false),
            ("labels", false, false),
        ]
    );
}

#[test]
fn the_catalog_builds_a_working_implementation_from_a_stored_config() {
    let implementation = Catalog::global().implementation(CR, "acme").unwrap();
    let registry = (implementation.build)(&object(json!({
        "uri": "registry.acme.test",
        "project": "ml",
        "authentication_secret": "acme_creds",
    })))
    .unwrap();
    assert_eq!(registry.flavor().name, "acme");
    assert!(registry.requires_authentication());
    assert_eq!((implementation.type_name)(), "zenreg_acme::AcmeRegistry");
    assert!(block_on(registry.prepare_image_push("registry.acme.test/ml/app:1", &Default::default())).is_ok());
    let refused =
        block_on(registry.prepare_image_push("registry.acme.test/other/app:1", &Default::default())).unwrap_err();
    assert_eq!(refused.to_string(), "image `registry.acme.test/other/app:1` is outside project `ml`");
    let invalid = (implementation.build)(&object(json!({ "uri": "registry.acme.test" })));
    assert!(invalid.is_err());
}

/// The futures here never wait on I/O, so polling them once with a no-op waker completes them.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("future was not ready"),
    }
}

mod camel {
    //! A flavor whose config follows serde's names: `rename_all`, `rename`, `alias`, defaults,
    //! an `Option` behind a type alias, a skipped field. The base fields keep their names.

    use super::{CR, object};
    use serde_json::{Value, json};
    use zenreg_acme::CamelRegistryConfig;
    use zenreg_core::{Catalog, ContainerRegistryConfig, FlavorConfig};

    fn valid() -> Value {
        json!({ "uri": "camel.test/", "organisationName": "acme", "project": "web" })
    }

    #[test]
    fn the_flavor_is_listed() {
        let entry = Catalog::global().flavor(CR, "camel").unwrap();
        assert_eq!(entry.descriptor.source, "zenreg_acme::CamelRegistryFlavor");
        assert!(entry.is_linked());
    }

    #[test]
    fn fields_carry_serde_names_and_base_fields_stay_snake_case() {
        let fields: Vec<(&str, &[&str], bool, bool)> =
            CamelRegistryConfig::FIELDS.iter().map(|f| (f.name, f.aliases, f.required, f.validated)).collect();
        let none: &[&str] = &[];
        assert_eq!(
            fields,
            [
                ("uri", none, true, true),
                ("authentication_secret", none, false, false),
                ("default_repository", none, false, false),
                ("organisationName", none, true, true),
                ("project", none, true, false),
                ("maxRetries", &["retry_count"][..], false, true),
                ("timeoutSeconds", none, false, false),
                ("mirrorHost", none, false, false),
            ]
        );
        let vtable = Catalog::global().flavor(CR, "camel").unwrap().descriptor.config;
        assert_eq!(vtable.field("retry_count").map(|f| f.name), Some("maxRetries"));
        assert!(vtable.field("resolved").is_none());
    }

    #[test]
    fn the_schema_agrees_with_the_field_table() {
        let schema = CamelRegistryConfig::json_schema();
        let properties: Vec<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
        let names: Vec<&str> = CamelRegistryConfig::FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(properties, names);
        let required: Vec<&str> = schema["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        let table: Vec<&str> = CamelRegistryConfig::FIELDS.iter().filter(|f| f.required).map(|f| f.name).collect();
        assert_eq!(required, table);
        assert_eq!(schema["properties"]["timeoutSeconds"]["default"], 30);
        assert_eq!(schema["additionalProperties"], false);
    }

    #[test]
    fn a_config_in_serde_names_is_normalised_under_them() {
        let mut input = object(valid());
        input.insert("retry_count".into(), json!(3));
        input.insert("authentication_secret".into(), json!("camel_creds"));
        let config = CamelRegistryConfig::from_json(&input).unwrap();
        assert_eq!(config.uri, "camel.test");
        assert_eq!(config.max_retries, Some(3));
        assert_eq!(config.timeout_seconds, 30);
        assert_eq!(config.mirror_host, None);
        assert!(config.requires_authentication());
        assert_eq!(
            Value::Object(config.to_json()),
            json!({
                "uri": "camel.test",
                "authentication_secret": "camel_creds",
                "organisationName": "acme",
                "project": "web",
                "maxRetries": 3,
                "timeoutSeconds": 30,
            })
        );
        // What is stored reads back as the same config.
        let again = CamelRegistryConfig::from_json(&config.to_json()).unwrap();
        assert_eq!(again.to_json(), config.to_json());
    }

    #[test]
    fn rust_names_and_camel_case_base_fields_are_unknown_keys() {
        let errors = CamelRegistryConfig::from_json(&object(json!({
            "uri": "camel.test",
            "organisation_name": "acme",
            "projectIdentifier": "web",
            "authenticationSecret": "creds",
            "resolved": ["x"],
        })))
        .unwrap_err();
        assert_eq!(
            errors.lines(),
            [
                "authenticationSecret: unknown field; did you mean `authentication_secret`?",
                "organisationName: missing required field",
                "organisation_name: unknown field; did you mean `organisationName`?",
                "project: missing required field",
                "projectIdentifier: unknown field; known fields: uri, authentication_secret, default_repository, \
                 organisationName, project, maxRetries, timeoutSeconds, mirrorHost",
                "resolved: unknown field; known fields: uri, authentication_secret, default_repository, \
                 organisationName, project, maxRetries, timeoutSeconds, mirrorHost",
            ]
        );
    }

    #[test]
    fn problems_are_reported_under_serde_names() {
        let mut input = object(valid());
        input.insert("organisationName".into(), json!(""));
        input.insert("retry_count".into(), json!(11));
        let errors = CamelRegistryConfig::from_json(&input).unwrap_err();
        assert_eq!(
            errors.lines(),
            ["maxRetries: must be at most 10", "organisationName: must be between 1 and 40 characters long"]
        );

        input.insert("retry_count".into(), json!("often"));
        input.insert("timeoutSeconds".into(), json!(-1));
        let lines = CamelRegistryConfig::from_json(&input).unwrap_err().lines();
        assert_eq!(lines.len(), 2, "{lines:#?}");
        assert!(lines[0].starts_with("maxRetries: invalid type: string \"often\""), "{}", lines[0]);
        assert!(lines[0].ends_with("(given as `retry_count`)"), "{}", lines[0]);
        assert!(lines[1].starts_with("timeoutSeconds: invalid value: integer `-1`"), "{}", lines[1]);

        let mut twice = object(valid());
        twice.insert("maxRetries".into(), json!(1));
        twice.insert("retry_count".into(), json!(2));
        assert_eq!(
            CamelRegistryConfig::from_json(&twice).unwrap_err().lines(),
            ["maxRetries: given twice, as `maxRetries` and as `retry_count`; give it once"]
        );
    }

    #[test]
    fn secret_references_follow_the_serde_names() {
        let mut input = object(valid());
        input.insert("mirrorHost".into(), json!("{{camel.mirror}}"));
        let config = CamelRegistryConfig::from_json(&input).unwrap();
        assert_eq!(config.mirror_host.as_deref(), Some("{{camel.mirror}}"));

        input.insert("organisationName".into(), json!("{{camel.org}}"));
        let errors = CamelRegistryConfig::from_json(&input).unwrap_err();
        assert_eq!(errors.problems().len(), 1);
        assert_eq!(errors.problems()[0].field, "organisationName");
        assert!(errors.problems()[0].message.starts_with("a secret reference cannot be used here"));
    }

    #[test]
    fn the_catalog_validates_with_serde_names() {
        let entry = Catalog::global().flavor(CR, "camel").unwrap();
        let stored = (entry.descriptor.config.validate)(&object(valid())).unwrap();
        assert_eq!(
            Value::Object(stored.clone()),
            json!({
                "uri": "camel.test", "organisationName": "acme", "project": "web", "timeoutSeconds": 30
            })
        );
        let implementation = Catalog::global().implementation(CR, "camel").unwrap();
        let registry = (implementation.build)(&stored).unwrap();
        assert_eq!(registry.flavor().name, "camel");
    }
}
