//! `zenreg secret create|list|describe|update|delete`. Values never reach output unless
//! `--reveal` is given, and are best passed on stdin (`--key=-`) or at a prompt (`-i`), where
//! other users cannot read them from the process list.

use super::args::{self, Accepts};
use super::component::confirm;
use super::output::{self, OutputArg, OutputFormat};
use crate::error::Error;
use crate::program::program;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::collections::BTreeMap;
use zenreg_core::{ExposeSecret, SecretString};
use zenreg_store::{Client, Secret, SecretSummary, SecretValues};

/// How a secret value is shown without `--reveal`.
pub const MASK: &str = "********";

#[derive(Debug, Subcommand)]
pub(super) enum SecretCommand {
    /// Create a secret: `create NAME --username=me --password=-` (`-` reads stdin).
    Create(CreateArgs),
    /// List secrets (names and keys, never values).
    List(ListArgs),
    /// Show a secret's keys; values are masked unless `--reveal` is given.
    Describe(DescribeArgs),
    /// Set or remove keys of a secret.
    Update(UpdateArgs),
    /// Delete a secret no component uses.
    Delete(DeleteArgs),
    /// Re-encrypt every secret value under a new key, in one transaction: `rekey
    /// --new-key-file ~/team.key` (the file is created with a new random key if missing). If it
    /// is interrupted, the old key still opens everything.
    Rekey(crate::store::RekeyArgs),
}

#[derive(Debug, Args)]
pub(super) struct CreateArgs {
    /// Name of the secret (letters, digits, `_`, `-`).
    name: String,
    /// Prompt, without echo, for each key given without a value (`--password`).
    #[arg(short, long)]
    interactive: bool,
    /// Values: `--KEY=VALUE`, `--KEY=@FILE` (read from a file, `@@` escapes `@`), `--KEY=-`
    /// (read from stdin), or `--KEY` with `-i`. Values have at most 1 MiB.
    #[arg(value_name = "--KEY[=VALUE]", trailing_var_arg = true, allow_hyphen_values = true)]
    values: Vec<String>,
}

#[derive(Debug, Args)]
pub(super) struct ListArgs {
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Debug, Args)]
pub(super) struct DescribeArgs {
    /// Name of the secret.
    name: String,
    /// Show the values.
    #[arg(long)]
    reveal: bool,
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Debug, Args)]
pub(super) struct UpdateArgs {
    /// Name of the secret.
    name: String,
    /// Prompt, without echo, for each key given without a value.
    #[arg(short, long)]
    interactive: bool,
    /// A key to remove (repeatable).
    #[arg(long = "remove-key", value_name = "KEY")]
    remove: Vec<String>,
    /// Values to set: `--KEY=VALUE`, `--KEY=@FILE` (`@@` escapes `@`), `--KEY=-` (stdin), or
    /// `--KEY` with `-i`. Values have at most 1 MiB.
    #[arg(value_name = "--KEY[=VALUE]", trailing_var_arg = true, allow_hyphen_values = true)]
    values: Vec<String>,
}

#[derive(Debug, Args)]
pub(super) struct DeleteArgs {
    /// Name of the secret.
    name: String,
    /// Delete without asking.
    #[arg(short, long)]
    yes: bool,
}

pub(super) fn run(command: SecretCommand, client: &mut Client) -> Result<(), Error> {
    match command {
        SecretCommand::Create(a) => {
            let late = late_options(&a.values, false)?;
            let values = read_values(&late.values, a.interactive || late.interactive)?;
            let secret = client.create_secret(&a.name, values)?;
            say!("Created secret `{}` with keys: {}.", secret.name, keys(&secret));
            Ok(())
        }
        SecretCommand::List(a) => list(client, a.output.format),
        SecretCommand::Describe(a) => describe(client, a),
        SecretCommand::Update(mut a) => {
            let late = late_options(&a.values, true)?;
            a.remove.extend(late.remove);
            let values = read_values(&late.values, a.interactive || late.interactive)?;
            if values.is_empty() && a.remove.is_empty() {
                return Err(Error::usage(
                    "nothing to update",
                    Some(format!("e.g. `{} secret update {} --password=-`", program(), a.name)),
                ));
            }
            let secret = client.update_secret(&a.name, values, &a.remove)?;
            say!("Updated secret `{}`; keys: {}.", secret.name, keys(&secret));
            Ok(())
        }
        SecretCommand::Rekey(a) => crate::store::rekey(client, a),
        SecretCommand::Delete(a) => {
            // Deleting needs no key: only the name is looked at.
            let secret = client.secret_summary(&a.name)?;
            if !a.yes {
                confirm(&format!("Delete secret `{}`?", secret.name))?;
            }
            client.delete_secret(&secret.name)?;
            say!("Deleted secret `{}`.", secret.name);
            Ok(())
        }
    }
}

fn keys(secret: &Secret) -> String {
    secret.values.keys().map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// The options clap leaves among the values (it stops parsing options at the first value).
struct LateOptions {
    values: Vec<String>,
    interactive: bool,
    remove: Vec<String>,
}

/// Takes `-i`/`--interactive` (and, for `update`, `--remove-key KEY`) out of the value tokens.
/// Any other token that is not `--KEY[=VALUE]` is refused without echoing it: it is most likely
/// a value typed after a space (`--password hunter2`).
fn late_options(tokens: &[String], remove_keys: bool) -> Result<LateOptions, Error> {
    let mut late = LateOptions { values: Vec::new(), interactive: false, remove: Vec::new() };
    let mut tokens = tokens.iter();
    let mut previous: Option<&str> = None;
    while let Some(token) = tokens.next() {
        match token.split_once('=') {
            _ if token == "-i" || token == "--interactive" => late.interactive = true,
            Some(("--remove-key", key)) if remove_keys => late.remove.push(key.to_string()),
            None if remove_keys && token == "--remove-key" => {
                let key = tokens.next().ok_or_else(|| Error::usage("`--remove-key` needs a key", None))?;
                late.remove.push(key.clone());
            }
            _ if token.starts_with("--") => late.values.push(token.clone()),
            _ => {
                let after = previous.map(|p| format!(" after `{}`", p.split('=').next().unwrap_or(p)));
                return Err(Error::usage(
                    format!("unexpected argument{} (not shown: it may be a secret value)", after.unwrap_or_default()),
                    Some("values are given as `--KEY=VALUE`, or `--KEY=-` to read one from stdin".into()),
                ));
            }
        }
        previous = Some(token);
    }
    Ok(late)
}

/// Collects values from `--k=v`, `--k=-` (stdin, once) and, with `-i`, prompts for bare `--k`.
fn read_values(tokens: &[String], interactive: bool) -> Result<SecretValues, Error> {
    // `--KEY=@FILE` reads a file, as for components (`@@` escapes a leading `@`).
    let free = args::parse(tokens, Accepts { flavor: false, labels: false, bare_keys: true, files: true })?;
    let mut values = BTreeMap::new();
    let mut stdin_used = None;
    let mut plain = Vec::new();
    for (key, value) in free.attributes {
        let value = if value == "-" {
            if let Some(other) = stdin_used.replace(key.clone()) {
                return Err(Error::usage(
                    format!("`--{other}=-` and `--{key}=-` both read stdin; only one value can"),
                    Some("use `-i` to be prompted for the others".into()),
                ));
            }
            args::read_stdin(&key)?
        } else {
            if !tokens.iter().any(|t| t.strip_prefix(&format!("--{key}=@")).is_some_and(|rest| !rest.starts_with('@')))
            {
                plain.push(key.clone());
            }
            value
        };
        values.insert(key, SecretString::from(value));
    }
    for key in free.bare_keys {
        if !interactive {
            return Err(Error::usage(
                format!("`--{key}` needs a value"),
                Some(format!("write `--{key}=-` to read it from stdin, or add `-i` to be prompted")),
            ));
        }
        let value = rpassword::prompt_password(format!("{key}: ")).map_err(|e| {
            Error::invalid(format!("cannot prompt for `{key}`: {e}"), Some(format!("use `--{key}=-` and stdin")))
        })?;
        values.insert(key, SecretString::from(value));
    }
    if plain.iter().any(|k| k.contains("password") || k.contains("token") || k.contains("secret")) {
        say!(
            "warning: values given as `--KEY=VALUE` are visible to other users in the process list; \
             prefer `--KEY=-` (stdin) or `-i` (prompt)"
        );
    }
    Ok(values)
}

/// A secret as `--output json` shows it.
#[derive(Serialize)]
struct SecretView<'a> {
    id: &'a str,
    name: &'a str,
    values: BTreeMap<&'a str, &'a str>,
    created: &'a str,
    updated: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    damaged: Option<&'a str>,
}

/// A secret without its values (`list`, and `describe` without `--reveal`): needs no key.
fn summary_view(secret: &SecretSummary) -> SecretView<'_> {
    SecretView {
        id: &secret.id,
        name: &secret.name,
        values: secret.keys.iter().map(|k| (k.as_str(), MASK)).collect(),
        created: &secret.created,
        updated: &secret.updated,
        damaged: secret.damaged.as_deref(),
    }
}

fn view(secret: &Secret, reveal: bool) -> SecretView<'_> {
    SecretView {
        id: &secret.id,
        name: &secret.name,
        values: secret
            .values
            .iter()
            .map(|(k, v)| (k.as_str(), if reveal { v.expose_secret() } else { MASK }))
            .collect(),
        created: &secret.created,
        updated: &secret.updated,
        damaged: secret.damaged.as_deref(),
    }
}

fn list(client: &Client, format: OutputFormat) -> Result<(), Error> {
    // Damaged rows are left out of the listing and reported after it, by name and id.
    // Names and key names only: listing works without the secrets key.
    let (damaged, secrets): (Vec<SecretSummary>, Vec<SecretSummary>) =
        client.secret_summaries()?.into_iter().partition(|s| s.damaged.is_some());
    match format {
        OutputFormat::Json => {
            let views: Vec<SecretView<'_>> = secrets.iter().map(summary_view).collect();
            output::print_json(&views)?;
        }
        OutputFormat::Table => {
            let rows = secrets.iter().map(|s| vec![s.name.clone(), s.keys.join(", "), s.updated.clone()]);
            output::print_rows(&["NAME", "KEYS", "UPDATED"], rows)?;
        }
    }
    if damaged.is_empty() {
        return Ok(());
    }
    Err(crate::error::damaged_rows(
        "secret",
        &format!("{} secret", program()),
        damaged.iter().map(|s| (s.name.as_str(), s.id.as_str(), s.damaged.as_deref().unwrap_or_default())),
    ))
}

fn describe(client: &Client, a: DescribeArgs) -> Result<(), Error> {
    // Without `--reveal` only key names are shown, and no key is needed.
    let (summary, secret);
    let shown = if a.reveal {
        secret = client.secret_as_stored(&a.name)?;
        view(&secret, true)
    } else {
        summary = client.secret_summary(&a.name)?;
        summary_view(&summary)
    };
    match a.output.format {
        OutputFormat::Json => output::print_json(&shown)?,
        OutputFormat::Table => {
            let mut text = format!("Secret {} ({})\nUpdated:        {}\n", shown.name, shown.id, shown.updated);
            if let Some(reason) = shown.damaged {
                text.push_str(&format!("Damaged:        {}\n", output::escape(reason)));
            }
            output::print(&text)?;
            let rows = shown.values.iter().map(|(k, v)| vec![k.to_string(), v.to_string()]);
            output::print_rows(&["KEY", "VALUE"], rows)?;
        }
    }
    Ok(())
}
