//! The command line's error: the errors of every layer below, plus usage mistakes, each with the
//! hint of what to do next. All wording that names a command lives here (and in the command
//! modules), spelled with the name of the binary that is running.

use crate::program;
use zenreg_core::CatalogError;
use zenreg_push::CredentialSource;
use zenreg_store::{Kind, StoreError};

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is wrong in a way the argument parser cannot see (exit code 2).
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// How to write it instead.
        hint: Option<String>,
    },
    /// Input the user gave is wrong.
    #[error("{message}")]
    Invalid {
        /// What is wrong.
        message: String,
        /// What to do instead.
        hint: Option<String>,
    },
    /// Reading or writing a file or stream failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The flavor SDK refused.
    #[error(transparent)]
    Core(#[from] zenreg_core::Error),
    /// The store or the client refused.
    #[error(transparent)]
    Store(#[from] zenreg_store::Error),
    /// The push failed (boxed: push errors carry several strings, and every command's result
    /// would otherwise be as large).
    #[error(transparent)]
    Push(Box<zenreg_push::Error>),
    /// An image operation failed (boxed, as push errors are).
    #[error(transparent)]
    Image(Box<zenreg_image::ImageError>),
}

impl From<zenreg_push::Error> for Error {
    fn from(error: zenreg_push::Error) -> Self {
        Error::Push(Box::new(error))
    }
}

impl Error {
    /// A user-input error with an optional hint.
    pub fn invalid(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Invalid { message: message.into(), hint }
    }

    /// A command-line usage error with an optional hint.
    pub fn usage(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Usage { message: message.into(), hint }
    }

    /// Whether the error is a usage error (exit code 2) rather than a failure (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(self, Error::Usage { .. })
    }

    /// What the user can do next, if zenreg knows.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Usage { hint, .. } | Error::Invalid { hint, .. } => hint.clone(),
            Error::Io(_) => None,
            Error::Core(error) => core_hint(error),
            Error::Store(error) => store_hint(error),
            Error::Push(error) => push_hint(error),
            Error::Image(error) => image_hint(error),
        }
    }
}

impl From<CatalogError> for Error {
    fn from(error: CatalogError) -> Self {
        Error::Core(error.into())
    }
}

fn core_hint(error: &zenreg_core::Error) -> Option<String> {
    match error {
        zenreg_core::Error::Catalog(error) => catalog_hint(error),
        zenreg_core::Error::Config(_) => Some("fix the fields listed above and run the command again".into()),
        zenreg_core::Error::Registry { hint, .. } => hint.clone(),
        _ => None,
    }
}

/// What to do about a flavor that cannot be found or used.
pub(crate) fn catalog_hint(error: &CatalogError) -> Option<String> {
    let zenreg = program();
    Some(match error {
        CatalogError::UnknownFlavor { .. } => {
            format!("run `{zenreg} flavor list` to see every flavor linked into this binary")
        }
        CatalogError::DuplicateFlavor { .. } => {
            "rename one of the flavors or stop linking one of the crates".to_string()
        }
        CatalogError::NotLinked { feature: Some(feature), .. } => {
            // Only the `zenreg` binary is installed from zenreg-cli; another binary is built from
            // its own crate, whose name this program does not know.
            if zenreg == "zenreg" {
                format!(
                    "rebuild zenreg with `--features {feature}` (e.g. `cargo install zenreg-cli --features {feature}`)"
                )
            } else {
                format!(
                    "rebuild {zenreg} with `--features {feature}` (`cargo build --features {feature}` in its crate)"
                )
            }
        }
        CatalogError::NotLinked { implementation, .. } => format!(
            "link the crate that registers {} into this binary",
            implementation.as_deref().unwrap_or("the implementation")
        ),
        CatalogError::DuplicateImplementation { .. } => "link only one crate implementing this flavor".to_string(),
        _ => return None,
    })
}

fn store_file_hint(error: &StoreError) -> Option<String> {
    match error {
        StoreError::NotAStore { .. } => Some(
            "the file was left untouched; point `--store` (or ZENREG_STORE) at a zenreg store or a new path".into(),
        ),
        StoreError::TooNew { .. } => Some(format!("upgrade {}, or use another store with `--store`", program())),
        StoreError::Create { .. } => Some("check the directory's permissions, or pick another `--store`".into()),
        StoreError::MissingFolder { folder, .. } => Some(format!(
            "create the folder first (`mkdir -p {}`), or pick another `--store`; only the default store's folder is \
             created by itself",
            folder.display()
        )),
        StoreError::InvalidPath { .. } => {
            Some("give `--store` (or ZENREG_STORE) the path of a regular file, e.g. `~/zenreg.db`".into())
        }
        StoreError::Permission { .. } => Some(
            "the store must be readable and writable by you, in a directory you can write to; \
             fix its permissions or pick another `--store`"
                .into(),
        ),
        StoreError::Sqlite { .. } if error.is_corrupt() => Some(
            "the store is damaged and was left untouched; restore it from a backup (`sqlite3 FILE .recover` \
             may rescue its rows), or point `--store` at a new path"
                .into(),
        ),
        StoreError::Full { .. } => {
            Some("free some space on that file system and run the command again; nothing stored before was lost".into())
        }
        StoreError::Sqlite { .. } => None,
        StoreError::Secrets(error) => crypto_hint(error),
    }
}

/// What to do about a secrets key that is missing, wrong or unusable.
fn crypto_hint(error: &zenreg_store::CryptoError) -> Option<String> {
    use zenreg_store::CryptoError as C;
    let zenreg = program();
    Some(match error {
        C::NoKey => "set ZENREG_SECRETS_KEY (the key as base64) or ZENREG_SECRETS_KEY_FILE (a 0600 file holding it) \
                     to the key the store's values were sealed with; whoever set the store up has it"
            .into(),
        C::WrongKey { .. } => format!(
            "use the key the values were sealed with (ZENREG_SECRETS_KEY or ZENREG_SECRETS_KEY_FILE); \
             `{zenreg} store info` shows the fingerprint of the key in use"
        ),
        C::KeyFileTooOpen { path, .. } => format!("run `chmod 600 {}`", path.display()),
        C::KeyFileNotRegular { .. } | C::KeyFileTooLarge { .. } => {
            "point it at a regular file (mode 0600) holding only the key: 32 random bytes as base64, e.g. made with \
             `head -c 32 /dev/urandom | base64`"
                .into()
        }
        C::InvalidKey { .. } => {
            "a key is 32 random bytes as base64, e.g. the output of `head -c 32 /dev/urandom | base64`".into()
        }
        C::KeyFile { .. } => "check the key file's path and permissions, or set ZENREG_SECRETS_KEY".into(),
        C::Damaged { .. } => {
            "the stored value was changed outside zenreg: delete the secret and create it again".into()
        }
        C::UnknownVersion { .. } => format!("upgrade {zenreg}"),
        _ => return None,
    })
}

/// What to do about a PostgreSQL store that cannot be reached or used.
fn postgres_hint(error: &zenreg_store::PostgresError) -> Option<String> {
    use zenreg_store::postgres::PgErrorKind as K;
    Some(match &error.kind {
        K::InvalidUrl { .. } => "write the store as `postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]`, \
                                 or give a file path for an embedded store"
            .into(),
        K::Connect { ignored_passfile: Some((path, mode)), unreachable: false, .. } => format!(
            "`{}` was ignored because others can read it (mode {mode:o}), as libpq does: run `chmod 600 {}`",
            path.display(),
            path.display()
        ),
        K::Connect { password_given: false, unreachable: false, .. } => {
            "if the server wants a password, give it in the URL, PGPASSWORD or ~/.pgpass (mode 0600)".into()
        }
        K::Connect { .. } => "check that the server is up and reachable (`pg_isready -h HOST -p PORT`) and that \
                              `--store` (or ZENREG_STORE) names the right host, port and database"
            .into(),
        K::Authentication { .. } => {
            "check the user and the password (in the URL, PGPASSWORD or ~/.pgpass) and the server's pg_hba.conf".into()
        }
        K::Tls { .. } => "check `sslmode` and `sslrootcert` (the CA that signed the server's certificate) in the URL, \
                          or PGSSLROOTCERT"
            .into(),
        K::TooNew { .. } => format!("upgrade {}, or use another store with `--store`", program()),
        K::ForeignTable { .. } => "give zenreg a database of its own (`createdb zenreg`), or a role whose \
                                   search_path starts with a schema of its own"
            .into(),
        K::ConnectionLost { during_commit: false } => {
            "the server went away (restart or network); run the command again".into()
        }
        K::ConnectionLost { during_commit: true } => {
            "look at the store (`list`, `describe`) to see whether the change was applied before running it again"
                .into()
        }
        K::Busy { .. } => "another client kept the rows locked; run the command again".into(),
        K::Secrets { source, .. } => return crypto_hint(source),
        K::Server { code, .. } => sqlstate_hint(code.as_deref()),
        _ => return None,
    })
}

/// What to do about an error the PostgreSQL server reported, by SQLSTATE: the codes users meet
/// most, then every class, then anything else.
fn sqlstate_hint(code: Option<&str>) -> String {
    let zenreg = program();
    let Some(code) = code else {
        return "run the command again; if it fails the same way, the server's log says more".into();
    };
    match code {
        "3D000" => {
            "create the database (`createdb NAME`, as a role allowed to), or name an existing one in the URL".into()
        }
        "42501" => "grant the role what zenreg needs on its database, as its owner: `GRANT CREATE, USAGE ON SCHEMA \
                    public TO ROLE` (to create its tables), then `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES \
                    IN SCHEMA public TO ROLE`"
            .into(),
        "25006" => {
            "the server is read-only (a standby replica, or default_transaction_read_only): point the URL at the \
                    primary server"
                .into()
        }
        "42P07" => "a table with a name of zenreg's exists and is not zenreg's: give zenreg a database of its own \
                    (`createdb zenreg`)"
            .into(),
        "42P01" => "the database's zenreg tables are missing or were renamed: give zenreg a database of its own, or \
                    restore them from a backup"
            .into(),
        "53300" => "the server has no connection left: close other clients, or raise max_connections".into(),
        _ => match code.get(..2).unwrap_or_default() {
            "08" => "the connection failed: check the server and the network, then run the command again".into(),
            "0A" => format!("the server lacks a feature {zenreg} needs; use PostgreSQL 13 or newer"),
            "22" | "23" | "27" | "44" => {
                "the server refused a value or a change of the rows; run the command again, and look at the store \
                 (`list`, `describe`) if it fails the same way"
                    .into()
            }
            "25" | "2D" | "3B" => "the transaction was in a state the server refused; run the command again".into(),
            "28" => "check the user and the password, and the server's pg_hba.conf".into(),
            "3D" | "3F" => "check the database and schema names in the URL, and the role's search_path".into(),
            "40" => "the transaction collided with another client's and was rolled back; run the command again".into(),
            "42" => "the role lacks a privilege, or the database's tables are not as zenreg made them: check the \
                     role's grants, or give zenreg a database of its own"
                .into(),
            "53" => "the server is out of resources (disk, memory or connections): ask its administrator, or try \
                     again later"
                .into(),
            "54" => "a value is beyond a limit of the server: use smaller values".into(),
            "55" => "another client holds what this command needs: run the command again".into(),
            "57" => {
                "the server is shutting down, restarting or cancelled the command: run it again once it is up".into()
            }
            "58" | "XX" => {
                "the server failed on its side (I/O or an internal error): ask its administrator to look at \
                            the server's log"
                    .into()
            }
            // Every other class (configuration, PL/pgSQL, foreign data, …).
            _ => format!("the server refused the command (SQLSTATE {code}); the server's log says more"),
        },
    }
}

fn list_command(kind: Kind) -> String {
    match kind {
        Kind::Component(component_type) => format!("{} {} list", program(), component_type.command()),
        Kind::Secret => format!("{} secret list", program()),
    }
}

fn store_hint(error: &zenreg_store::Error) -> Option<String> {
    use zenreg_store::Error as E;
    let zenreg = program();
    match error {
        E::Core(error) => core_hint(error),
        E::Store(error) => store_file_hint(error),
        E::Postgres(error) => postgres_hint(error),
        E::InvalidLocation { .. } => Some(
            "give `--store` (or ZENREG_STORE) a file path, or a `postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE` URL, \
             without spaces around it"
                .into(),
        ),
        E::Secrets(error) => crypto_hint(error),
        E::CopyConflicts { .. } => {
            Some("nothing was copied; add `--overwrite` to replace them, or rename them in one of the stores".into())
        }
        E::NotFound { kind, .. } => Some(format!("run `{}` to see what exists", list_command(*kind))),
        E::Ambiguous { .. } => Some("give more characters of the id, or the name".into()),
        E::Damaged { kind: Kind::Secret, name, .. } => Some(format!(
            "delete it (`{zenreg} secret delete {name} --yes`) and create it again; `{zenreg} secret describe {name}` shows what is left"
        )),
        E::Damaged { kind: Kind::Component(component_type), id, .. } => Some(format!(
            "delete it (`{zenreg} {command} delete {id} --yes`) and register it again; `{zenreg} {command} describe {id}` shows what is left",
            command = component_type.command()
        )),
        E::SameName { .. } => Some("give the new name as the second argument".into()),
        E::InvalidSecretField { .. } => Some("fix the field and run the command again".into()),
        E::ValueTooLarge { .. } => Some("store a smaller value; registry credentials are far smaller".into()),
        E::SecretKeyInUse { .. } => {
            Some("point those components at another secret (or delete them) first, or set a new value instead".into())
        }
        E::InvalidName { kind: Kind::Component(_), .. } => Some(
            "names are 1–255 characters without control characters, and not of the form of an id (8+ hex digits and `-`)"
                .into(),
        ),
        E::AlreadyExists { .. } => Some("pick another name, or change the existing one with `update`".into()),
        E::SecretInUse { .. } => Some("point those components at another secret (or delete them) first".into()),
        E::RequiredAttribute { component_type, component, attribute, .. } => Some(format!(
            "change it instead: `{zenreg} {} update {component} --{attribute}=…`",
            component_type.command()
        )),
        E::NoSuchAttribute { component_type, component, .. } => {
            Some(format!("run `{zenreg} {} describe {component}` to see its attributes", component_type.command()))
        }
        E::MissingSecret { secret, key, .. } => {
            Some(format!("create it: `{zenreg} secret create {secret} --{key}=-` (the value is read from stdin)"))
        }
        E::MissingSecretKey { secret, key, .. } => Some(format!("add it: `{zenreg} secret update {secret} --{key}=-`")),
        E::EmptySecret { name } => Some(format!("e.g. `{zenreg} secret create {name} --username=me --password=-`")),
        E::SecretWouldBeEmpty { name } => Some(format!("delete it instead: `{zenreg} secret delete {name}`")),
        _ => None,
    }
}

fn push_hint(error: &zenreg_push::Error) -> Option<String> {
    use zenreg_push::Error as E;
    let zenreg = program();
    match error {
        E::Store(error) => store_hint(error),
        E::Core(error) => core_hint(error),
        E::NotUnderRegistry { image, retag_target, .. } => {
            Some(format!("tag it under the registry (`docker tag {image} {retag_target}`) or pass `--retag`"))
        }
        E::MissingImage { .. } => Some("build or pull it first; `docker images` lists the local images".into()),
        E::DaemonUnreachable { .. } => {
            Some("start Docker (`dockerd`), or point DOCKER_HOST at a running daemon".into())
        }
        E::Unauthorized { credentials: CredentialSource::Flavor(flavor), registry, .. } => Some(format!(
            // The flavor logged in by itself: its own credentials are what to fix.
            "check the credentials the `{flavor}` flavor logs in with and their permission to push \
             (`{zenreg} flavor describe {flavor}` links its documentation), or give `{registry}` an \
             authentication secret"
        )),
        E::Unauthorized { registry, host, .. } => Some(format!(
            "give the registry a secret with `username` and `password` \
             (`{zenreg} secret create NAME --username=… --password=-`, then \
             `{zenreg} container-registry update {registry} --authentication_secret=NAME`), or `docker login {host}`"
        )),
        E::Unavailable { host, .. } => {
            Some(format!("check that the registry is up (`curl http://{host}/v2/`) and try again"))
        }
        E::DockerConfig(error) => error.help.map(String::from),
        E::PlainHttpRegistry { host, daemon, .. } => {
            let fix = match daemon {
                zenreg_push::Daemon::Podman => format!(
                    "Podman uses plain HTTP only for registries its registries.conf marks insecure: add \
                     `[[registry]] location = \"{host}\" insecure = true` to /etc/containers/registries.conf \
                     and restart `podman system service`"
                ),
                _ => format!("add \"{host}\" to `insecure-registries` in the daemon's daemon.json and restart it"),
            };
            // zenreg's own engine speaks plain HTTP to loopback registries only.
            let oci = if zenreg_push::oci::registry::is_loopback(host) {
                "; or push with `--engine oci`, which speaks plain HTTP to a loopback registry itself"
            } else {
                ""
            };
            Some(format!("{fix}{oci}"))
        }
        E::SourceNeedsOci => {
            Some("drop `--engine docker`, or `docker load` the image and push it from the daemon".into())
        }
        E::Oci(error) => oci_hint(error),
        E::Reference(_) => reference_hint(),
        _ => None,
    }
}

fn image_hint(error: &zenreg_image::ImageError) -> Option<String> {
    use zenreg_image::ImageError as E;
    use zenreg_push::oci::OciError as O;
    let zenreg = program();
    match error {
        E::NoComponent { reference, .. } => {
            let host = reference.split('/').next().unwrap_or_default();
            Some(format!(
                "register the registry (`{zenreg} container-registry register NAME --flavor default --uri={host}`), \
                 or name one with `--registry` (`--from-registry`/`--to-registry` for copy)"
            ))
        }
        E::NotCovered { .. } => {
            Some("name the registry whose URI the reference starts with, or leave the choice to zenreg".into())
        }
        E::Reference(_) => reference_hint(),
        E::NotFound { .. } => Some(format!("`{zenreg} image ls REPOSITORY` lists the tags there are")),
        E::NoPlatform { .. } => Some("give `--platform` one of the platforms the index has, or drop it".into()),
        E::DeletesDisabled { .. } => Some(
            "the registry's operator can enable deletes (distribution: `storage.delete.enabled: true`); \
             nothing was deleted"
                .into(),
        ),
        E::Registry { error, registry, credentials } => match error.as_ref() {
            O::Unauthorized { host, .. } => Some(format!(
                "the registry refused {credentials}: give `{registry}` a secret with `username` and `password` \
                 (`{zenreg} secret create NAME --username=… --password=-`, then \
                 `{zenreg} container-registry update {registry} --authentication_secret=NAME`), or `docker login {host}`"
            )),
            O::Unavailable { host, .. } => Some(format!(
                "check that the registry is up (`curl http://{host}/v2/`) and run the command again: blobs already \
                 copied are not copied twice"
            )),
            error => oci_hint(error),
        },
        E::Oci(error) => oci_hint(error),
        E::Push(error) => push_hint(error),
        _ => None,
    }
}

/// How an image reference is written.
fn reference_hint() -> Option<String> {
    Some(
        "write the image as `[HOST[:PORT]/]PATH[:TAG]`: PATH in lower-case letters, digits and `.`, `_`, `-` \
         between them, components joined by `/`; TAG of letters, digits, `_`, `.`, `-`"
            .into(),
    )
}

fn oci_hint(error: &zenreg_push::oci::OciError) -> Option<String> {
    use zenreg_push::oci::OciError as E;
    match error {
        E::Tls { .. } => Some(
            "if the registry's certificate comes from a CA of your own, point SSL_CERT_FILE at that CA's PEM file"
                .into(),
        ),
        E::DiffIdMismatch { .. } => {
            Some("the image source is damaged or was changed after it was written: build or export it again".into())
        }
        E::Source { .. } | E::Io { .. } => Some(
            "`--from` takes `oci:DIR[:REF]` (an OCI image layout) or `docker-archive:FILE[:NAME]` (`docker save -o \
             FILE IMAGE…`; NAME chooses among several images, `--platform OS/ARCH` among platforms)"
                .into(),
        ),
        E::Rejected { .. } if error.is_digest_invalid() => Some(
            "the registry received other bytes than zenreg sent (changed on the way, e.g. by a proxy): push again"
                .into(),
        ),
        E::Export { .. } => {
            Some("check the Docker daemon (`docker save IMAGE > /dev/null`), or push with `--engine docker`".into())
        }
        E::Untrusted { .. } | E::TimedOut { .. } | E::Settings { .. } => registry_trust_hint(error),
        _ => None,
    }
}

/// What to do when zenreg refused what a registry asked, or gave up waiting for it.
fn registry_trust_hint(error: &zenreg_push::oci::OciError) -> Option<String> {
    use zenreg_push::oci::OciError as E;
    Some(match error {
        E::Untrusted { .. } => {
            "zenreg keeps credentials on the registry's own origin and never steps down from HTTPS: \
             check the registry's address and its proxy or authentication setup"
                .into()
        }
        E::TimedOut { .. } => {
            "check the network path to the registry; the time limits are in the README (`ZENREG_HTTP_*`)".into()
        }
        E::Settings { .. } => "unset the variable, or give it a value the README's settings allow (`ZENREG_HTTP_*`, \
             `ZENREG_LAYER_STORE`)"
            .into(),
        _ => return None,
    })
}

/// The error of a listing that left out damaged rows: each named with its id, and what to do.
pub(crate) fn damaged_rows<'a>(
    what: &str,
    command: &str,
    rows: impl Iterator<Item = (&'a str, &'a str, &'a str)>,
) -> Error {
    let rows: Vec<String> = rows.map(|(name, id, reason)| format!("`{name}` (id {id}): {reason}")).collect();
    let (count, example) = (rows.len(), rows.len() == 1);
    Error::invalid(
        format!(
            "{count} stored {what}{} damaged and not listed: {}",
            if example { " is" } else { "s are" },
            rows.join("; ")
        ),
        Some(format!("`{command} describe ID` shows what is left of one; `{command} delete ID --yes` removes it")),
    )
}

/// The notes a registration or update leaves for the user, worded for this binary.
pub fn registration_notes(registration: &zenreg_store::Registration) -> Vec<String> {
    let zenreg = program();
    let mut notes: Vec<String> = registration
        .missing_secrets
        .iter()
        .map(|name| {
            format!(
                "secret `{name}` does not exist yet; create it before using `{}`: `{zenreg} secret create {name} --username=… --password=-`",
                registration.component.name
            )
        })
        .collect();
    notes.extend(registration.post_registration_message.map(String::from));
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_http(host: &str, daemon: zenreg_push::Daemon) -> String {
        let error = zenreg_push::Error::PlainHttpRegistry {
            host: host.into(),
            image: format!("{host}/team/app:1"),
            message: "http: server gave HTTP response to HTTPS client".into(),
            daemon,
        };
        push_hint(&error).unwrap()
    }

    #[test]
    fn the_plain_http_hint_offers_the_oci_engine_only_for_a_loopback_registry() {
        for daemon in [zenreg_push::Daemon::Docker, zenreg_push::Daemon::Podman] {
            let loopback = plain_http("127.0.0.1:5000", daemon);
            assert!(loopback.contains("--engine oci"), "{loopback}");
            // zenreg's own engine refuses plain HTTP to any other host: not a way out there.
            let remote = plain_http("10.20.30.40:5000", daemon);
            assert!(!remote.contains("--engine oci") && remote.contains("10.20.30.40:5000"), "{remote}");
        }
    }
}
