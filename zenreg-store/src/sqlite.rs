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
/// Free space (bytes) in the store file above which a delete compacts it.
pub const RECLAIM_THRESHOLD: i64 = 256 * 1024;
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
    /// The path cannot hold a store: empty, an SQLite special name (`:memory:`, `file:` URIs,
    /// which would keep nothing or open another file), or not a regular file.
    #[error("cannot use `{path}` as the store: {reason}")]
    InvalidPath {
        /// The path as given.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The store file or its directory cannot be read or written by this user.
    #[error("cannot open store `{path}` for reading and writing: {source}")]
    Permission {
        /// The file.
        path: PathBuf,
        /// The I/O error (permission denied, read-only file system).
        source: std::io::Error,
    },
    /// Creating the store's directory or file failed.
    #[error("cannot create store `{path}`: {source}")]
    Create {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file system holding the store has no room left (SQLite's own "database or disk is
    /// full", or an I/O error while a probe write beside the store finds no space): nothing of
    /// the command was written, and everything stored before is intact.
    #[error("the file system holding store `{path}` is full; nothing was written")]
    Full {
        /// The file.
        path: PathBuf,
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
        if is_out_of_space(path, &source) {
            return StoreError::Full { path: path.to_path_buf() };
        }
        StoreError::Sqlite { path: path.to_path_buf(), source: SqliteError(source) }
    }
}

/// Whether `error` means that the store's file system is full. SQLite says so itself when a write
/// of the database or its WAL finds no room (`SQLITE_FULL`), but it reports a failure to size the
/// shared-memory file beside a WAL store (which every connection, reading ones too, needs) as a
/// plain I/O error; for I/O errors, a small write beside the store (removed at once) tells.
fn is_out_of_space(path: &Path, error: &rusqlite::Error) -> bool {
    match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => true,
        Some(rusqlite::ErrorCode::SystemIoFailure) => {
            let Some(dir) = path.parent() else { return false };
            let probe = dir.join(format!(".zenreg-space-probe-{}", std::process::id()));
            let written = std::fs::File::create_new(&probe).and_then(|mut file| {
                use std::io::Write;
                file.write_all(&[0; 64 * 1024])?;
                file.sync_all()
            });
            let _ = std::fs::remove_file(&probe);
            matches!(written, Err(e) if matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded))
        }
        _ => false,
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
        check_path(&path)?;
        create_private_file(&path)?;
        check_access(&path)?;
        check_header(&path)?;
        let leftover_wal = std::fs::metadata(wal_path(&path)).is_ok_and(|m| m.len() > 0);
        let sqlite = |source| StoreError::sqlite(&path, source);
        let connection = Connection::open_with_flags(
            &path,
            // No `SQLITE_OPEN_URI`: the path is a file name, never `file:…?mode=memory`.
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
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
        // `secure_delete` zeroes deleted rows, so a deleted secret cannot be read from the file.
        self.connection
            .execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;")
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

    /// Gives the space of deleted rows back to the file system when it exceeds
    /// [`RECLAIM_THRESHOLD`], and empties the write-ahead log, so that neither the store nor its
    /// log keeps old copies of deleted secrets. Best effort: another process reading the store
    /// may keep the log busy; the next delete tries again.
    pub(crate) fn reclaim(&mut self) {
        let free: rusqlite::Result<i64> = self.connection.query_row(
            "SELECT (SELECT freelist_count FROM pragma_freelist_count) * (SELECT page_size FROM pragma_page_size)",
            [],
            |row| row.get(0),
        );
        if free.is_ok_and(|bytes| bytes > RECLAIM_THRESHOLD) {
            let _ = self.connection.execute_batch("VACUUM");
        }
        let _ = self.connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
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

/// Refuses paths SQLite would read as something else than a file, and existing paths that are
/// not regular files (a character device would get a `-journal` beside it; a FIFO would block).
fn check_path(path: &Path) -> Result<(), StoreError> {
    let invalid = |reason: &str| Err(StoreError::InvalidPath { path: path.to_path_buf(), reason: reason.to_string() });
    let text = path.to_string_lossy();
    if text.is_empty() {
        return invalid("the path is empty");
    }
    if text == ":memory:" || text.starts_with("file:") {
        return invalid("SQLite names such as `:memory:` and `file:` URIs are not accepted; give a file path");
    }
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_file() => Ok(()),
        Ok(metadata) => invalid(&format!("it is {}, not a regular file", file_kind(&metadata))),
        Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => {
            Err(StoreError::Permission { path: path.to_path_buf(), source: error })
        }
        // Missing: created next; other errors are reported by the creation.
        Err(_) => Ok(()),
    }
}

/// What a non-regular file is, for messages.
pub(crate) fn file_kind(metadata: &std::fs::Metadata) -> &'static str {
    let file_type = metadata.file_type();
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() { "a directory" } else { "not a regular file" }
}

/// Checks that this user can read and write the store file, and create the write-ahead log
/// beside it, so that a read-only or foreign-owned store is reported as such (not as "not a
/// zenreg store" or a disk I/O error).
fn check_access(path: &Path) -> Result<(), StoreError> {
    let denied = |source| StoreError::Permission { path: path.to_path_buf(), source };
    std::fs::OpenOptions::new().read(true).write(true).open(path).map_err(denied)?;
    let directory = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let metadata = std::fs::metadata(directory).map_err(denied)?;
    if metadata.permissions().readonly() {
        return Err(denied(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!("directory `{}` is read-only (the store keeps a write-ahead log beside it)", directory.display()),
        )));
    }
    Ok(())
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
        // Locked, unreadable or read-only is not foreign: only content SQLite refuses is.
        let environmental = matches!(
            error.sqlite_error_code(),
            Some(
                rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::PermissionDenied
                    | rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::DiskFull
            )
        );
        if is_busy(&error) || environmental {
            StoreError::sqlite(path, error)
        } else {
            StoreError::NotAStore { path: path.to_path_buf(), reason: error.to_string() }
        }
    };
    // One statement, so both come from one snapshot: another process may be creating this
    // store right now, and must not be seen with its tables but without its id.
    let (application_id, objects, version): (i64, i64, i64) = connection
        .query_row(
            "SELECT (SELECT application_id FROM pragma_application_id), (SELECT count(*) FROM sqlite_schema),
                    (SELECT user_version FROM pragma_user_version)",
            [],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .map_err(not_a_store)?;
    // A store from a newer zenreg is refused before anything is written (switching a store in
    // rollback mode to WAL would change its header): found by the `store_open` fuzz target.
    let supported = MIGRATIONS.len() as i64;
    if application_id == APPLICATION_ID && version > supported {
        return Err(StoreError::TooNew { path: path.to_path_buf(), found: version, supported });
    }
    // Version 0 with tables cannot come from zenreg (the first migration creates them and sets
    // the version in one transaction): migrating it would fail after the store had been
    // switched to WAL, changing a file it then refuses (found by the `store_open` fuzz target).
    if application_id == APPLICATION_ID && version == 0 && objects > 0 {
        return Err(StoreError::NotAStore {
            path: path.to_path_buf(),
            reason: format!("it is damaged: schema version 0 with {objects} schema objects"),
        });
    }
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

/// What could not be read of one row, column by column (`config: expected value …`).
#[derive(Default)]
struct Damage(Vec<String>);

impl Damage {
    fn note(&mut self, column: &str, problem: impl fmt::Display) {
        self.0.push(format!("{column}: {problem}"));
    }

    fn into_reason(self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join("; "))
    }
}

/// A text column; a hand-edited row may hold bytes that are not UTF-8, shown with `\u{fffd}`.
fn text_column(row: &rusqlite::Row<'_>, index: usize, column: &str, damage: &mut Damage) -> rusqlite::Result<String> {
    let value = row.get_ref(index)?;
    let bytes = match value {
        rusqlite::types::ValueRef::Text(bytes) | rusqlite::types::ValueRef::Blob(bytes) => bytes,
        other => {
            damage.note(column, format_args!("holds a value of type {} instead of text", other.data_type()));
            return Ok(String::new());
        }
    };
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.to_string()),
        Err(error) => {
            damage.note(column, error);
            Ok(String::from_utf8_lossy(bytes).into_owned())
        }
    }
}

/// A JSON text column, decoded; a damaged one is noted and read as the type's default, so the
/// rest of the row (its name and id) can still be shown and the row deleted.
fn json_column<T: serde::de::DeserializeOwned + Default>(
    row: &rusqlite::Row<'_>,
    index: usize,
    column: &str,
    damage: &mut Damage,
) -> rusqlite::Result<T> {
    // Parsed in place: listings decode two of these per row.
    let decoded = match row.get_ref(index)? {
        rusqlite::types::ValueRef::Text(bytes) => serde_json::from_slice(bytes).map_err(|e| e.to_string()),
        other => Err(format!("holds a value of type {} instead of JSON text", other.data_type())),
    };
    Ok(decoded.unwrap_or_else(|problem| {
        damage.note(column, problem);
        T::default()
    }))
}

fn component_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Component> {
    let mut damage = Damage::default();
    let component_type = text_column(row, 2, "component_type", &mut damage)?;
    let component_type = component_type.parse().unwrap_or_else(|problem: String| {
        damage.note("component_type", problem);
        ComponentType::ContainerRegistry
    });
    Ok(Component {
        id: text_column(row, 0, "id", &mut damage)?,
        name: text_column(row, 1, "name", &mut damage)?,
        component_type,
        flavor: text_column(row, 3, "flavor", &mut damage)?,
        config: json_column(row, 4, "config", &mut damage)?,
        labels: json_column(row, 5, "labels", &mut damage)?,
        created: text_column(row, 6, "created", &mut damage)?,
        updated: text_column(row, 7, "updated", &mut damage)?,
        damaged: damage.into_reason(),
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

/// What looking a component up by name or id found.
pub(crate) enum Lookup {
    /// One component (boxed: the other variants are small).
    Found(Box<Component>),
    /// None.
    Missing,
    /// Several components whose ids start with the prefix given (at most a few).
    Ambiguous(Vec<Component>),
}

/// Whether `key` is an id or an id prefix as lookups read one: 8 or more hexadecimal digits and
/// `-`. Names of this form are refused, so a name can never shadow an id.
pub fn looks_like_id(key: &str) -> bool {
    key.len() >= 8 && key.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The component called `name` (names only).
pub(crate) fn find_component_by_name(
    connection: &Connection,
    component_type: ComponentType,
    name: &str,
) -> rusqlite::Result<Option<Component>> {
    connection
        .prepare_cached(&format!("SELECT {COMPONENT_COLUMNS} FROM components WHERE component_type = ?1 AND name = ?2"))?
        .query_row(params![component_type.as_str(), name], component_from_row)
        .optional()
}

/// The component whose name, id, or unique id prefix (8+ characters) is `key`. A name wins:
/// stores written before id-like names were refused may hold one.
pub(crate) fn find_component(
    connection: &Connection,
    component_type: ComponentType,
    key: &str,
) -> rusqlite::Result<Lookup> {
    if let Some(component) = find_component_by_name(connection, component_type, key)? {
        return Ok(Lookup::Found(Box::new(component)));
    }
    if !looks_like_id(key) {
        return Ok(Lookup::Missing);
    }
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {COMPONENT_COLUMNS} FROM components WHERE component_type = ?1 AND substr(id, 1, length(?2)) = lower(?2)
         ORDER BY name LIMIT 5"
    ))?;
    let mut matches: Vec<Component> =
        statement.query_map(params![component_type.as_str(), key], component_from_row)?.collect::<Result<_, _>>()?;
    Ok(match matches.len() {
        0 => Lookup::Missing,
        1 => matches.pop().map_or(Lookup::Missing, |c| Lookup::Found(Box::new(c))),
        _ => Lookup::Ambiguous(matches),
    })
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
    let mut damage = Damage::default();
    Ok(Secret {
        id: text_column(row, 0, "id", &mut damage)?,
        name: text_column(row, 1, "name", &mut damage)?,
        values: json_column(row, 2, "entries", &mut damage)?,
        created: text_column(row, 3, "created", &mut damage)?,
        updated: text_column(row, 4, "updated", &mut damage)?,
        damaged: damage.into_reason(),
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
