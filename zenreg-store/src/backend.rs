//! The seam between the [`Client`](crate::Client) and a storage engine: the rows a store keeps
//! (components and secrets) and the transactions they are read and written in.
//!
//! Every engine (the embedded SQLite file, a PostgreSQL server) implements [`Backend`]; the
//! client writes each command once, as a closure over a [`Tx`], and runs it in
//! [`Backend::write`] (all of a command's writes commit together or not at all) or
//! [`Backend::read`].
//!
//! The closures are generic over nothing: `Tx<E>` is a trait object whose error type `E` is the
//! caller's (the client's `Error`), so one closure runs on either engine. Each engine converts
//! its own errors into `E` through `From`, and secret-encryption errors through
//! `From<CryptoError>`.
//!
//! What an engine promises inside [`Backend::write`]:
//! - rows read through the `Tx` stay as read until the transaction ends (SQLite: the write lock
//!   is taken up front; PostgreSQL: reads lock their rows with `SELECT … FOR UPDATE`), so a
//!   read-modify-write never overwrites a concurrent change;
//! - names are unique per component type (and per store for secrets) by a constraint, and a
//!   clash is reported as [`Written::NameTaken`], not as an engine error;
//! - secret values are sealed on the way in and opened on the way out (see
//!   [`crypto`](crate::crypto)); key names stay readable through [`Tx::secret_summaries`].

use crate::crypto::CryptoError;
use crate::model::{Component, Secret};
use zenreg_core::ComponentType;

/// The outcome of a write that can clash with another row's unique name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Written {
    /// The row was written.
    Done,
    /// Another row of the same kind already has that name; nothing was written.
    NameTaken,
    /// No row has that id (an update of a row deleted meanwhile); nothing was written.
    Missing,
}

/// A secret without its values: what listings show, readable without the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSummary {
    /// UUID.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// The names of its values, sorted.
    pub keys: Vec<String>,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// Last update time, RFC 3339 UTC.
    pub updated: String,
    /// Why the stored row could not be read in full, when it is damaged (`keys` is then empty).
    pub damaged: Option<String>,
}

/// What `store info` shows about a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// `sqlite` or `postgresql`.
    pub backend: &'static str,
    /// The file path, or the URL without its password.
    pub location: String,
    /// Schema version of the store.
    pub schema_version: i64,
    /// Newest schema version this build knows.
    pub supported_schema_version: i64,
    /// Number of components, of every type.
    pub components: u64,
    /// Number of secrets.
    pub secrets: u64,
    /// Fingerprint of the secrets key in use, if one is configured.
    pub key_fingerprint: Option<String>,
    /// Why the configured key cannot be loaded (a key file missing, too open, not a key), in
    /// words without the key; `None` when it loads or none is configured.
    pub key_error: Option<String>,
}

/// The row operations of one transaction. `E` is the caller's error type.
pub trait Tx<E> {
    /// Every component of a type, sorted by name (bytewise), optionally of one flavor.
    fn list_components(&mut self, component_type: ComponentType, flavor: Option<&str>) -> Result<Vec<Component>, E> {
        let mut components = Vec::new();
        self.for_each_component(component_type, flavor, &mut |component| components.push(component))?;
        Ok(components)
    }

    /// Calls `f` with every component of a type, sorted by name, one at a time, so that a
    /// listing of thousands is never held at once.
    fn for_each_component(
        &mut self,
        component_type: ComponentType,
        flavor: Option<&str>,
        f: &mut dyn FnMut(Component),
    ) -> Result<(), E>;

    /// The component of a type with exactly this name.
    fn component_by_name(&mut self, component_type: ComponentType, name: &str) -> Result<Option<Component>, E>;

    /// Up to `limit` components of a type whose id starts with `prefix` (lowercase hex and `-`),
    /// sorted by id: the caller decides what an ambiguous prefix means.
    fn components_by_id_prefix(
        &mut self,
        component_type: ComponentType,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<Component>, E>;

    /// The component whose name, id, or unique id prefix (8+ characters) is `key`: the
    /// embedded store's rule before phase 2, kept here so both engines agree on it.
    fn find_component(&mut self, component_type: ComponentType, key: &str) -> Result<Option<Component>, E> {
        let by_name = self.component_by_name(component_type, key)?;
        if by_name.is_some() || key.len() < 8 || !key.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
            return Ok(by_name);
        }
        let matches = self.components_by_id_prefix(component_type, &key.to_ascii_lowercase(), 2)?;
        Ok(if matches.len() == 1 { matches.into_iter().next() } else { None })
    }

    /// Inserts a new component.
    fn insert_component(&mut self, component: &Component) -> Result<Written, E>;

    /// Writes a component's name, config, labels and update time, by id.
    fn update_component(&mut self, component: &Component) -> Result<Written, E>;

    /// Deletes a component by id; whether it was there.
    fn delete_component(&mut self, id: &str) -> Result<bool, E>;

    /// Every secret, sorted by name, with its values opened (needs the key if any is sealed).
    fn list_secrets(&mut self) -> Result<Vec<Secret>, E>;

    /// Every secret's name and key names, sorted by name, without opening any value.
    fn secret_summaries(&mut self) -> Result<Vec<SecretSummary>, E>;

    /// The secret called `name`, with its values opened.
    fn find_secret(&mut self, name: &str) -> Result<Option<Secret>, E>;

    /// Inserts a secret or replaces it by id; its values are sealed on the way in.
    fn put_secret(&mut self, secret: &Secret) -> Result<Written, E>;

    /// Deletes a secret by id; whether it was there.
    fn delete_secret(&mut self, id: &str) -> Result<bool, E>;

    /// Serialises the rest of this transaction against every other transaction that calls
    /// this, for commands whose invariant spans rows no single row lock covers (deleting a
    /// secret while another process registers a component referencing it).
    fn exclusive(&mut self) -> Result<(), E>;
}

/// A storage engine.
pub trait Backend {
    /// The engine's own error, converted into the caller's.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Runs `f` in a write transaction and commits when it returns `Ok`; on `Err`, a panic, or a
    /// lost connection nothing of it is kept.
    fn write<T, E>(&mut self, f: impl FnOnce(&mut dyn Tx<E>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<Self::Error> + From<CryptoError>;

    /// Runs `f` on one consistent snapshot, writing nothing.
    fn read<T, E>(&mut self, f: impl FnOnce(&mut dyn Tx<E>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<Self::Error> + From<CryptoError>;

    /// Re-seals every secret value under `new` in one transaction (values under the current
    /// key, already under `new`, or legacy plaintext); on any failure nothing changes and the
    /// current key still opens everything. Returns how many secrets were rewritten.
    fn rekey(&mut self, new: &crate::crypto::SecretsKey) -> Result<u64, Self::Error>;

    /// Backend, location (never a password), schema version and row counts.
    fn info(&mut self) -> Result<BackendInfo, Self::Error>;
}
