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

use crate::error::{Error, Kind};
use crate::model::{self, Component, Labels, Registration, Secret};
use crate::sqlite::{self, Lookup, Store, StoreError};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use zenreg_core::config::parse_secret_reference;
use zenreg_core::{Catalog, ComponentType, Credentials, DynContainerRegistry, JsonObject};

/// The longest component or secret name, and the longest label key.
pub const MAX_NAME_LEN: usize = 255;
/// The largest secret value (bytes), the same limit as an `@FILE` value.
pub const MAX_SECRET_VALUE: usize = 1024 * 1024;

/// A store plus the catalog of flavors that validates what goes into it.
#[derive(Debug)]
pub struct Client {
    store: Store,
    catalog: &'static Catalog,
}

/// Maps SQLite errors to store errors naming `path`; usable while the store is borrowed mutably.
fn sqlite_in(path: &Path) -> impl Fn(rusqlite::Error) -> Error + use<> {
    let path = path.to_path_buf();
    move |source| Error::Store(StoreError::sqlite(&path, source))
}

impl Client {
    /// Opens the store at `path` with the program's catalog.
    pub fn open(path: impl AsRef<Path>) -> Result<Client, Error> {
        Ok(Client::new(Store::open(path)?, Catalog::global()))
    }

    /// Opens the default store (see [`default_path`](crate::default_path)).
    pub fn open_default() -> Result<Client, Error> {
        Ok(Client::new(Store::open_default()?, Catalog::global()))
    }

    /// A client over an open store and a catalog.
    pub fn new(store: Store, catalog: &'static Catalog) -> Client {
        Client { store, catalog }
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The catalog.
    pub fn catalog(&self) -> &'static Catalog {
        self.catalog
    }

    // ---- components ----------------------------------------------------------------------

    /// Every component of a type, sorted by name, optionally of one flavor.
    pub fn components(&self, component_type: ComponentType, flavor: Option<&str>) -> Result<Vec<Component>, Error> {
        sqlite::list_components(self.store.connection(), component_type, flavor).map_err(sqlite_in(self.store.path()))
    }

    /// Calls `f` with every component of a type, sorted by name, optionally of one flavor, one
    /// at a time, so that a listing of thousands never holds them all.
    pub fn for_each_component(
        &self,
        component_type: ComponentType,
        flavor: Option<&str>,
        f: impl FnMut(Component),
    ) -> Result<(), Error> {
        sqlite::for_each_component(self.store.connection(), component_type, flavor, f)
            .map_err(sqlite_in(self.store.path()))
    }

    /// The component with that name or id. A damaged row is an error ([`Error::Damaged`]).
    pub fn component(&self, component_type: ComponentType, key: &str) -> Result<Component, Error> {
        let component = self.component_as_stored(component_type, key)?;
        usable(Kind::Component(component_type), component)
    }

    /// The component with that name or id, even when its row is damaged (see
    /// [`Component::damaged`]): to show it, or to delete it.
    pub fn component_as_stored(&self, component_type: ComponentType, key: &str) -> Result<Component, Error> {
        find_component(self.store.connection(), component_type, key).map_err(|e| self.store_error(e))
    }

    fn store_error(&self, error: LookupError) -> Error {
        match error {
            LookupError::Sqlite(e) => Error::Store(self.store.error(e)),
            LookupError::Other(e) => e,
        }
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
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            component_type,
            flavor: flavor.to_string(),
            config,
            labels,
            created: now.clone(),
            updated: now,
            damaged: None,
        };
        let sqlite = sqlite_in(self.store.path());
        self.store.write(|connection| {
            if sqlite::find_component_by_name(connection, component_type, name).map_err(&sqlite)?.is_some() {
                return Err(Error::AlreadyExists { kind: Kind::Component(component_type), name: name.to_string() });
            }
            sqlite::insert_component(connection, &component).map_err(&sqlite)
        })?;
        let missing_secrets = self.missing_secrets(&component)?;
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
        let component = self.modify_component(component_type, key, move |component| {
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
        let missing_secrets = self.missing_secrets(&component)?;
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
        self.modify_component(component_type, key, move |component| {
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
        })
    }

    /// Renames a component; the new name must be free.
    pub fn rename_component(
        &mut self,
        component_type: ComponentType,
        key: &str,
        new_name: &str,
    ) -> Result<Component, Error> {
        validate_name(Kind::Component(component_type), new_name)?;
        self.modify_component(component_type, key, |component| {
            if component.name == new_name {
                return Err(Error::SameName { kind: Kind::Component(component_type), name: new_name.to_string() });
            }
            component.name = new_name.to_string();
            Ok(())
        })
    }

    /// Copies a component under a new name (new id, same flavor, config and labels).
    pub fn copy_component(
        &mut self,
        component_type: ComponentType,
        key: &str,
        new_name: &str,
    ) -> Result<Component, Error> {
        validate_name(Kind::Component(component_type), new_name)?;
        let sqlite = sqlite_in(self.store.path());
        self.store.write(|connection| {
            let source = find_component(connection, component_type, key).map_err(|e| e.into_error(&sqlite))?;
            let source = usable(Kind::Component(component_type), source)?;
            ensure_name_free(connection, component_type, new_name).map_err(|e| e.into_error(&sqlite))?;
            let now = model::now();
            let copy = Component {
                id: uuid::Uuid::new_v4().to_string(),
                name: new_name.to_string(),
                created: now.clone(),
                updated: now,
                damaged: None,
                ..source
            };
            sqlite::insert_component(connection, &copy).map_err(&sqlite)?;
            Ok(copy)
        })
    }

    /// Deletes a component (a damaged one too) and returns what was deleted.
    pub fn delete_component(&mut self, component_type: ComponentType, key: &str) -> Result<Component, Error> {
        let sqlite = sqlite_in(self.store.path());
        let deleted = self.store.write(|connection| {
            let component = find_component(connection, component_type, key).map_err(|e| e.into_error(&sqlite))?;
            sqlite::delete_component(connection, &component.id).map_err(&sqlite)?;
            Ok::<_, Error>(component)
        })?;
        self.store.reclaim();
        Ok(deleted)
    }

    /// Reads, changes and writes one component inside one write transaction.
    fn modify_component(
        &mut self,
        component_type: ComponentType,
        key: &str,
        change: impl FnOnce(&mut Component) -> Result<(), Error>,
    ) -> Result<Component, Error> {
        let sqlite = sqlite_in(self.store.path());
        self.store.write(|connection| {
            let component = find_component(connection, component_type, key).map_err(|e| e.into_error(&sqlite))?;
            let mut component = usable(Kind::Component(component_type), component)?;
            let old_name = component.name.clone();
            change(&mut component)?;
            if component.name != old_name {
                ensure_name_free(connection, component_type, &component.name).map_err(|e| e.into_error(&sqlite))?;
            }
            component.updated = model::now();
            sqlite::update_component(connection, &component).map_err(&sqlite)?;
            Ok(component)
        })
    }

    /// The component's config with every `{{secret.key}}` reference replaced by its value.
    pub fn resolved_config(&self, component: &Component) -> Result<JsonObject, Error> {
        let mut config = component.config.clone();
        for (field, value) in config.iter_mut() {
            let Some((secret, key)) = value.as_str().and_then(parse_secret_reference) else { continue };
            let secret_value = self.secret_value(secret, key, &format!("`{}` field `{field}`", component.name))?;
            *value = Value::String(secret_value);
        }
        Ok(config)
    }

    fn secret_value(&self, secret: &str, key: &str, used_by: &str) -> Result<String, Error> {
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
        Ok(Some(Credentials {
            username: self.secret_value(secret, "username", &used_by)?,
            password: self.secret_value(secret, "password", &used_by)?,
        }))
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

    fn missing_secrets(&self, component: &Component) -> Result<Vec<String>, Error> {
        let mut missing = Vec::new();
        for name in Client::referenced_secrets(component) {
            if sqlite::find_secret(self.store.connection(), &name).map_err(sqlite_in(self.store.path()))?.is_none() {
                missing.push(name);
            }
        }
        Ok(missing)
    }

    // ---- secrets -------------------------------------------------------------------------

    /// Every secret, sorted by name.
    pub fn secrets(&self) -> Result<Vec<Secret>, Error> {
        sqlite::list_secrets(self.store.connection()).map_err(sqlite_in(self.store.path()))
    }

    /// The secret called `name`. A damaged row is an error ([`Error::Damaged`]).
    pub fn secret(&self, name: &str) -> Result<Secret, Error> {
        let secret = self.secret_as_stored(name)?;
        match secret.damaged {
            Some(reason) => {
                Err(Error::Damaged { kind: Kind::Secret, name: secret.name, id: secret.id, reason: one_line(&reason) })
            }
            None => Ok(secret),
        }
    }

    /// The secret called `name`, even when its row is damaged (see [`Secret::damaged`]).
    pub fn secret_as_stored(&self, name: &str) -> Result<Secret, Error> {
        sqlite::find_secret(self.store.connection(), name)
            .map_err(sqlite_in(self.store.path()))?
            .ok_or_else(|| secret_not_found(name))
    }

    /// Stores a new secret.
    pub fn create_secret(&mut self, name: &str, values: BTreeMap<String, String>) -> Result<Secret, Error> {
        validate_secret_name(name)?;
        validate_secret_values(&values)?;
        if values.is_empty() {
            return Err(Error::EmptySecret { name: name.to_string() });
        }
        let now = model::now();
        let secret = Secret {
            id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            values,
            created: now.clone(),
            updated: now,
            damaged: None,
        };
        let sqlite = sqlite_in(self.store.path());
        self.store.write(|connection| {
            if sqlite::find_secret(connection, name).map_err(&sqlite)?.is_some() {
                return Err(Error::AlreadyExists { kind: Kind::Secret, name: name.to_string() });
            }
            sqlite::put_secret(connection, &secret).map_err(&sqlite)
        })?;
        Ok(secret)
    }

    /// Sets and removes keys of a secret.
    pub fn update_secret(
        &mut self,
        name: &str,
        set: BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<Secret, Error> {
        validate_secret_values(&set)?;
        let sqlite = sqlite_in(self.store.path());
        let updated = self.store.write(|connection| {
            let secret =
                sqlite::find_secret(connection, name).map_err(&sqlite)?.ok_or_else(|| secret_not_found(name))?;
            let mut secret = usable_secret(secret)?;
            for key in remove {
                if secret.values.remove(key).is_none() {
                    return Err(Error::NoSuchSecretKey { name: name.to_string(), key: key.clone() });
                }
                let users = secret_users(connection, &secret.name, Some(key)).map_err(&sqlite)?;
                if !users.is_empty() {
                    return Err(Error::SecretKeyInUse { secret: secret.name, key: key.clone(), components: users });
                }
            }
            secret.values.extend(set);
            if secret.values.is_empty() {
                return Err(Error::SecretWouldBeEmpty { name: name.to_string() });
            }
            secret.updated = model::now();
            sqlite::put_secret(connection, &secret).map_err(&sqlite)?;
            Ok(secret)
        })?;
        // Old values sit in freed pages and in the write-ahead log until reclaimed.
        self.store.reclaim();
        Ok(updated)
    }

    /// Deletes a secret (a damaged one too); refused while a component references it.
    pub fn delete_secret(&mut self, name: &str) -> Result<(), Error> {
        let sqlite = sqlite_in(self.store.path());
        self.store.write(|connection| {
            let secret =
                sqlite::find_secret(connection, name).map_err(&sqlite)?.ok_or_else(|| secret_not_found(name))?;
            let users = secret_users(connection, &secret.name, None).map_err(&sqlite)?;
            if !users.is_empty() {
                return Err(Error::SecretInUse { secret: secret.name, components: users });
            }
            sqlite::delete_secret(connection, &secret.id).map_err(&sqlite)
        })?;
        // `secure_delete` zeroed the row; this drops the log's copies and gives space back.
        self.store.reclaim();
        Ok(())
    }
}

/// The components (as ``container registry `name` ``) that use secret `secret`, or only its key
/// `key`. A damaged component uses nothing: its config cannot be read, and it cannot be used.
fn secret_users(connection: &rusqlite::Connection, secret: &str, key: Option<&str>) -> rusqlite::Result<Vec<String>> {
    let mut users = Vec::new();
    for component_type in ComponentType::ALL {
        for component in sqlite::list_components(connection, *component_type, None)? {
            if Client::secret_keys_used(&component).iter().any(|(s, k)| s == secret && key.is_none_or(|key| key == k)) {
                users.push(format!("{} `{}`", component_type.human_name(), component.name));
            }
        }
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

/// A lookup that can fail in SQLite or find nothing.
enum LookupError {
    Sqlite(rusqlite::Error),
    Other(Error),
}

impl LookupError {
    fn into_error(self, sqlite: impl Fn(rusqlite::Error) -> Error) -> Error {
        match self {
            LookupError::Sqlite(e) => sqlite(e),
            LookupError::Other(e) => e,
        }
    }
}

fn find_component(
    connection: &rusqlite::Connection,
    component_type: ComponentType,
    key: &str,
) -> Result<Component, LookupError> {
    let kind = Kind::Component(component_type);
    match sqlite::find_component(connection, component_type, key).map_err(LookupError::Sqlite)? {
        Lookup::Found(component) => Ok(*component),
        Lookup::Missing => Err(LookupError::Other(Error::NotFound { kind, name: key.to_string() })),
        Lookup::Ambiguous(matches) => Err(LookupError::Other(Error::Ambiguous {
            kind,
            prefix: key.to_string(),
            matches: matches.into_iter().map(|c| (c.name, c.id)).collect(),
        })),
    }
}

fn ensure_name_free(
    connection: &rusqlite::Connection,
    component_type: ComponentType,
    name: &str,
) -> Result<(), LookupError> {
    match sqlite::find_component_by_name(connection, component_type, name).map_err(LookupError::Sqlite)? {
        Some(_) => Err(LookupError::Other(Error::AlreadyExists {
            kind: Kind::Component(component_type),
            name: name.to_string(),
        })),
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

fn validate_secret_values(values: &BTreeMap<String, String>) -> Result<(), Error> {
    for (key, value) in values {
        if !is_identifier(key) {
            return Err(Error::InvalidSecretKey { key: key.clone() });
        }
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
