//! The library API over the store: register, update, list and delete components and secrets,
//! with every config validated by its flavor. The CLI is a thin layer over this.
//!
//! ```no_run
//! use zenreg_core::ComponentType;
//! use zenreg_store::Client;
//! # fn main() -> Result<(), zenreg_store::Error> {
//! let mut client = Client::open("/tmp/zenreg.db")?;
//! let config = serde_json::json!({ "uri": "localhost:5000" });
//! client.register_component(
//!     ComponentType::ContainerRegistry,
//!     "local",
//!     "default",
//!     config.as_object().unwrap().clone(),
//!     Default::default(),
//! )?;
//! let local = client.component(ComponentType::ContainerRegistry, "local")?;
//! assert_eq!(local.config["uri"], "localhost:5000");
//! # Ok(()) }
//! ```

use crate::backend::{Backend, BackendInfo, SecretSummary, Tx, Written};
use crate::crypto::{KEY_FILE_VARIABLE, KEY_VARIABLE, KeySource, SecretsKey};
use crate::error::{Error, Kind, LocationProblem};
use crate::model::{self, Component, Labels, Registration, Secret, SecretValues};
use crate::postgres::{PgEnv, PgStore};
use crate::sqlite::{self, Store};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use zenreg_core::config::parse_secret_reference;
use zenreg_core::{Catalog, ComponentType, Credentials, DynContainerRegistry, ExposeSecret, JsonObject, SecretString};

/// The longest component or secret name, and the longest label key.
pub const MAX_NAME_LEN: usize = 255;
/// The largest secret value (bytes), the same limit as an `@FILE` value.
pub const MAX_SECRET_VALUE: usize = 1024 * 1024;

/// The storage engine under a client: the embedded SQLite file or a PostgreSQL server. Every
/// command is written once, as a closure over a [`Tx`], and runs on either.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "one per client, never moved in a loop")]
enum AnyBackend {
    Sqlite(Store),
    Postgres(PgStore),
}

impl AnyBackend {
    fn write<T>(&mut self, f: impl FnOnce(&mut dyn Tx<Error>) -> Result<T, Error>) -> Result<T, Error> {
        match self {
            AnyBackend::Sqlite(store) => Backend::write(store, f),
            AnyBackend::Postgres(store) => Backend::write(store, f),
        }
    }

    fn read<T>(&mut self, f: impl FnOnce(&mut dyn Tx<Error>) -> Result<T, Error>) -> Result<T, Error> {
        match self {
            AnyBackend::Sqlite(store) => Backend::read(store, f),
            AnyBackend::Postgres(store) => Backend::read(store, f),
        }
    }

    /// After a delete or a secret update: the embedded store drops old copies of rows from its
    /// file and log (a server keeps its own).
    fn reclaim(&mut self) {
        if let AnyBackend::Sqlite(store) = self {
            store.reclaim();
        }
    }
}

/// Whether `location` names a PostgreSQL server (`postgresql://…`, `postgres://…`) rather than a
/// file. Any `postgres:`/`postgresql:` prefix counts, so that a mistyped URL is refused as a URL
/// instead of becoming a file named after it (with its password in the name).
pub fn is_server_location(location: &Path) -> bool {
    location.to_str().is_some_and(|text| {
        let lower = text.get(..11).unwrap_or(text).to_ascii_lowercase();
        lower.starts_with("postgres:") || lower.starts_with("postgresql:")
    })
}

/// Refuses a store location that is neither a file path nor a URL zenreg knows: one that looks
/// like a URL (`scheme:` followed by `//`, `jdbc:postgresql://` too) of another scheme, or one
/// that begins or ends with whitespace. Such a location is a typo of a server's URL, and opening
/// it as a file would create a store named after the URL, password and all. The error shows
/// the scheme at most, never the rest.
pub fn check_location(location: &Path) -> Result<(), Error> {
    let text = location.to_string_lossy();
    if text.trim() != text {
        return Err(Error::InvalidLocation { problem: LocationProblem::Whitespace });
    }
    if is_server_location(location) {
        return Ok(());
    }
    if let Some((scheme, _)) = text.split_once("://") {
        let scheme_like = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | ':'));
        if scheme_like {
            return Err(Error::InvalidLocation {
                problem: LocationProblem::UnknownScheme { scheme: scheme.to_string() },
            });
        }
    }
    Ok(())
}

/// A store plus the catalog of flavors that validates what goes into it.
#[derive(Debug)]
pub struct Client {
    // A mutex, not a `RefCell`: reads take `&self` and a client is shared across threads (the
    // push runs on an async runtime). Commands never call back into the client while holding it.
    backend: Mutex<AnyBackend>,
    catalog: &'static Catalog,
    location: String,
}

impl Client {
    /// Opens the store at `location` with the program's catalog: a file path (the embedded
    /// SQLite store, created if missing, in a folder that must exist) or a `postgresql://` /
    /// `postgres://` URL. Anything else that looks like a URL is refused ([`check_location`]).
    ///
    /// Secret values are sealed with the key from `ZENREG_SECRETS_KEY` (base64), else, for a
    /// file, `<file>.key` beside it (created 0600 on the first secret write), or, for a server,
    /// the file named by `ZENREG_SECRETS_KEY_FILE`.
    pub fn open(location: impl AsRef<Path>) -> Result<Client, Error> {
        let location = location.as_ref();
        check_location(location)?;
        if is_server_location(location) {
            let url = location.to_str().unwrap_or_default();
            let key_file = std::env::var_os(KEY_FILE_VARIABLE).filter(|p| !p.is_empty()).map(PathBuf::from);
            // Loaded when a secret value is first sealed or opened, as for a store file.
            let keys = KeySource::new(std::env::var(KEY_VARIABLE).ok(), key_file, false);
            let store = PgStore::open_with_keys(url, &PgEnv::from_process(), keys)?;
            return Ok(Client::from_postgres(store, Catalog::global()));
        }
        Ok(Client::new(Store::open(location)?, Catalog::global()))
    }

    /// [`Client::open`] with secret values sealed and opened with `key`, whatever the store
    /// would use by default (its key file, or `ZENREG_SECRETS_KEY`).
    pub fn open_with_key(location: impl AsRef<Path>, key: SecretsKey) -> Result<Client, Error> {
        let location = location.as_ref();
        check_location(location)?;
        if is_server_location(location) {
            let url = location.to_str().unwrap_or_default();
            let store = PgStore::open(url, &PgEnv::from_process(), Some(key))?;
            return Ok(Client::from_postgres(store, Catalog::global()));
        }
        Ok(Client::new(Store::open(location)?.with_keys(KeySource::with_key(key)), Catalog::global()))
    }

    /// Opens the default store (see [`default_path`](crate::default_path)), creating the
    /// default location's folders (never those of `$ZENREG_STORE`).
    pub fn open_default() -> Result<Client, Error> {
        Client::open(sqlite::prepare_default_path()?)
    }

    /// A client over an open embedded store and a catalog.
    pub fn new(store: Store, catalog: &'static Catalog) -> Client {
        let location = store.path().display().to_string();
        Client { backend: Mutex::new(AnyBackend::Sqlite(store)), catalog, location }
    }

    /// A client over an open PostgreSQL store and a catalog.
    pub fn from_postgres(store: PgStore, catalog: &'static Catalog) -> Client {
        let location = store.location().to_string();
        Client { backend: Mutex::new(AnyBackend::Postgres(store)), catalog, location }
    }

    /// Where the store is: the file's path, or the server's URL without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// `sqlite` or `postgresql`.
    pub fn backend_name(&self) -> &'static str {
        match &*self.lock() {
            AnyBackend::Sqlite(_) => "sqlite",
            AnyBackend::Postgres(_) => "postgresql",
        }
    }

    /// A file path beside which local caches (the push's blob cache) are kept: the store file,
    /// or for a server store where the embedded store would be by default.
    pub fn local_path(&self) -> PathBuf {
        match &*self.lock() {
            AnyBackend::Sqlite(store) => store.path().to_path_buf(),
            AnyBackend::Postgres(_) => sqlite::default_file_path(),
        }
    }

    /// SQLite's `integrity_check` of an embedded store (`ok`, or the problems found); `None`
    /// for a server store, which checks itself.
    pub fn integrity_check(&self) -> Result<Option<String>, Error> {
        match &*self.lock() {
            AnyBackend::Sqlite(store) => Ok(Some(store.integrity_check()?)),
            AnyBackend::Postgres(_) => Ok(None),
        }
    }

    /// The key file secret values are sealed with, when the key comes from a file (for an
    /// embedded store: the file beside it, which may not exist yet).
    pub fn key_file(&self) -> Option<PathBuf> {
        match &mut *self.lock() {
            AnyBackend::Sqlite(store) => store.keys().file().map(Path::to_path_buf),
            AnyBackend::Postgres(store) => store.key_file().map(Path::to_path_buf),
        }
    }

    /// An embedded store's own key file, `<store>.key`, whether or not `ZENREG_SECRETS_KEY`
    /// overrides it now; `None` for a server store.
    pub fn key_file_beside(&self) -> Option<PathBuf> {
        match &*self.lock() {
            AnyBackend::Sqlite(store) => Some(crate::crypto::key_file_beside(store.path())),
            AnyBackend::Postgres(_) => None,
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &'static Catalog {
        self.catalog
    }

    fn lock(&self) -> MutexGuard<'_, AnyBackend> {
        // A panic while holding the lock left no transaction open (it was rolled back).
        self.backend.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write<T>(&self, f: impl FnOnce(&mut dyn Tx<Error>) -> Result<T, Error>) -> Result<T, Error> {
        self.lock().write(f)
    }

    fn read<T>(&self, f: impl FnOnce(&mut dyn Tx<Error>) -> Result<T, Error>) -> Result<T, Error> {
        self.lock().read(f)
    }

    // ---- the store itself ----------------------------------------------------------------

    /// Backend, location (never a password), schema version, counts and key fingerprint.
    pub fn info(&self) -> Result<BackendInfo, Error> {
        match &mut *self.lock() {
            AnyBackend::Sqlite(store) => Ok(store.info()?),
            AnyBackend::Postgres(store) => Ok(store.info()?),
        }
    }

    /// Re-seals every secret value under `new` in one transaction; on failure nothing changes
    /// and the current key still opens everything. Returns how many secrets were rewritten.
    pub fn rekey(&mut self, new: &SecretsKey) -> Result<u64, Error> {
        let mut backend = self.lock();
        let count = match &mut *backend {
            AnyBackend::Sqlite(store) => store.rekey(new)?,
            AnyBackend::Postgres(store) => store.rekey(new)?,
        };
        backend.reclaim();
        Ok(count)
    }

    /// Copies every component and secret of this store into `target`, in one transaction of
    /// the target. Names that exist there already are conflicts: with `overwrite` they are
    /// replaced, otherwise nothing at all is written and the conflicts are the error
    /// ([`Error::CopyConflicts`]). Damaged rows are refused ([`Error::Damaged`]).
    pub fn copy_into(&self, target: &mut Client, overwrite: bool) -> Result<CopyReport, Error> {
        let (components, secrets) = self.read(|tx| {
            let mut components = Vec::new();
            for component_type in ComponentType::ALL {
                components.extend(tx.list_components(*component_type, None)?);
            }
            Ok((components, tx.list_secrets()?))
        })?;
        let components: Vec<Component> =
            components.into_iter().map(|c| usable(Kind::Component(c.component_type), c)).collect::<Result<_, _>>()?;
        let secrets: Vec<Secret> = secrets.into_iter().map(usable_secret).collect::<Result<_, _>>()?;
        let mut report = target.write(|tx| {
            tx.exclusive()?;
            let mut report = CopyReport::default();
            let existing_secrets = tx.secret_summaries()?;
            for secret in &secrets {
                if let Some(old) = existing_secrets.iter().find(|s| s.name == secret.name) {
                    report.conflicts.push(format!("secret `{}`", secret.name));
                    if overwrite {
                        let replaced = Secret { id: old.id.clone(), created: old.created.clone(), ..secret.clone() };
                        written(tx.put_secret(&replaced)?, Kind::Secret, &secret.name)?;
                        report.secrets += 1;
                    }
                    continue;
                }
                let taken = existing_secrets.iter().any(|s| s.id == secret.id);
                let copy = if taken { Secret { id: new_id(), ..secret.clone() } } else { secret.clone() };
                written(tx.put_secret(&copy)?, Kind::Secret, &secret.name)?;
                report.secrets += 1;
            }
            for component in &components {
                let kind = Kind::Component(component.component_type);
                if let Some(old) = tx.component_by_name(component.component_type, &component.name)? {
                    report.conflicts.push(format!("{kind} `{}`", component.name));
                    if overwrite {
                        tx.delete_component(&old.id)?;
                        let replaced = Component { id: old.id, created: old.created, ..component.clone() };
                        written(tx.insert_component(&replaced)?, kind, &component.name)?;
                        report.components += 1;
                    }
                    continue;
                }
                let taken = !tx.components_by_id_prefix(component.component_type, &component.id, 1)?.is_empty();
                let copy = if taken { Component { id: new_id(), ..component.clone() } } else { component.clone() };
                written(tx.insert_component(&copy)?, kind, &component.name)?;
                report.components += 1;
            }
            if !overwrite && !report.conflicts.is_empty() {
                // Returning an error rolls back what was written above.
                let mut names = std::mem::take(&mut report.conflicts);
                names.sort();
                return Err(Error::CopyConflicts { names });
            }
            Ok(report)
        })?;
        report.conflicts.sort();
        Ok(report)
    }

    // ---- components ----------------------------------------------------------------------

    /// Every component of a type, sorted by name, optionally of one flavor.
    pub fn components(&self, component_type: ComponentType, flavor: Option<&str>) -> Result<Vec<Component>, Error> {
        self.read(|tx| tx.list_components(component_type, flavor))
    }

    /// Calls `f` with every component of a type, sorted by name, optionally of one flavor, one
    /// at a time, so that a listing of thousands never holds them all.
    pub fn for_each_component(
        &self,
        component_type: ComponentType,
        flavor: Option<&str>,
        mut f: impl FnMut(Component),
    ) -> Result<(), Error> {
        self.read(|tx| tx.for_each_component(component_type, flavor, &mut f))
    }

    /// The component with that name or id. A damaged row is an error ([`Error::Damaged`]).
    pub fn component(&self, component_type: ComponentType, key: &str) -> Result<Component, Error> {
        let component = self.component_as_stored(component_type, key)?;
        usable(Kind::Component(component_type), component)
    }

    /// The component with that name or id, even when its row is damaged (see
    /// [`Component::damaged`]): to show it, or to delete it.
    pub fn component_as_stored(&self, component_type: ComponentType, key: &str) -> Result<Component, Error> {
        self.read(|tx| find_component(tx, component_type, key))
    }

    /// Validates `config` with the flavor's config type and stores a new component.
    pub fn register_component(
        &mut self,
        component_type: ComponentType,
        name: &str,
        flavor: &str,
        config: JsonObject,
        labels: Labels,
    ) -> Result<Registration, Error> {
        validate_name(Kind::Component(component_type), name)?;
        validate_labels(&labels)?;
        let entry = self.catalog.flavor(component_type, flavor)?;
        let config = (entry.descriptor.config.validate)(&config)?;
        check_secret_fields(&config)?;
        let now = model::now();
        let component = Component {
            id: new_id(),
            name: name.to_string(),
            component_type,
            flavor: flavor.to_string(),
            config,
            labels,
            created: now.clone(),
            updated: now,
            damaged: None,
        };
        let missing_secrets = self.write(|tx| {
            let references = Client::referenced_secrets(&component);
            if !references.is_empty() {
                // A secret deleted meanwhile would be reported as present.
                tx.exclusive()?;
            }
            ensure_name_free(tx, component_type, name)?;
            written(tx.insert_component(&component)?, Kind::Component(component_type), name)?;
            missing_secrets(tx, &references)
        })?;
        let post_registration_message = entry.descriptor.post_registration_message;
        Ok(Registration { component, missing_secrets, post_registration_message })
    }

    /// Merges `changes` into the component's config and `labels` into its labels, revalidates,
    /// and stores the result.
    pub fn update_component(
        &mut self,
        component_type: ComponentType,
        key: &str,
        changes: JsonObject,
        labels: Labels,
    ) -> Result<Registration, Error> {
        validate_labels(&labels)?;
        let catalog = self.catalog;
        let (component, missing_secrets) = self.modify_component(component_type, key, true, move |component| {
            let entry = catalog.flavor(component_type, &component.flavor)?;
            // A change given under a field's alias replaces the value stored under its name.
            let config = &entry.descriptor.config;
            component.config.extend(changes.into_iter().map(|(key, value)| match config.field(&key) {
                Some(field) => (field.name.to_string(), value),
                None => (key, value),
            }));
            component.labels.extend(labels);
            component.config = (entry.descriptor.config.validate)(&component.config)?;
            check_secret_fields(&component.config)?;
            Ok(())
        })?;
        Ok(Registration { component, missing_secrets, post_registration_message: None })
    }

    /// Removes config attributes and labels; removing a required attribute is refused.
    pub fn remove_component_attributes(
        &mut self,
        component_type: ComponentType,
        key: &str,
        attributes: &[String],
        labels: &[String],
    ) -> Result<Component, Error> {
        let catalog = self.catalog;
        let (component, _) = self.modify_component(component_type, key, false, move |component| {
            let entry = catalog.flavor(component_type, &component.flavor)?;
            for attribute in attributes {
                // An alias names the field it stands for.
                let attribute =
                    &entry.descriptor.config.field(attribute).map_or(attribute.clone(), |f| f.name.to_string());
                if entry.descriptor.config.field(attribute).is_some_and(|f| f.required) {
                    return Err(Error::RequiredAttribute {
                        component_type,
                        component: component.name.clone(),
                        attribute: attribute.clone(),
                        flavor: component.flavor.clone(),
                    });
                }
                if component.config.remove(attribute).is_none() {
                    return Err(Error::NoSuchAttribute {
                        component_type,
                        component: component.name.clone(),
                        attribute: attribute.clone(),
                    });
                }
            }
            for label in labels {
                if component.labels.remove(label).is_none() {
                    return Err(Error::NoSuchLabel { component: component.name.clone(), label: label.clone() });
                }
            }
            component.config = (entry.descriptor.config.validate)(&component.config)?;
            Ok(())
        })?;
        Ok(component)
    }

    /// Renames a component; the new name must be free.
    pub fn rename_component(
        &mut self,
        component_type: ComponentType,
        key: &str,
        new_name: &str,
    ) -> Result<Component, Error> {
        validate_name(Kind::Component(component_type), new_name)?;
        let (component, _) = self.modify_component(component_type, key, false, |component| {
            if component.name == new_name {
                return Err(Error::SameName { kind: Kind::Component(component_type), name: new_name.to_string() });
            }
            component.name = new_name.to_string();
            Ok(())
        })?;
        Ok(component)
    }

    /// Copies a component under a new name (new id, same flavor, config and labels).
    pub fn copy_component(
        &mut self,
        component_type: ComponentType,
        key: &str,
        new_name: &str,
    ) -> Result<Component, Error> {
        validate_name(Kind::Component(component_type), new_name)?;
        self.write(|tx| {
            let source = find_component(tx, component_type, key)?;
            let source = usable(Kind::Component(component_type), source)?;
            if !Client::referenced_secrets(&source).is_empty() {
                tx.exclusive()?;
            }
            ensure_name_free(tx, component_type, new_name)?;
            let now = model::now();
            let copy = Component {
                id: new_id(),
                name: new_name.to_string(),
                created: now.clone(),
                updated: now,
                damaged: None,
                ..source
            };
            written(tx.insert_component(&copy)?, Kind::Component(component_type), new_name)?;
            Ok(copy)
        })
    }

    /// Deletes a component (a damaged one too) and returns what was deleted.
    pub fn delete_component(&mut self, component_type: ComponentType, key: &str) -> Result<Component, Error> {
        let mut backend = self.lock();
        let deleted = backend.write(|tx| {
            let component = find_component(tx, component_type, key)?;
            tx.delete_component(&component.id)?;
            Ok(component)
        })?;
        backend.reclaim();
        Ok(deleted)
    }

    /// Reads, changes and writes one component inside one write transaction; with
    /// `references`, also the secrets it refers to that do not exist.
    fn modify_component(
        &mut self,
        component_type: ComponentType,
        key: &str,
        references: bool,
        change: impl FnOnce(&mut Component) -> Result<(), Error>,
    ) -> Result<(Component, Vec<String>), Error> {
        self.write(|tx| {
            let component = find_component(tx, component_type, key)?;
            let mut component = usable(Kind::Component(component_type), component)?;
            let old_name = component.name.clone();
            change(&mut component)?;
            if component.name != old_name {
                ensure_name_free(tx, component_type, &component.name)?;
            }
            let referenced = if references { Client::referenced_secrets(&component) } else { Vec::new() };
            if !referenced.is_empty() {
                tx.exclusive()?;
            }
            component.updated = model::now();
            match tx.update_component(&component)? {
                Written::Done => {}
                Written::NameTaken => {
                    return Err(Error::AlreadyExists {
                        kind: Kind::Component(component_type),
                        name: component.name.clone(),
                    });
                }
                Written::Missing => {
                    return Err(Error::NotFound { kind: Kind::Component(component_type), name: key.to_string() });
                }
            }
            let missing = missing_secrets(tx, &referenced)?;
            Ok((component, missing))
        })
    }

    /// The component's config with every `{{secret.key}}` reference replaced by its value.
    pub fn resolved_config(&self, component: &Component) -> Result<JsonObject, Error> {
        let mut config = component.config.clone();
        for (field, value) in config.iter_mut() {
            let Some((secret, key)) = value.as_str().and_then(parse_secret_reference) else { continue };
            let secret_value = self.secret_value(secret, key, &format!("`{}` field `{field}`", component.name))?;
            // A config is plain JSON for its flavor to validate and use: the value leaves the
            // secret type here.
            *value = Value::String(secret_value.expose_secret().to_string());
        }
        Ok(config)
    }

    fn secret_value(&self, secret: &str, key: &str, used_by: &str) -> Result<SecretString, Error> {
        let found = self.secret(secret).map_err(|error| match error {
            Error::NotFound { .. } => {
                Error::MissingSecret { secret: secret.to_string(), key: key.to_string(), used_by: used_by.to_string() }
            }
            other => other,
        })?;
        found.values.get(key).cloned().ok_or_else(|| Error::MissingSecretKey {
            secret: secret.to_string(),
            key: key.to_string(),
            used_by: used_by.to_string(),
        })
    }

    /// The username and password of the component's authentication secret, if it has one.
    pub fn credentials(&self, component: &Component) -> Result<Option<Credentials>, Error> {
        let Some(secret) = component.config.get("authentication_secret").and_then(Value::as_str) else {
            return Ok(None);
        };
        let used_by = format!("`{}` (authentication_secret)", component.name);
        Ok(Some(Credentials::new(
            self.secret_value(secret, "username", &used_by)?.expose_secret(),
            self.secret_value(secret, "password", &used_by)?,
        )))
    }

    /// Revalidates the stored config (flavors evolve) with secrets resolved, and builds the
    /// flavor's implementation; fails naming the cargo feature when it is not linked.
    pub fn container_registry(&self, component: &Component) -> Result<Box<dyn DynContainerRegistry>, Error> {
        let implementation = self.catalog.implementation(component.component_type, &component.flavor)?;
        let config = self.resolved_config(component)?;
        Ok((implementation.build)(&config)?)
    }

    /// Names of the secrets a component refers to: its authentication secret and every
    /// `{{secret.key}}` reference.
    pub fn referenced_secrets(component: &Component) -> Vec<String> {
        let mut names: Vec<String> = component
            .config
            .iter()
            .filter_map(|(field, value)| {
                let text = value.as_str()?;
                if field == "authentication_secret" {
                    Some(text.to_string())
                } else {
                    parse_secret_reference(text).map(|(name, _)| name.to_string())
                }
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Every (secret, key) a component uses: `username` and `password` of its authentication
    /// secret, and each `{{secret.key}}` reference.
    pub fn secret_keys_used(component: &Component) -> Vec<(String, String)> {
        let mut used = Vec::new();
        for (field, value) in &component.config {
            let Some(text) = value.as_str() else { continue };
            if field == "authentication_secret" {
                used.push((text.to_string(), "username".to_string()));
                used.push((text.to_string(), "password".to_string()));
            } else if let Some((secret, key)) = parse_secret_reference(text) {
                used.push((secret.to_string(), key.to_string()));
            }
        }
        used
    }

    // ---- secrets -------------------------------------------------------------------------

    /// Every secret, sorted by name, with its values (which needs the key).
    pub fn secrets(&self) -> Result<Vec<Secret>, Error> {
        self.read(|tx| tx.list_secrets())
    }

    /// Every secret's name and key names, sorted by name, without the values: works without
    /// the key.
    pub fn secret_summaries(&self) -> Result<Vec<SecretSummary>, Error> {
        self.read(|tx| tx.secret_summaries())
    }

    /// The name and key names of the secret called `name`, without its values.
    pub fn secret_summary(&self, name: &str) -> Result<SecretSummary, Error> {
        self.read(|tx| find_summary(tx, name))
    }

    /// The secret called `name`. A damaged row is an error ([`Error::Damaged`]).
    pub fn secret(&self, name: &str) -> Result<Secret, Error> {
        usable_secret(self.secret_as_stored(name)?)
    }

    /// The secret called `name`, even when its row is damaged (see [`Secret::damaged`]).
    pub fn secret_as_stored(&self, name: &str) -> Result<Secret, Error> {
        self.read(|tx| tx.find_secret(name)?.ok_or_else(|| secret_not_found(name)))
    }

    /// Stores a new secret.
    pub fn create_secret(&mut self, name: &str, values: SecretValues) -> Result<Secret, Error> {
        validate_secret_name(name)?;
        validate_secret_values(&values)?;
        if values.is_empty() {
            return Err(Error::EmptySecret { name: name.to_string() });
        }
        let now = model::now();
        let secret =
            Secret { id: new_id(), name: name.to_string(), values, created: now.clone(), updated: now, damaged: None };
        self.write(|tx| {
            if tx.secret_summaries()?.iter().any(|s| s.name == name) {
                return Err(Error::AlreadyExists { kind: Kind::Secret, name: name.to_string() });
            }
            written(tx.put_secret(&secret)?, Kind::Secret, name)
        })?;
        Ok(secret)
    }

    /// Sets and removes keys of a secret.
    pub fn update_secret(&mut self, name: &str, set: SecretValues, remove: &[String]) -> Result<Secret, Error> {
        validate_secret_values(&set)?;
        let mut backend = self.lock();
        let updated = backend.write(|tx| {
            if !remove.is_empty() {
                // A component registered meanwhile could start using a key removed here.
                tx.exclusive()?;
            }
            let secret = tx.find_secret(name)?.ok_or_else(|| secret_not_found(name))?;
            let mut secret = usable_secret(secret)?;
            for key in remove {
                if secret.values.remove(key).is_none() {
                    return Err(Error::NoSuchSecretKey { name: name.to_string(), key: key.clone() });
                }
                let users = secret_users(tx, &secret.name, Some(key))?;
                if !users.is_empty() {
                    return Err(Error::SecretKeyInUse { secret: secret.name, key: key.clone(), components: users });
                }
            }
            secret.values.extend(set);
            if secret.values.is_empty() {
                return Err(Error::SecretWouldBeEmpty { name: name.to_string() });
            }
            secret.updated = model::now();
            written(tx.put_secret(&secret)?, Kind::Secret, name)?;
            Ok(secret)
        })?;
        // Old values sit in freed pages and in the write-ahead log until reclaimed.
        backend.reclaim();
        Ok(updated)
    }

    /// Deletes a secret (a damaged one too); refused while a component references it. Needs
    /// no key.
    pub fn delete_secret(&mut self, name: &str) -> Result<(), Error> {
        let mut backend = self.lock();
        backend.write(|tx| {
            // Serialised with registrations that reference secrets: none can start using this
            // one between the check below and the delete.
            tx.exclusive()?;
            let secret = find_summary(tx, name)?;
            let users = secret_users(tx, &secret.name, None)?;
            if !users.is_empty() {
                return Err(Error::SecretInUse { secret: secret.name, components: users });
            }
            tx.delete_secret(&secret.id)?;
            Ok(())
        })?;
        // `secure_delete` zeroed the row; this drops the log's copies and gives space back.
        backend.reclaim();
        Ok(())
    }
}

/// What [`Client::copy_into`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Components written.
    pub components: u64,
    /// Secrets written.
    pub secrets: u64,
    /// Rows of the target that had a name of the source (replaced with `overwrite`), as
    /// ``container registry `name` `` or ``secret `name` ``.
    pub conflicts: Vec<String>,
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A write that lost a race for a name (checked just before) is the same error as the check's.
fn written(outcome: Written, kind: Kind, name: &str) -> Result<(), Error> {
    match outcome {
        Written::Done => Ok(()),
        Written::NameTaken => Err(Error::AlreadyExists { kind, name: name.to_string() }),
        Written::Missing => Err(Error::NotFound { kind, name: name.to_string() }),
    }
}

/// The names among `references` that no secret has.
fn missing_secrets(tx: &mut dyn Tx<Error>, references: &[String]) -> Result<Vec<String>, Error> {
    if references.is_empty() {
        return Ok(Vec::new());
    }
    let existing = tx.secret_summaries()?;
    Ok(references.iter().filter(|name| !existing.iter().any(|s| &s.name == *name)).cloned().collect())
}

fn find_summary(tx: &mut dyn Tx<Error>, name: &str) -> Result<SecretSummary, Error> {
    tx.secret_summaries()?.into_iter().find(|s| s.name == name).ok_or_else(|| secret_not_found(name))
}

/// The components (as ``container registry `name` ``) that use secret `secret`, or only its key
/// `key`. A damaged component uses nothing: its config cannot be read, and it cannot be used.
fn secret_users(tx: &mut dyn Tx<Error>, secret: &str, key: Option<&str>) -> Result<Vec<String>, Error> {
    let mut users = Vec::new();
    for component_type in ComponentType::ALL {
        tx.for_each_component(*component_type, None, &mut |component| {
            if Client::secret_keys_used(&component).iter().any(|(s, k)| s == secret && key.is_none_or(|key| key == k)) {
                users.push(format!("{} `{}`", component_type.human_name(), component.name));
            }
        })?;
    }
    Ok(users)
}

/// A component that can be used, or [`Error::Damaged`].
fn usable(kind: Kind, component: Component) -> Result<Component, Error> {
    match component.damaged {
        Some(reason) => Err(Error::Damaged { kind, name: component.name, id: component.id, reason: one_line(&reason) }),
        None => Ok(component),
    }
}

fn usable_secret(secret: Secret) -> Result<Secret, Error> {
    match secret.damaged {
        Some(reason) => {
            Err(Error::Damaged { kind: Kind::Secret, name: secret.name, id: secret.id, reason: one_line(&reason) })
        }
        None => Ok(secret),
    }
}

/// The first line of a reason, at most 200 characters: a damaged row's text may be anything.
fn one_line(reason: &str) -> String {
    let line = reason.lines().next().unwrap_or_default();
    let mut short: String = line.chars().take(200).collect();
    if short.len() < line.len() {
        short.push('…');
    }
    short
}

/// The component whose name, id, or unique id prefix (8+ characters) is `key`. A name wins:
/// stores written before id-like names were refused may hold one.
fn find_component(tx: &mut dyn Tx<Error>, component_type: ComponentType, key: &str) -> Result<Component, Error> {
    let kind = Kind::Component(component_type);
    if let Some(component) = tx.component_by_name(component_type, key)? {
        return Ok(component);
    }
    if !sqlite::looks_like_id(key) {
        return Err(Error::NotFound { kind, name: key.to_string() });
    }
    let mut matches = tx.components_by_id_prefix(component_type, &key.to_ascii_lowercase(), 5)?;
    match matches.len() {
        0 => Err(Error::NotFound { kind, name: key.to_string() }),
        1 => matches.pop().ok_or_else(|| Error::NotFound { kind, name: key.to_string() }),
        _ => {
            matches.sort_by(|a, b| a.name.cmp(&b.name));
            Err(Error::Ambiguous {
                kind,
                prefix: key.to_string(),
                matches: matches.into_iter().map(|c| (c.name, c.id)).collect(),
            })
        }
    }
}

fn ensure_name_free(tx: &mut dyn Tx<Error>, component_type: ComponentType, name: &str) -> Result<(), Error> {
    match tx.component_by_name(component_type, name)? {
        Some(_) => Err(Error::AlreadyExists { kind: Kind::Component(component_type), name: name.to_string() }),
        None => Ok(()),
    }
}

fn secret_not_found(name: &str) -> Error {
    Error::NotFound { kind: Kind::Secret, name: name.to_string() }
}

/// Whether a character may appear in a name or label key: anything but control characters
/// (C0, DEL, C1: tabs, newlines, escapes, …) and the invisible characters that change how text
/// around them is shown (zero-width and bidirectional controls, line and paragraph separators,
/// the byte-order mark).
pub fn is_name_char(c: char) -> bool {
    !(c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{206f}' | '\u{feff}'))
}

/// Component names: 1–255 characters accepted by [`is_name_char`] (spaces, punctuation and
/// every script are fine), and not of the form of an id or id prefix (8 or more hexadecimal
/// digits and `-`, see [`looks_like_id`](crate::sqlite::looks_like_id)), so a name never
/// shadows another component's id.
pub fn validate_name(kind: Kind, name: &str) -> Result<(), Error> {
    let invalid = |message: String| Err(Error::InvalidName { kind, message });
    if name.is_empty() {
        return invalid(format!("a {kind} name cannot be empty"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return invalid(format!("a {kind} name can have at most {MAX_NAME_LEN} characters"));
    }
    if let Some(c) = name.chars().find(|c| !is_name_char(*c)) {
        return invalid(format!(
            "{kind} name {name:?} contains {c:?}; names cannot contain control characters (tabs, newlines, \
             escapes, …) or invisible formatting characters"
        ));
    }
    if matches!(kind, Kind::Component(_)) && sqlite::looks_like_id(name) {
        return invalid(format!(
            "{kind} name `{name}` has the form of an id (8 or more hexadecimal digits and `-`); \
             such names would shadow ids, so they are not accepted"
        ));
    }
    Ok(())
}

/// Secret names appear inside `{{name.key}}`: letters, digits, `_` and `-` only.
fn validate_secret_name(name: &str) -> Result<(), Error> {
    validate_name(Kind::Secret, name)?;
    if !is_secret_name(name) {
        return Err(Error::InvalidName {
            kind: Kind::Secret,
            message: format!(
                "invalid secret name `{name}`: use letters, digits, `_` and `-` (it appears in `{{{{{name}.key}}}}` references)"
            ),
        });
    }
    Ok(())
}

/// Secret keys and config keys: identifiers.
pub fn is_identifier(key: &str) -> bool {
    let mut chars = key.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `name` can be a secret name: 1–255 letters, digits, `_` and `-`.
pub fn is_secret_name(name: &str) -> bool {
    zenreg_core::uri::is_secret_name(name)
}

fn validate_secret_values(values: &SecretValues) -> Result<(), Error> {
    for (key, value) in values {
        if !is_identifier(key) {
            return Err(Error::InvalidSecretKey { key: key.clone() });
        }
        let value = value.expose_secret();
        if value.len() > MAX_SECRET_VALUE {
            return Err(Error::ValueTooLarge { key: key.clone(), size: value.len(), limit: MAX_SECRET_VALUE });
        }
    }
    Ok(())
}

/// Label keys: 1–255 characters accepted by [`is_name_char`], without whitespace or `=`.
/// Values may hold anything; programs showing them escape what a terminal would interpret.
fn validate_labels(labels: &Labels) -> Result<(), Error> {
    for key in labels.keys() {
        if key.is_empty()
            || key.chars().count() > MAX_NAME_LEN
            || key.chars().any(|c| c.is_whitespace() || c == '=' || !is_name_char(c))
        {
            return Err(Error::InvalidLabel { key: key.clone() });
        }
    }
    Ok(())
}

/// Checks the fields that name secrets, after the flavor validated the config: an
/// authentication secret must be a possible secret name, and a value that looks like a secret
/// reference (`{{…}}`) must be exactly one well-formed reference, so that nothing is stored
/// that `secret create` could never satisfy.
fn check_secret_fields(config: &JsonObject) -> Result<(), Error> {
    for (field, value) in config {
        let Some(text) = value.as_str() else { continue };
        if field == "authentication_secret" {
            if !is_secret_name(text) {
                return Err(Error::InvalidSecretField {
                    field: field.clone(),
                    message: "must be the name of a secret: 1–255 letters, digits, `_` and `-`".into(),
                });
            }
        } else if (text.contains("{{") || text.contains("}}")) && parse_secret_reference(text).is_none() {
            return Err(Error::InvalidSecretField {
                field: field.clone(),
                message: "looks like a secret reference but is not one: write exactly `{{secret_name.key}}`, \
                          with a secret name of letters, digits, `_` and `-` and a key of letters, digits and `_`"
                    .into(),
            });
        }
    }
    Ok(())
}
