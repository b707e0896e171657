//! The embedded store: one SQLite file holding components and secrets.
//!
//! Opening never writes to a file that is not already a zenreg store: the header is checked
//! read-only first, so a foreign or corrupt file is reported and left byte-for-byte untouched.
//! The schema is versioned (`PRAGMA user_version`) and migrated in an immediate transaction, so
//! concurrent first opens are safe. WAL plus a busy timeout lets many processes write at once
//! without losing a write; a process killed mid-write leaves the old or the new row, never half.

use crate::model::{Component, Secret};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zenreg_core::ComponentType;

/// `PRAGMA application_id` of a zenreg store: "zenr".
const APPLICATION_ID: i64 = 0x7a65_6e72;
/// Schema versions, applied in order; the index plus one is the version.
const MIGRATIONS: &[&str] = &["CREATE TABLE components (
        id             TEXT PRIMARY KEY NOT NULL,
        name           TEXT NOT NULL,
        component_type TEXT NOT NULL,
        flavor         TEXT NOT NULL,
        config         TEXT NOT NULL,
        labels         TEXT NOT NULL,
        created        TEXT NOT NULL,
        updated        TEXT NOT NULL,
        UNIQUE (component_type, name)
    ) STRICT;
    CREATE INDEX components_by_flavor ON components (component_type, flavor, name);
    CREATE TABLE secrets (
        id      TEXT PRIMARY KEY NOT NULL,
        name    TEXT NOT NULL UNIQUE,
        entries TEXT NOT NULL,
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    ) STRICT;"];
/// How long a writer waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the store could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The file exists but is not a zenreg store (another database, or not SQLite, or corrupt).
    #[error("`{path}` is not a zenreg store: {reason}")]
    NotAStore {
        /// The file.
        path: PathBuf,
        /// What SQLite or the header check said.
        reason: String,
    },
    /// The store was written by a newer zenreg.
    #[error("`{path}` has store schema version {found}; this zenreg knows up to {supported}")]
    TooNew {
        /// The file.
        path: PathBuf,
        /// Schema version in the file.
        found: i64,
        /// Newest schema this build knows.
        supported: i64,
    },
    /// Creating the store's directory or file failed.
    #[error("cannot create store `{path}`: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// SQLite failed on an open store.
    #[error("store `{path}`: {source}")]
    Sqlite {
        /// The file.
        path: PathBuf,
        /// The SQLite error.
        source: SqliteError,
    },
}

/// An error of the SQLite engine. Opaque, so that SQLite's own types stay out of the store's API.
#[derive(Debug)]
pub struct SqliteError(rusqlite::Error);

impl fmt::Display for SqliteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for SqliteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl SqliteError {
    /// Whether the file's pages are damaged (or it is not a database at all).
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self.0.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        )
    }

    /// Whether another process held the store's lock for longer than the busy timeout.
    pub fn is_busy(&self) -> bool {
        is_busy(&self.0)
    }
}

impl StoreError {
    /// Whether the store file is damaged (and was left untouched).
    pub fn is_corrupt(&self) -> bool {
        matches!(self, StoreError::Sqlite { source, .. } if source.is_corrupt())
    }

    pub(crate) fn sqlite(path: &Path, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite { path: path.to_path_buf(), source: SqliteError(source) }
    }
}

/// The store file and its connection.
pub struct Store {
    connection: Connection,
    path: PathBuf,
    /// Whether this connection has checked the file's pages before its first write.
    checked: bool,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

/// The store path when none is given: `$ZENREG_STORE`, else `$ZENREG_HOME/zenreg.db`, else
/// `zenreg/zenreg.db` in the platform's config directory.
pub fn default_path() -> PathBuf {
    if let Some(path) = std::env::var_os("ZENREG_STORE").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    if let Some(home) = std::env::var_os("ZENREG_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(home).join("zenreg.db");
    }
    dirs::config_dir().unwrap_or_else(|| PathBuf::from(".")).join("zenreg").join("zenreg.db")
}

impl Store {
    /// Opens (creating if missing) the store at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        create_private_file(&path)?;
        check_header(&path)?;
        let leftover_wal = std::fs::metadata(wal_path(&path)).is_ok_and(|m| m.len() > 0);
        let sqlite = |source| StoreError::sqlite(&path, source);
        let connection = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(sqlite)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
        // Checks each b-tree page as it is read, so a damaged page is an error rather than rows
        // silently missing from a listing.
        connection.pragma_update(None, "cell_size_check", true).map_err(sqlite)?;
        if let Err(error) = check_identity(&connection, &path) {
            if leftover_wal {
                // Closing the last connection would checkpoint that WAL into the file and delete it.
                let _ = connection.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true);
            }
            return Err(error);
        }
        let mut store = Store { connection, path, checked: false };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens the store at [`default_path`].
    pub fn open_default() -> Result<Store, StoreError> {
        Store::open(default_path())
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::sqlite(&self.path, source)
    }

    fn configure(&mut self) -> Result<(), StoreError> {
        let mode: String =
            self.connection.query_row("PRAGMA journal_mode", [], |row| row.get(0)).map_err(|e| self.sqlite(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Switching to WAL needs a moment of exclusive access; another process creating the
            // same store at the same time may hold it, and this pragma does not wait by itself.
            let mut attempts = 0;
            loop {
                match self.connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get::<_, String>(0)) {
                    Ok(_) => break,
                    Err(error) if attempts < 200 && is_busy(&error) => {
                        attempts += 1;
                        std::thread::sleep(Duration::from_millis(25));
                    }
                    Err(error) => return Err(self.sqlite(error)),
                }
            }
        }
        // NORMAL is durable across process crashes in WAL mode (a SIGKILL loses nothing committed).
        self.connection
            .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(|e| self.sqlite(e))
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let supported = MIGRATIONS.len() as i64;
        let version: i64 =
            self.connection.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| self.sqlite(e))?;
        if version == supported {
            return Ok(());
        }
        let path = self.path.clone();
        let sqlite = |source| StoreError::sqlite(&path, source);
        let tx = self.connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
        // Another process may have migrated while this one waited for the lock.
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(sqlite)?;
        if version > supported {
            return Err(StoreError::TooNew { path: path.clone(), found: version, supported });
        }
        tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID};")).map_err(sqlite)?;
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
            tx.execute_batch(migration).map_err(sqlite)?;
            tx.execute_batch(&format!("PRAGMA user_version = {};", index + 1)).map_err(sqlite)?;
        }
        tx.commit().map_err(sqlite)
    }

    /// Runs `f` in an immediate (write-locked) transaction and commits when it succeeds, so a
    /// read-modify-write is never interleaved with another process's write.
    pub(crate) fn write<T, E>(&mut self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let path = self.path.clone();
        let sqlite = |source| StoreError::sqlite(&path, source);
        let tx = self.connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
        // A write may touch only healthy pages of a damaged file and succeed; a damaged store
        // is left as it is instead. Checked before a connection's first write only (a few
        // milliseconds for 10,000 components), so a program writing many rows pays it once.
        if !self.checked {
            let check: String = tx.query_row("PRAGMA quick_check(1)", [], |row| row.get(0)).map_err(sqlite)?;
            if check != "ok" {
                let corrupt = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT);
                let message = "database disk image is malformed".to_string();
                return Err(sqlite(rusqlite::Error::SqliteFailure(corrupt, Some(message))).into());
            }
            self.checked = true;
        }
        let value = f(&tx)?;
        tx.commit().map_err(sqlite)?;
        Ok(value)
    }

    /// The connection, for reads.
    pub(crate) fn connection(&self) -> &Connection {
        &self.connection
    }

    /// Wraps a SQLite error with the store's path.
    pub(crate) fn error(&self, source: rusqlite::Error) -> StoreError {
        self.sqlite(source)
    }

    /// SQLite's `integrity_check`: `ok`, or the problems it found.
    pub fn integrity_check(&self) -> Result<String, StoreError> {
        let mut statement = self.connection.prepare("PRAGMA integrity_check").map_err(|e| self.sqlite(e))?;
        let rows = statement.query_map([], |row| row.get::<_, String>(0)).map_err(|e| self.sqlite(e))?;
        let lines: Result<Vec<String>, _> = rows.collect();
        Ok(lines.map_err(|e| self.sqlite(e))?.join("\n"))
    }
}

/// The write-ahead log beside a database file.
fn wal_path(path: &Path) -> PathBuf {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    PathBuf::from(wal)
}

fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(error.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
}

/// Creates the store's directory (0700) and an empty file (0600) if they do not exist, so that
/// SQLite never creates the file with the process umask.
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let create = |source| StoreError::Create { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(parent).map_err(create)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(create(error)),
    }
}

/// Checks the first bytes of an existing non-empty file: SQLite opens anything lazily, and
/// reading the header ourselves gives a clear error before SQLite touches the file.
fn check_header(path: &Path) -> Result<(), StoreError> {
    let not_a_store = |reason: String| StoreError::NotAStore { path: path.to_path_buf(), reason };
    let length = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if length == 0 {
        return Ok(());
    }
    let mut header = [0u8; 100];
    let read = std::fs::File::open(path)
        .and_then(|mut file| std::io::Read::read(&mut file, &mut header))
        .map_err(|e| not_a_store(e.to_string()))?;
    if read < 100 || &header[..16] != b"SQLite format 3\0" {
        return Err(not_a_store("it is not an SQLite database".into()));
    }
    Ok(())
}

/// Checks with reads only that the database is a zenreg store or an empty database, so nothing
/// is ever written into another application's file. (The id is read through SQLite, not from
/// the header bytes, because a fresh store's first page may still sit in the WAL.)
fn check_identity(connection: &Connection, path: &Path) -> Result<(), StoreError> {
    // A store locked by another process past the busy timeout is busy, not foreign.
    let not_a_store = |error: rusqlite::Error| {
        if is_busy(&error) {
            StoreError::sqlite(path, error)
        } else {
            StoreError::NotAStore { path: path.to_path_buf(), reason: error.to_string() }
        }
    };
    // One statement, so both come from one snapshot: another process may be creating this
    // store right now, and must not be seen with its tables but without its id.
    let (application_id, objects): (i64, i64) = connection
        .query_row(
            "SELECT (SELECT application_id FROM pragma_application_id), (SELECT count(*) FROM sqlite_schema)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .map_err(not_a_store)?;
    if application_id == APPLICATION_ID {
        return Ok(());
    }
    if application_id != 0 {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            reason: format!("it is another application's SQLite database (application id {application_id:#x})"),
        });
    }
    if objects > 0 {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            reason: format!("it is another application's SQLite database ({objects} schema objects)"),
        });
    }
    Ok(())
}

// ---- rows ----------------------------------------------------------------------------------

const COMPONENT_COLUMNS: &str = "id, name, component_type, flavor, config, labels, created, updated";

/// A JSON text column, decoded.
fn json_column<T: serde::de::DeserializeOwned>(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<T> {
    let invalid = |e: Box<dyn std::error::Error + Send + Sync>| {
        rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, e)
    };
    // Parsed in place: listings decode two of these per row.
    let text = row.get_ref(index)?.as_str().map_err(|e| invalid(Box::new(e)))?;
    serde_json::from_str(text).map_err(|e| invalid(Box::new(e)))
}

fn component_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Component> {
    let component_type: String = row.get(2)?;
    Ok(Component {
        id: row.get(0)?,
        name: row.get(1)?,
        component_type: component_type
            .parse()
            .map_err(|e: String| rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, e.into()))?,
        flavor: row.get(3)?,
        config: json_column(row, 4)?,
        labels: json_column(row, 5)?,
        created: row.get(6)?,
        updated: row.get(7)?,
    })
}

/// Every component of a type, sorted by name, optionally of one flavor.
pub(crate) fn list_components(
    connection: &Connection,
    component_type: ComponentType,
    flavor: Option<&str>,
) -> rusqlite::Result<Vec<Component>> {
    let mut components = Vec::new();
    for_each_component(connection, component_type, flavor, |component| components.push(component))?;
    Ok(components)
}

/// Calls `f` with every component of a type, sorted by name, optionally of one flavor, one at a
/// time: a listing of many components need not hold them all at once.
pub(crate) fn for_each_component(
    connection: &Connection,
    component_type: ComponentType,
    flavor: Option<&str>,
    mut f: impl FnMut(Component),
) -> rusqlite::Result<()> {
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {COMPONENT_COLUMNS} FROM components
         WHERE component_type = ?1 AND (?2 IS NULL OR flavor = ?2) ORDER BY name"
    ))?;
    let mut rows = statement.query(params![component_type.as_str(), flavor])?;
    while let Some(row) = rows.next()? {
        f(component_from_row(row)?);
    }
    Ok(())
}

/// The component whose name, id, or unique id prefix (8+ characters) is `key`.
pub(crate) fn find_component(
    connection: &Connection,
    component_type: ComponentType,
    key: &str,
) -> rusqlite::Result<Option<Component>> {
    let by_name = connection
        .prepare_cached(&format!("SELECT {COMPONENT_COLUMNS} FROM components WHERE component_type = ?1 AND name = ?2"))?
        .query_row(params![component_type.as_str(), key], component_from_row)
        .optional()?;
    if by_name.is_some() || key.len() < 8 || !key.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-') {
        return Ok(by_name);
    }
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {COMPONENT_COLUMNS} FROM components WHERE component_type = ?1 AND substr(id, 1, length(?2)) = lower(?2) LIMIT 2"
    ))?;
    let matches: Vec<Component> =
        statement.query_map(params![component_type.as_str(), key], component_from_row)?.collect::<Result<_, _>>()?;
    Ok(if matches.len() == 1 { matches.into_iter().next() } else { None })
}

/// Inserts a new component; fails on a duplicate name (the caller checks first for a clear error).
pub(crate) fn insert_component(connection: &Connection, component: &Component) -> rusqlite::Result<()> {
    connection
        .prepare_cached(&format!(
            "INSERT INTO components ({COMPONENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        ))?
        .execute(params![
            component.id,
            component.name,
            component.component_type.as_str(),
            component.flavor,
            serde_json::Value::Object(component.config.clone()).to_string(),
            serde_json::to_string(&component.labels).unwrap_or_else(|_| "{}".into()),
            component.created,
            component.updated,
        ])?;
    Ok(())
}

/// Writes a component's name, config, labels and update time, by id.
pub(crate) fn update_component(connection: &Connection, component: &Component) -> rusqlite::Result<()> {
    connection
        .prepare_cached("UPDATE components SET name = ?2, config = ?3, labels = ?4, updated = ?5 WHERE id = ?1")?
        .execute(params![
            component.id,
            component.name,
            serde_json::Value::Object(component.config.clone()).to_string(),
            serde_json::to_string(&component.labels).unwrap_or_else(|_| "{}".into()),
            component.updated,
        ])?;
    Ok(())
}

/// Deletes a component by id.
pub(crate) fn delete_component(connection: &Connection, id: &str) -> rusqlite::Result<()> {
    connection.prepare_cached("DELETE FROM components WHERE id = ?1")?.execute(params![id])?;
    Ok(())
}

fn secret_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Secret> {
    Ok(Secret {
        id: row.get(0)?,
        name: row.get(1)?,
        values: json_column(row, 2)?,
        created: row.get(3)?,
        updated: row.get(4)?,
    })
}

/// Every secret, sorted by name.
pub(crate) fn list_secrets(connection: &Connection) -> rusqlite::Result<Vec<Secret>> {
    let mut statement =
        connection.prepare_cached("SELECT id, name, entries, created, updated FROM secrets ORDER BY name")?;
    let rows = statement.query_map([], secret_from_row)?;
    rows.collect()
}

/// The secret called `name`.
pub(crate) fn find_secret(connection: &Connection, name: &str) -> rusqlite::Result<Option<Secret>> {
    connection
        .prepare_cached("SELECT id, name, entries, created, updated FROM secrets WHERE name = ?1")?
        .query_row(params![name], secret_from_row)
        .optional()
}

/// Inserts or replaces a secret, by id.
pub(crate) fn put_secret(connection: &Connection, secret: &Secret) -> rusqlite::Result<()> {
    connection
        .prepare_cached(
            "INSERT INTO secrets (id, name, entries, created, updated) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, entries = excluded.entries, updated = excluded.updated",
        )?
        .execute(params![
            secret.id,
            secret.name,
            serde_json::to_string(&secret.values).unwrap_or_else(|_| "{}".into()),
            secret.created,
            secret.updated,
        ])?;
    Ok(())
}

/// Deletes a secret by id.
pub(crate) fn delete_secret(connection: &Connection, id: &str) -> rusqlite::Result<()> {
    connection.prepare_cached("DELETE FROM secrets WHERE id = ?1")?.execute(params![id])?;
    Ok(())
}
