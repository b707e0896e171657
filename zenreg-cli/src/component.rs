//! `zenreg container-registry register|update|remove-attribute|rename|copy|list|describe|delete`.

use super::args::{self, Accepts};
use super::output::{self, OutputArg, OutputFormat};
use crate::error::{Error, registration_notes};
use crate::program::program;
use clap::{Args, Subcommand};
use serde_json::Value;
use std::io::{BufRead, IsTerminal};
use zenreg_core::ComponentType;
use zenreg_store::{Client, Component, Labels, Registration};

const CR: ComponentType = ComponentType::ContainerRegistry;

#[derive(Debug, Subcommand)]
pub(super) enum ComponentCommand {
    /// Register a container registry: `register NAME --flavor F --uri=… [--KEY=VALUE]…`.
    Register(RegisterArgs),
    /// Change attributes or labels of a container registry.
    Update(UpdateArgs),
    /// Remove optional attributes or labels of a container registry.
    RemoveAttribute(RemoveAttributeArgs),
    /// Rename a container registry.
    Rename(RenameArgs),
    /// Copy a container registry under a new name.
    Copy(CopyArgs),
    /// List container registries.
    List(ListArgs),
    /// Show a container registry.
    Describe(DescribeArgs),
    /// Delete a container registry.
    Delete(DeleteArgs),
}

#[derive(Debug, Args)]
pub(super) struct RegisterArgs {
    /// Name of the new container registry.
    name: String,
    /// Its flavor (see `zenreg flavor list`).
    #[arg(short, long)]
    flavor: Option<String>,
    /// A label, `KEY=VALUE` (repeatable).
    #[arg(short, long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Configuration attributes: `--KEY=VALUE`; `--KEY=@FILE` reads a file, `@@` escapes `@`.
    #[arg(value_name = "--KEY=VALUE", trailing_var_arg = true, allow_hyphen_values = true)]
    attributes: Vec<String>,
}

#[derive(Debug, Args)]
pub(super) struct UpdateArgs {
    /// Name or id of the container registry.
    name: String,
    /// A label to set, `KEY=VALUE` (repeatable).
    #[arg(short, long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Attributes to set: `--KEY=VALUE`; `--KEY=@FILE` reads a file, `@@` escapes `@`.
    #[arg(value_name = "--KEY=VALUE", trailing_var_arg = true, allow_hyphen_values = true)]
    attributes: Vec<String>,
}

#[derive(Debug, Args)]
pub(super) struct RemoveAttributeArgs {
    /// Name or id of the container registry.
    name: String,
    /// Attributes to remove.
    attributes: Vec<String>,
    /// A label to remove (repeatable).
    #[arg(short, long = "label", value_name = "KEY")]
    labels: Vec<String>,
}

#[derive(Debug, Args)]
pub(super) struct RenameArgs {
    /// Name or id of the container registry.
    name: String,
    /// Its new name.
    new_name: String,
}

#[derive(Debug, Args)]
pub(super) struct CopyArgs {
    /// Name or id of the container registry to copy.
    source: String,
    /// Name of the copy.
    target: String,
}

#[derive(Debug, Args)]
pub(super) struct ListArgs {
    /// Only container registries of this flavor.
    #[arg(short, long)]
    flavor: Option<String>,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Debug, Args)]
pub(super) struct DescribeArgs {
    /// Name or id of the container registry.
    name: String,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Debug, Args)]
pub(super) struct DeleteArgs {
    /// Name or id of the container registry.
    name: String,
    /// Delete without asking.
    #[arg(short, long)]
    yes: bool,
}

pub(super) fn run(command: ComponentCommand, client: &mut Client) -> Result<(), Error> {
    match command {
        ComponentCommand::Register(a) => register(client, a),
        ComponentCommand::Update(a) => update(client, a),
        ComponentCommand::RemoveAttribute(a) => {
            if a.attributes.is_empty() && a.labels.is_empty() {
                return Err(Error::usage(
                    "nothing to remove",
                    Some(format!(
                        "name attributes (`default_repository`) or labels (`--label k`) to `remove-attribute {}`",
                        a.name
                    )),
                ));
            }
            let component = client.remove_component_attributes(CR, &a.name, &a.attributes, &a.labels)?;
            say!("Updated container registry `{}`.", component.name);
            Ok(())
        }
        ComponentCommand::Rename(a) => {
            let component = client.rename_component(CR, &a.name, &a.new_name)?;
            say!("Renamed container registry `{}` to `{}`.", a.name, component.name);
            Ok(())
        }
        ComponentCommand::Copy(a) => {
            let component = client.copy_component(CR, &a.source, &a.target)?;
            say!("Copied container registry `{}` to `{}` ({}).", a.source, component.name, component.id);
            Ok(())
        }
        ComponentCommand::List(a) => list(client, a),
        ComponentCommand::Describe(a) => describe(client, a),
        ComponentCommand::Delete(a) => delete(client, a),
    }
}

const ATTRIBUTES: Accepts = Accepts { flavor: true, labels: true, bare_keys: false, files: true };

fn labels_from(options: &[String]) -> Result<Labels, Error> {
    options.iter().map(|label| args::parse_label(label)).collect()
}

fn register(client: &mut Client, a: RegisterArgs) -> Result<(), Error> {
    let mut free = args::parse(&a.attributes, ATTRIBUTES)?;
    let flavor = match (a.flavor, free.flavor.take()) {
        (Some(_), Some(_)) => return Err(Error::usage("`--flavor` is given twice", None)),
        (Some(flavor), None) | (None, Some(flavor)) => flavor,
        (None, None) => {
            return Err(Error::usage(
                "missing `--flavor`",
                Some(format!(
                    "e.g. `{} container-registry register {} --flavor default --uri=localhost:5000`",
                    program(),
                    a.name
                )),
            ));
        }
    };
    let mut labels = labels_from(&a.labels)?;
    labels.append(&mut free.labels);
    let entry = client.catalog().flavor(CR, &flavor)?;
    let config = args::typed_attributes(free.attributes, &schema_with_aliases(entry.descriptor));
    let registration = client.register_component(CR, &a.name, &flavor, config, labels)?;
    say!(
        "Registered container registry `{}` (flavor `{}`, id {}).",
        registration.component.name,
        flavor,
        registration.component.id
    );
    print_notes(&registration);
    Ok(())
}

fn update(client: &mut Client, a: UpdateArgs) -> Result<(), Error> {
    let free = args::parse(&a.attributes, Accepts { flavor: false, ..ATTRIBUTES })?;
    let mut labels = labels_from(&a.labels)?;
    labels.extend(free.labels);
    if free.attributes.is_empty() && labels.is_empty() {
        return Err(Error::usage(
            "nothing to update",
            Some(format!("give attributes (`--uri=…`) or labels (`--label k=v`) to `update {}`", a.name)),
        ));
    }
    let current = client.component(CR, &a.name)?;
    let entry = client.catalog().flavor(CR, &current.flavor)?;
    let changes = args::typed_attributes(free.attributes, &schema_with_aliases(entry.descriptor));
    let registration = client.update_component(CR, &a.name, changes, labels)?;
    say!("Updated container registry `{}`.", registration.component.name);
    print_notes(&registration);
    Ok(())
}

/// The flavor's config schema with each alias listed as a property like the field it stands for,
/// so that a value given under an alias is typed as that field's (`--retry_count=3` a number).
fn schema_with_aliases(descriptor: &zenreg_core::FlavorDescriptor) -> Value {
    let mut schema = (descriptor.config.schema)();
    if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for field in descriptor.config.fields {
            if let Some(property) = properties.get(field.name).cloned() {
                for alias in field.aliases {
                    properties.entry(alias.to_string()).or_insert_with(|| property.clone());
                }
            }
        }
    }
    schema
}

fn print_notes(registration: &Registration) {
    for note in &registration_notes(registration) {
        say!("note: {note}");
    }
}

fn labels_text(labels: &Labels) -> String {
    let mut text = String::with_capacity(labels.iter().map(|(k, v)| k.len() + v.len() + 2).sum());
    for (key, value) in labels {
        if !text.is_empty() {
            text.push(',');
        }
        text.push_str(key);
        text.push('=');
        text.push_str(value);
    }
    text
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn list(client: &mut Client, a: ListArgs) -> Result<(), Error> {
    if let Some(flavor) = &a.flavor {
        client.catalog().flavor(CR, flavor)?;
    }
    // Each component is turned into output as it is read: a listing may have 10,000 of them.
    // Damaged rows are left out of the listing and reported after it, by name and id.
    let mut damaged = Vec::new();
    match a.output.format {
        OutputFormat::Json => {
            output::print_json_items(|emit| {
                client
                    .for_each_component(CR, a.flavor.as_deref(), |c| {
                        if c.damaged.is_some() { damaged.push(c) } else { emit(c) }
                    })
                    .map_err(Error::from)
            })?;
        }
        OutputFormat::Table => {
            let mut rows = Vec::new();
            client.for_each_component(CR, a.flavor.as_deref(), |mut c| {
                if c.damaged.is_some() {
                    damaged.push(c);
                    return;
                }
                // The component's own strings become the cells (a listing may hold 10,000 rows).
                let uri = match c.config.get_mut("uri") {
                    Some(Value::String(uri)) => std::mem::take(uri),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                let labels = labels_text(&c.labels);
                c.id.truncate(short_id(&c.id).len());
                rows.push([c.name, c.id, c.flavor, uri, labels, c.updated]);
            })?;
            let empty = rows.is_empty() && damaged.is_empty();
            output::print_rows(&["NAME", "ID", "FLAVOR", "URI", "LABELS", "UPDATED"], rows)?;
            if empty {
                say!("No container registries registered; add one with `{} container-registry register`.", program());
            }
        }
    }
    match damaged.as_slice() {
        [] => Ok(()),
        rows => Err(crate::error::damaged_rows(
            "container registry",
            &format!("{} container-registry", program()),
            rows.iter().map(|c| (c.name.as_str(), c.id.as_str(), c.damaged.as_deref().unwrap_or_default())),
        )),
    }
}

/// The first 8 characters of an id, as listings show it (all of it when shorter: a
/// hand-edited row may have any id).
fn short_id(id: &str) -> &str {
    id.char_indices().nth(8).and_then(|(end, _)| id.get(..end)).unwrap_or(id)
}

fn describe(client: &mut Client, a: DescribeArgs) -> Result<(), Error> {
    let component = client.component_as_stored(CR, &a.name)?;
    match a.output.format {
        OutputFormat::Json => output::print_json(&component)?,
        OutputFormat::Table => print_component(client, &component)?,
    }
    Ok(())
}

fn print_component(client: &Client, c: &Component) -> Result<(), Error> {
    let linked = match client.catalog().implementation(c.component_type, &c.flavor) {
        Ok(_) => "linked".to_string(),
        Err(error) => {
            crate::error::catalog_hint(&error).map_or_else(|| "not linked".into(), |hint| format!("not linked: {hint}"))
        }
    };
    let mut text = format!("Container registry {} (flavor {})\n", output::escape(&c.name), output::escape(&c.flavor));
    for (label, value) in [
        ("ID", c.id.clone()),
        ("Implementation", linked),
        ("Labels", labels_text(&c.labels)),
        ("Created", c.created.clone()),
        ("Updated", c.updated.clone()),
    ]
    .into_iter()
    .chain(c.damaged.clone().map(|reason| ("Damaged", reason)))
    {
        text.push_str(&format!("{:<15} {}\n", format!("{label}:"), output::escape(&value)));
    }
    output::print(&text)?;
    let rows = c.config.iter().map(|(key, value)| vec![key.clone(), value_text(value)]);
    output::print_rows(&["ATTRIBUTE", "VALUE"], rows)?;
    Ok(())
}

fn delete(client: &mut Client, a: DeleteArgs) -> Result<(), Error> {
    // A damaged component can be deleted: it can be neither used nor repaired.
    let component = client.component_as_stored(CR, &a.name)?;
    if !a.yes {
        confirm(&format!("Delete container registry `{}` ({})?", component.name, component.id))?;
    }
    // By the key that found it: a hand-edited row may have an id that is no id.
    let deleted = client.delete_component(CR, &a.name)?;
    say!("Deleted container registry `{}`.", deleted.name);
    Ok(())
}

/// Asks on a terminal; refuses off a terminal, where nobody can answer.
pub(super) fn confirm(question: &str) -> Result<(), Error> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Error::invalid(
            "refusing to delete without confirmation: standard input is not a terminal",
            Some("pass `--yes` to delete without asking".into()),
        ));
    }
    output::prompt(&format!("{question} [y/N] "));
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(Error::invalid("not deleted", None))
    }
}
