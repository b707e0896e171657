//! `zenreg store info|copy` and `zenreg secret rekey`: the store itself rather than what is in
//! it. Locations are shown as the client gives them (a server's URL never with its password);
//! keys are shown by fingerprint only.

use super::output::{self, OutputArg, OutputFormat};
use crate::error::Error;
use crate::program::program;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::{Path, PathBuf};
use zenreg_store::{Client, SecretsKey};

#[derive(Debug, Subcommand)]
pub(super) enum StoreCommand {
    /// Show the store in use: backend, location (without password), schema version, counts and
    /// the fingerprint of the secrets key.
    Info(InfoArgs),
    /// Copy every component and secret of one store into another, in one transaction of the
    /// target: `copy ~/.config/zenreg/zenreg.db postgresql://me@db.team/zenreg`. Names the target
    /// has already are reported and nothing is copied, unless `--overwrite` is given.
    ///
    /// Each store opens with its own key: a store file's key file beside it, a server's
    /// ZENREG_SECRETS_KEY_FILE (ZENREG_SECRETS_KEY, when set, is used for both). When the source
    /// is sealed under another key than that (two servers, two teams), name its key file with
    /// `--source-key-file`.
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
pub(super) struct InfoArgs {
    #[command(flatten)]
    output: OutputArg,
}

#[derive(Debug, Args)]
pub(super) struct CopyArgs {
    /// The store to copy from: a file path or a `postgresql://` URL.
    #[arg(value_name = "SRC")]
    source: PathBuf,
    /// The store to copy into: a file path (created if missing) or a `postgresql://` URL.
    #[arg(value_name = "DST")]
    target: PathBuf,
    /// Replace components and secrets of the target that have a name of the source.
    #[arg(long)]
    overwrite: bool,
    /// Open the source's secret values with the key in this file (32 bytes as base64, mode
    /// 0600) rather than the key the source would use by default.
    #[arg(long, value_name = "PATH")]
    source_key_file: Option<PathBuf>,
}

/// `zenreg secret rekey`.
#[derive(Debug, Args)]
pub(super) struct RekeyArgs {
    /// The new key: read from this file if it exists (32 bytes as base64, mode 0600), else a new
    /// random key is written to it (mode 0600) first. Keep the file: the store's values open
    /// with nothing else afterwards.
    #[arg(long, value_name = "PATH")]
    new_key_file: PathBuf,
}

/// `store info --output json`.
#[derive(Serialize)]
struct InfoView<'a> {
    backend: &'a str,
    location: &'a str,
    schema_version: i64,
    supported_schema_version: i64,
    components: u64,
    secrets: u64,
    key_fingerprint: Option<&'a str>,
    /// Why the configured key cannot be loaded, if it cannot.
    key_error: Option<&'a str>,
}

pub(super) fn run(command: StoreCommand, open: impl FnOnce() -> Result<Client, Error>) -> Result<(), Error> {
    match command {
        StoreCommand::Info(a) => info(&open()?, a.output.format),
        StoreCommand::Copy(a) => copy(a),
    }
}

fn info(client: &Client, format: OutputFormat) -> Result<(), Error> {
    let info = client.info()?;
    let view = InfoView {
        backend: info.backend,
        location: &info.location,
        schema_version: info.schema_version,
        supported_schema_version: info.supported_schema_version,
        components: info.components,
        secrets: info.secrets,
        key_fingerprint: info.key_fingerprint.as_deref(),
        key_error: info.key_error.as_deref(),
    };
    match format {
        OutputFormat::Json => output::print_json(&view)?,
        OutputFormat::Table => {
            let key = match (view.key_fingerprint, client.key_file()) {
                // A key that is configured but cannot be loaded is not "none".
                _ if let Some(error) = view.key_error => format!("unusable: {error}"),
                (Some(fingerprint), Some(file)) => format!("{fingerprint} (from {})", file.display()),
                (Some(fingerprint), None) => format!("{fingerprint} (from ZENREG_SECRETS_KEY)"),
                (None, Some(file)) if info.backend == "sqlite" && info.secrets == 0 => {
                    format!("none yet ({} is created on the first secret write)", file.display())
                }
                (None, Some(file)) if info.backend == "sqlite" => format!(
                    "none: {} does not exist, and the stored secrets need the key they were sealed with \
                     (in that file, or ZENREG_SECRETS_KEY)",
                    file.display()
                ),
                (None, _) => "none (set ZENREG_SECRETS_KEY or ZENREG_SECRETS_KEY_FILE)".to_string(),
            };
            output::print(&format!(
                "Backend:         {}\nLocation:        {}\nSchema version:  {} (this {} knows up to {})\n\
                 Components:      {}\nSecrets:         {}\nSecrets key:     {}",
                view.backend,
                output::escape(view.location),
                view.schema_version,
                program(),
                view.supported_schema_version,
                view.components,
                view.secrets,
                output::escape(&key),
            ))?;
        }
    }
    Ok(())
}

fn copy(a: CopyArgs) -> Result<(), Error> {
    // A mistyped URL is refused before anything is opened or shown (the source's path is).
    zenreg_store::check_location(&a.source)?;
    zenreg_store::check_location(&a.target)?;
    // Opening a file store creates it: a mistyped source would copy nothing, successfully.
    if !zenreg_store::is_server_location(&a.source) && !a.source.exists() {
        return Err(Error::invalid(
            format!("the source store `{}` does not exist", a.source.display()),
            Some("give the path of an existing store file, or a `postgresql://` URL".into()),
        ));
    }
    let source = match &a.source_key_file {
        Some(key_file) => {
            // Read now: a key file that cannot be read is refused before anything is opened.
            let key = SecretsKey::read_file(key_file).map_err(|e| Error::Store(e.into()))?;
            Client::open_with_key(&a.source, key)?
        }
        None => Client::open(&a.source)?,
    };
    // A store file created for this copy is removed again if the copy fails (a wrong
    // `--source-key-file`, a conflict): a failed copy leaves no empty store behind.
    let created: Vec<PathBuf> = if zenreg_store::is_server_location(&a.target) {
        Vec::new()
    } else {
        ["", "-wal", "-shm", ".key"]
            .iter()
            .map(|suffix| {
                let mut path = a.target.clone().into_os_string();
                path.push(suffix);
                PathBuf::from(path)
            })
            .filter(|path| std::fs::symlink_metadata(path).is_err())
            .collect()
    };
    let mut target = Client::open(&a.target)?;
    let report = match source.copy_into(&mut target, a.overwrite) {
        Ok(report) => report,
        Err(error) => {
            drop(target);
            for path in &created {
                let _ = std::fs::remove_file(path);
            }
            return Err(error.into());
        }
    };
    if !report.conflicts.is_empty() {
        say!("Replaced: {}.", report.conflicts.join(", "));
    }
    say!(
        "Copied {} component{} and {} secret{} from `{}` into `{}`.",
        report.components,
        if report.components == 1 { "" } else { "s" },
        report.secrets,
        if report.secrets == 1 { "" } else { "s" },
        source.location(),
        target.location()
    );
    Ok(())
}

/// Re-encrypts every secret value under the key in `--new-key-file` (written first if missing),
/// in one transaction; an embedded store's own key file is then replaced by the new key.
pub(super) fn rekey(client: &mut Client, a: RekeyArgs) -> Result<(), Error> {
    // `<store>.key.new` is where a store file's rekey puts the new key before renaming it over
    // `<store>.key`: named as the new key file, it would be gone afterwards.
    if let Some(own) = client.key_file_beside() {
        let pending = zenreg_store::crypto::pending_key_file(&own);
        let absolute = |path: &Path| std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        if absolute(&a.new_key_file) == absolute(&pending) {
            return Err(Error::usage(
                format!(
                    "`{}` is where the rekey keeps the new key until it replaces `{}`; it would not be there afterwards",
                    a.new_key_file.display(),
                    own.display()
                ),
                Some("give `--new-key-file` a path of its own, e.g. `~/zenreg-new.key`".into()),
            ));
        }
    }
    let (key, created) = new_key(&a.new_key_file)?;
    // An embedded store's own key file follows the new key (the store replaces it after the
    // commit, and finishes that on its next open if this process is killed in between).
    let count = client.rekey(&key)?;
    say!(
        "Re-encrypted {count} secret{} with key {}{}.",
        if count == 1 { "" } else { "s" },
        key.fingerprint(),
        if created { format!(" (new, written to `{}`)", a.new_key_file.display()) } else { String::new() }
    );
    let file = a.new_key_file.display();
    // What opens the store next time: ZENREG_SECRETS_KEY wins wherever it is set; a store file
    // otherwise uses its own key file (which followed the new key), a server the file named by
    // ZENREG_SECRETS_KEY_FILE.
    let variable_set = std::env::var("ZENREG_SECRETS_KEY").is_ok_and(|v| !v.trim().is_empty());
    match (client.backend_name(), variable_set) {
        ("sqlite", false) => {}
        ("sqlite", true) => say!(
            "ZENREG_SECRETS_KEY opens this store: set it to the contents of `{file}` wherever this store is used, \
             or unset it after copying `{file}` over `{}` (mode 0600); the old key opens nothing now.",
            client.key_file_beside().map(|p| p.display().to_string()).unwrap_or_default()
        ),
        (_, true) => say!(
            "ZENREG_SECRETS_KEY opens this store (it wins over ZENREG_SECRETS_KEY_FILE): set it to the contents of \
             `{file}` wherever this store is used; the old key opens nothing now."
        ),
        (_, false) => say!(
            "Point ZENREG_SECRETS_KEY_FILE at `{file}` (or ZENREG_SECRETS_KEY at its contents) wherever this store is \
             used; the old key opens nothing now."
        ),
    }
    Ok(())
}

/// The key in `path`, or a new one written there (0600); whether it was created.
fn new_key(path: &Path) -> Result<(SecretsKey, bool), Error> {
    let key_error = |e: zenreg_store::CryptoError| Error::Store(e.into());
    if path.exists() {
        return Ok((SecretsKey::read_file(path).map_err(key_error)?, false));
    }
    Ok((SecretsKey::create_file(path).map_err(key_error)?, true))
}
