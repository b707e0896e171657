//! `zenreg flavor list` and `zenreg flavor describe NAME`; `init`, `register` and `check` live in
//! their own modules.

use super::output::{self, OutputArg, OutputFormat};
use crate::error::Error;
use clap::{Args, Subcommand};
use serde::Serialize;
use serde_json::Value;
use zenreg_core::{Catalog, ComponentType, FieldInfo, FlavorEntry};

#[derive(Debug, Subcommand)]
pub(super) enum FlavorCommand {
    /// List every flavor linked into this binary.
    List(ListArgs),
    /// Show a flavor and the schema of its configuration.
    Describe(DescribeArgs),
    /// Write a cargo workspace for a new flavor: config crate, implementation crate, a binary
    /// linking them, tests and a README.
    Init(crate::flavor_init::InitArgs),
    /// Explain how a flavor is registered: by linking its crate into the binary (exits with 2).
    Register(crate::flavor_register::RegisterArgs),
    /// Build a flavor workspace and check its flavors: compiler errors, duplicate names, config
    /// fields without docs, implementations without their feature.
    Check(crate::flavor_check::CheckArgs),
}

#[derive(Debug, Args)]
pub(super) struct ListArgs {
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Debug, Args)]
pub(super) struct DescribeArgs {
    /// Name of the flavor (see `zenreg flavor list`).
    name: String,
    #[command(flatten)]
    output: OutputArg,
}

pub(super) fn run(command: FlavorCommand) -> Result<(), Error> {
    let catalog = Catalog::global();
    match command {
        FlavorCommand::List(args) => list(catalog, args.output.format),
        FlavorCommand::Describe(args) => describe(catalog, &args.name, args.output.format),
        FlavorCommand::Init(args) => crate::flavor_init::run(args),
        FlavorCommand::Register(args) => crate::flavor_register::run(args),
        FlavorCommand::Check(args) => crate::flavor_check::run(args),
    }
}

/// One flavor as `flavor list --output json` shows it.
#[derive(Debug, Serialize)]
pub struct FlavorSummary {
    /// Flavor name.
    pub name: &'static str,
    /// Human name.
    pub display_name: &'static str,
    /// Component type (`container_registry`).
    pub component_type: ComponentType,
    /// Crate that defines the flavor.
    pub integration: &'static str,
    /// Rust path of the flavor type.
    pub source: &'static str,
    /// Rust path of the implementation type.
    pub implementation: Option<&'static str>,
    /// Whether the implementation is linked into this binary.
    pub implementation_linked: bool,
    /// Crate that registered the linked implementation.
    pub implementation_integration: Option<&'static str>,
    /// Cargo feature that links the implementation.
    pub feature: Option<&'static str>,
    /// Service connector type.
    pub connector_type: Option<&'static str>,
    /// Service connector resource type.
    pub resource_type: &'static str,
    /// Documentation URL.
    pub docs_url: Option<&'static str>,
    /// Implementation API documentation URL.
    pub sdk_docs_url: Option<&'static str>,
    /// Logo URL.
    pub logo_url: Option<&'static str>,
    /// The flavor type's doc comment.
    pub description: &'static str,
}

impl From<FlavorEntry> for FlavorSummary {
    fn from(entry: FlavorEntry) -> Self {
        let d = entry.descriptor;
        FlavorSummary {
            name: d.name,
            display_name: d.display_name,
            component_type: d.component_type,
            integration: d.integration,
            source: d.source,
            implementation: d.implementation,
            implementation_linked: entry.is_linked(),
            implementation_integration: entry.implementation.map(|i| i.integration),
            feature: d.feature,
            connector_type: d.connector_type,
            resource_type: d.resource_type(),
            docs_url: d.docs_url,
            sdk_docs_url: d.sdk_docs_url,
            logo_url: d.logo_url,
            description: d.description,
        }
    }
}

fn implementation_cell(entry: &FlavorEntry) -> String {
    match (entry.is_linked(), entry.descriptor.feature) {
        (true, _) => "linked".to_string(),
        (false, Some(feature)) => format!("not linked (feature `{feature}`)"),
        (false, None) => "not linked".to_string(),
    }
}

fn linked_note(entry: &FlavorEntry) -> String {
    match (entry.is_linked(), entry.descriptor.feature) {
        (true, _) => "linked".to_string(),
        (false, Some(feature)) => format!("not linked: build with `--features {feature}`"),
        (false, None) => "not linked".to_string(),
    }
}

fn list(catalog: &Catalog, format: OutputFormat) -> Result<(), Error> {
    let entries: Vec<FlavorEntry> = ComponentType::ALL.iter().flat_map(|t| catalog.flavors(*t)).collect();
    match format {
        OutputFormat::Json => {
            let summaries: Vec<FlavorSummary> = entries.into_iter().map(FlavorSummary::from).collect();
            output::print_json(&summaries)?;
        }
        OutputFormat::Table => {
            let rows = entries.iter().map(|entry| {
                let d = entry.descriptor;
                vec![
                    d.name.to_string(),
                    d.integration.to_string(),
                    d.source.to_string(),
                    implementation_cell(entry),
                    d.connector_type.unwrap_or("-").to_string(),
                    d.resource_type().to_string(),
                ]
            });
            output::print_rows(
                &["FLAVOR", "INTEGRATION", "SOURCE", "IMPLEMENTATION", "CONNECTOR TYPE", "RESOURCE TYPE"],
                rows,
            )?;
        }
    }
    // A conflict is reported after the listing, so the user sees both sides of it.
    match catalog.conflicts().into_iter().next() {
        Some(conflict) => Err(conflict.into()),
        None => Ok(()),
    }
}

/// One config property as `flavor describe` shows it.
#[derive(Debug, Serialize)]
pub struct PropertySummary {
    /// Field name.
    pub name: &'static str,
    /// Type, from the JSON Schema (`string`, `integer`, `boolean`, `array<string>`, …).
    #[serde(rename = "type")]
    pub ty: String,
    /// Whether registration fails without it.
    pub required: bool,
    /// Whether a validator checks it (secret references are not accepted then).
    pub validated: bool,
    /// The field's doc comment.
    pub description: String,
}

#[derive(Debug, Serialize)]
struct FlavorDescription {
    #[serde(flatten)]
    summary: FlavorSummary,
    properties: Vec<PropertySummary>,
    config_schema: Value,
}

/// The properties of a flavor's config, in declaration order, read from its schema.
pub fn properties(fields: &[FieldInfo], schema: &Value) -> Vec<PropertySummary> {
    let definitions = schema.get("$defs");
    fields
        .iter()
        .map(|field| {
            let property = schema.pointer(&format!("/properties/{}", field.name)).unwrap_or(&Value::Null);
            PropertySummary {
                name: field.name,
                ty: type_label(property, definitions),
                required: field.required,
                validated: field.validated,
                description: property.get("description").and_then(Value::as_str).unwrap_or_default().to_string(),
            }
        })
        .collect()
}

/// A short type name for a JSON Schema: `string`, `integer`, `array<string>`, `"a" | "b"`, …
fn type_label(schema: &Value, definitions: Option<&Value>) -> String {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        return match definitions.and_then(|d| d.get(name)) {
            Some(definition) if definition.get("type").and_then(Value::as_str) != Some("object") => {
                type_label(definition, definitions)
            }
            _ => name.to_string(),
        };
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        return values.iter().map(Value::to_string).collect::<Vec<_>>().join(" | ");
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(options) = schema.get(key).and_then(Value::as_array) {
            let labels: Vec<String> =
                options.iter().map(|option| type_label(option, definitions)).filter(|label| label != "null").collect();
            return labels.join(" | ");
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).filter(|t| *t != "null").collect(),
        _ => return "any".to_string(),
    };
    types
        .into_iter()
        .map(|t| match (t, schema.get("items")) {
            ("array", Some(items)) => format!("array<{}>", type_label(items, definitions)),
            _ => t.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

fn describe(catalog: &Catalog, name: &str, format: OutputFormat) -> Result<(), Error> {
    let entry = catalog.flavor(ComponentType::ContainerRegistry, name)?;
    let d = entry.descriptor;
    let schema = (d.config.schema)();
    let properties = properties(d.config.fields, &schema);
    match format {
        OutputFormat::Json => output::print_json(&FlavorDescription {
            summary: FlavorSummary::from(entry),
            properties,
            config_schema: schema,
        })?,
        OutputFormat::Table => {
            let mut text = format!("Flavor {} ({}): {}\n", d.name, d.component_type, d.display_name);
            if !d.description.is_empty() {
                text.push_str(&format!("  {}\n", d.description.replace('\n', "\n  ")));
            }
            let rows = [
                ("Integration", Some(d.integration.to_string())),
                ("Source", Some(d.source.to_string())),
                ("Implementation", d.implementation.map(|i| format!("{i} ({})", linked_note(&entry)))),
                ("Connector type", d.connector_type.map(String::from)),
                ("Resource type", Some(d.resource_type().to_string())),
                ("Docs", d.docs_url.map(String::from)),
                ("SDK docs", d.sdk_docs_url.map(String::from)),
            ];
            for (label, value) in rows {
                if let Some(value) = value {
                    text.push_str(&format!("{:<15} {value}\n", format!("{label}:")));
                }
            }
            output::print(&text)?;
            let rows = properties.iter().map(|property| {
                vec![
                    property.name.to_string(),
                    property.ty.clone(),
                    if property.required { "yes" } else { "no" }.to_string(),
                    property.description.clone(),
                ]
            });
            output::print_rows(&["PROPERTY", "TYPE", "REQUIRED", "DESCRIPTION"], rows)?;
        }
    }
    Ok(())
}
