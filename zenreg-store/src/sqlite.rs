//! The embedded store: one SQLite file holding components and secrets.
//!
//! Opening never writes to a file that is not already a zenreg store: the header is checked
//! read-only first, so a foreign or corrupt file is reported and left byte-for-byte untouched.
//! The schema is versioned (`PRAGMA user_version`) and migrated in an immediate transaction, so
//! concurrent first opens are safe. WAL plus a busy timeout lets many processes write at once
//! without losing a write; a process killed mid-write leaves the old or the new row, never half.
//!
//! Secret values are sealed ([`crate::crypto`]) with the key from `ZENREG_SECRETS_KEY`, else the
//! key file `<store>.key` beside the file, created 0600 on the first secret write. Plaintext
//! values of an older store are read as they are and sealed by the first write that has a key.

use crate::backend::{Backend, BackendInfo, SecretSummary, Tx, Written};
use crate::crypto::{self, CryptoError, KEY_VARIABLE, KeySource, SecretsKey, file_kind, key_file_beside};
use crate::model::{Component, Damage, Secret};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zenreg_core::{ComponentType, ExposeSecret, SecretString};

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
    /// An explicitly given store's folder does not exist: only the default location's folders
    /// are created, so that a mistyped `--store` never becomes a tree of new folders.
    #[error("cannot create store `{path}`: its folder `{folder}` does not exist")]
    MissingFolder {
        /// The file.
        path: PathBuf,
        /// Its parent folder.
        folder: PathBuf,
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
    /// A secret value could not be sealed or opened, or the key not loaded.
    #[error(transparent)]
    Secrets(#[from] CryptoError),
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

/// The store file, its connection, and where its secrets key comes from.
pub struct Store {
    connection: Connection,
    path: PathBuf,
    /// Whether this connection has checked the file's pages before its first write.
    checked: bool,
    keys: KeySource,
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
    default_file_path()
}

/// [`default_path`], with the folders of the default location created (0700) when it is not
/// `$ZENREG_STORE`: a store given explicitly must be in a folder that exists.
pub fn prepare_default_path() -> Result<PathBuf, StoreError> {
    let path = default_path();
    if std::env::var_os("ZENREG_STORE").is_some_and(|p| !p.is_empty()) {
        return Ok(path);
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(parent).map_err(|source| StoreError::Create { path: path.clone(), source })?;
    }
    Ok(path)
}

/// Where the embedded store file is by default, whatever `$ZENREG_STORE` says:
/// `$ZENREG_HOME/zenreg.db`, else `zenreg/zenreg.db` in the platform's config directory.
pub fn default_file_path() -> PathBuf {
    if let Some(home) = std::env::var_os("ZENREG_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(home).join("zenreg.db");
    }
    dirs::config_dir().unwrap_or_else(|| PathBuf::from(".")).join("zenreg").join("zenreg.db")
}

/// A logger of finished statements at debug level (`ZENREG_LOG=debug`): each one's text as
/// written, with `?` placeholders (never the values bound to them: secret values are sealed, but
/// names and configs are the user's), and how long it ran. Timed with a clock of its own from
/// the statement's start: SQLite's profile time has millisecond resolution, and a statement of
/// the store takes microseconds.
fn statement_logger() -> impl FnMut(rusqlite::trace::TraceEvent<'_>) + Send + 'static {
    let mut started: Option<std::time::Instant> = None;
    move |event| match event {
        // A trigger's subprogram (text `-- …`) runs inside the statement already timed.
        rusqlite::trace::TraceEvent::Stmt(_, text) if !text.starts_with("--") => {
            started.get_or_insert_with(std::time::Instant::now);
        }
        rusqlite::trace::TraceEvent::Profile(statement, _) => {
            let took = started.take().map_or(Duration::ZERO, |at| at.elapsed());
            let sql = statement.sql();
            let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            tracing::debug!(target: "zenreg_store::sql", "sqlite: {sql} ({} µs)", took.as_micros());
        }
        _ => {}
    }
}

impl Store {
    /// Opens (creating if missing) the store at `path`, whose folder must exist
    /// ([`StoreError::MissingFolder`]; [`prepare_default_path`] creates the default's).
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        check_path(&path)?;
        create_private_file(&path)?;
        check_access(&path)?;
        check_header(&path)?;
        let leftover_wal = std::fs::metadata(wal_path(&path)).is_ok_and(|m| m.len() > 0);
        let sqlite = |source| StoreError::sqlite(&path, source);
        let mut connection = Connection::open_with_flags(
            &path,
            // No `SQLITE_OPEN_URI`: the path is a file name, never `file:…?mode=memory`.
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sqlite)?;
        if tracing::enabled!(target: "zenreg_store::sql", tracing::Level::DEBUG) {
            connection
                .trace_v2(
                    rusqlite::trace::TraceEventCodes::SQLITE_TRACE_STMT
                        | rusqlite::trace::TraceEventCodes::SQLITE_TRACE_PROFILE,
                    Some(statement_logger()),
                )
                .map_err(sqlite)?;
        }
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
        // The key: `ZENREG_SECRETS_KEY`, else `<store>.key` beside the file, created on the
        // first secret write.
        let keys = KeySource::new(std::env::var(KEY_VARIABLE).ok(), Some(key_file_beside(&path)), true);
        let mut store = Store { connection, path, checked: false, keys };
        store.configure()?;
        store.migrate()?;
        store.finish_rekey()?;
        Ok(store)
    }

    /// Finishes a rekey killed between its commit and the rename of the new key file (see
    /// [`Backend::rekey`]): when `<key file>.new` is there, it is renamed over the key file if
    /// the values are sealed with its key (or there are none), and removed otherwise. Done under
    /// the write lock, so a rekey still running in another process is waited for, never undone.
    fn finish_rekey(&mut self) -> Result<(), StoreError> {
        let Some(key_file) = self.keys.file().map(Path::to_path_buf) else { return Ok(()) };
        let pending = crypto::pending_key_file(&key_file);
        if std::fs::symlink_metadata(&pending).is_err() {
            return Ok(());
        }
        self.write_raw(|connection, path, _| {
            if std::fs::symlink_metadata(&pending).is_err() {
                return Ok(());
            }
            // A key file that cannot be read was cut short by a kill before the commit.
            let Ok(new) = SecretsKey::read_file(&pending) else {
                let _ = std::fs::remove_file(&pending);
                return Ok(());
            };
            // The key of the first sealed value (a damaged row is passed over).
            let sealed_with = list_secrets(connection)
                .map_err(|e| StoreError::sqlite(path, e))?
                .into_iter()
                .filter(|secret| secret.damaged.is_none())
                .find_map(|secret| {
                    secret.values.values().find_map(|v| crypto::sealed_with(v.expose_secret()).map(str::to_string))
                });
            match sealed_with {
                Some(fingerprint) if fingerprint != new.fingerprint() => {
                    std::fs::remove_file(&pending)
                        .map_err(|source| CryptoError::KeyFile { path: pending.clone(), source })?;
                }
                _ => crypto::install_key_file(&pending, &key_file)?,
            }
            Ok::<_, StoreError>(())
        })
    }

    /// Opens the store at [`default_path`].
    pub fn open_default() -> Result<Store, StoreError> {
        Store::open(prepare_default_path()?)
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Uses `keys` for secret values instead of the environment and the key file beside the store.
    pub fn with_keys(mut self, keys: KeySource) -> Store {
        self.keys = keys;
        self
    }

    /// Where the secrets key comes from.
    pub fn keys(&mut self) -> &mut KeySource {
        &mut self.keys
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
    fn write_raw<T, E>(&mut self, f: impl FnOnce(&Connection, &Path, &mut KeySource) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let Store { connection, path, checked, keys } = self;
        let sqlite = |source| StoreError::sqlite(path, source);
        let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate).map_err(sqlite)?;
        // A write may touch only healthy pages of a damaged file and succeed; a damaged store
        // is left as it is instead. Checked before a connection's first write only (a few
        // milliseconds for 10,000 components), so a program writing many rows pays it once.
        if !*checked {
            let check: String = tx.query_row("PRAGMA quick_check(1)", [], |row| row.get(0)).map_err(sqlite)?;
            if check != "ok" {
                let corrupt = rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT);
                let message = "database disk image is malformed".to_string();
                return Err(sqlite(rusqlite::Error::SqliteFailure(corrupt, Some(message))).into());
            }
            *checked = true;
        }
        let value = f(&tx, path, keys)?;
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

/// Creates an empty store file (0600) if it does not exist, so that SQLite never creates the
/// file with the process umask. Its folder must exist (see [`prepare_default_path`]).
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    let create = |source| StoreError::Create { path: path.to_path_buf(), source };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        return Err(StoreError::MissingFolder { path: path.to_path_buf(), folder: parent.to_path_buf() });
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
            component.config_text(),
            component.labels_text(),
            component.created,
            component.updated,
        ])?;
    Ok(())
}

/// Writes a component's name, config, labels and update time, by id.
pub(crate) fn update_component(connection: &Connection, component: &Component) -> rusqlite::Result<usize> {
    connection
        .prepare_cached("UPDATE components SET name = ?2, config = ?3, labels = ?4, updated = ?5 WHERE id = ?1")?
        .execute(params![
            component.id,
            component.name,
            component.config_text(),
            component.labels_text(),
            component.updated,
        ])
}

/// Deletes a component by id; how many rows went.
pub(crate) fn delete_component(connection: &Connection, id: &str) -> rusqlite::Result<usize> {
    connection.prepare_cached("DELETE FROM components WHERE id = ?1")?.execute(params![id])
}

fn secret_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Secret> {
    let mut damage = Damage::default();
    Ok(Secret {
        id: text_column(row, 0, "id", &mut damage)?,
        name: text_column(row, 1, "name", &mut damage)?,
        values: json_column::<BTreeMap<String, String>>(row, 2, "entries", &mut damage)?
            .into_iter()
            .map(|(key, value)| (key, SecretString::from(value)))
            .collect(),
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

/// Inserts or replaces a secret, by id, with its values as stored (`entries`: sealed).
pub(crate) fn put_secret(
    connection: &Connection,
    secret: &Secret,
    entries: &BTreeMap<String, String>,
) -> rusqlite::Result<usize> {
    connection
        .prepare_cached(
            "INSERT INTO secrets (id, name, entries, created, updated) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (id) DO UPDATE SET name = excluded.name, entries = excluded.entries, updated = excluded.updated",
        )?
        .execute(params![
            secret.id,
            secret.name,
            serde_json::to_string(entries).unwrap_or_else(|_| "{}".into()),
            secret.created,
            secret.updated,
        ])
}

/// Deletes a secret by id; how many rows went.
pub(crate) fn delete_secret(connection: &Connection, id: &str) -> rusqlite::Result<usize> {
    connection.prepare_cached("DELETE FROM secrets WHERE id = ?1")?.execute(params![id])
}

/// Up to `limit` components of a type whose id starts with `prefix`, sorted by id.
fn components_by_id_prefix(
    connection: &Connection,
    component_type: ComponentType,
    prefix: &str,
    limit: usize,
) -> rusqlite::Result<Vec<Component>> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let mut statement = connection.prepare_cached(&format!(
        "SELECT {COMPONENT_COLUMNS} FROM components WHERE component_type = ?1 AND substr(id, 1, length(?2)) = lower(?2)
         ORDER BY id LIMIT ?3"
    ))?;
    statement.query_map(params![component_type.as_str(), prefix, limit], component_from_row)?.collect()
}

/// Whether an error is a clash with a unique name (not the primary key).
fn is_unique_violation(error: &rusqlite::Error) -> bool {
    matches!(error, rusqlite::Error::SqliteFailure(e, _) if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)
}

// ---- the Backend seam ----------------------------------------------------------------------

/// One transaction of a [`Store`]: the row functions above, with secret values sealed on the way
/// in and opened on the way out. In a write transaction the whole store is write-locked from
/// the start (`BEGIN IMMEDIATE`), so nothing read changes before commit.
struct SqliteTx<'a> {
    connection: &'a Connection,
    path: &'a Path,
    keys: &'a mut KeySource,
}

impl SqliteTx<'_> {
    fn sqlite(&self, source: rusqlite::Error) -> StoreError {
        StoreError::sqlite(self.path, source)
    }

    /// Opens a stored secret's values; plaintext (legacy) values need no key.
    fn open(&mut self, mut secret: Secret) -> Result<Secret, CryptoError> {
        if secret.damaged.is_none() && secret.values.values().any(|v| crypto::is_sealed(v.expose_secret())) {
            let key = self.keys.key()?;
            secret.values = crypto::open_entries(key, &secret.id, &secret.values)?;
        }
        Ok(secret)
    }

    /// Seals every legacy plaintext secret of `secrets` (the store's, as just listed) with `key`;
    /// how many.
    fn seal_plaintext(&mut self, key: &SecretsKey, secrets: Vec<Secret>) -> Result<u64, SealError> {
        let mut count = 0;
        if crypto::ensure_same_key(key, secrets.iter().flat_map(|s| s.values.values())).is_err() {
            // Not this store's key: sealing under it would leave values under two keys.
            return Ok(0);
        }
        for secret in secrets {
            if secret.damaged.is_some() || !crypto::needs_sealing(&secret.values) {
                continue;
            }
            let sealed = crypto::seal_entries(key, &secret.id, &secret.values).map_err(SealError::Crypto)?;
            put_secret(self.connection, &secret, &sealed).map_err(|e| SealError::Store(self.sqlite(e)))?;
            count += 1;
        }
        Ok(count)
    }
}

/// The two ways sealing can fail, converted into the caller's error.
enum SealError {
    Store(StoreError),
    Crypto(CryptoError),
}

impl SealError {
    fn into<E: From<StoreError> + From<CryptoError>>(self) -> E {
        match self {
            SealError::Store(e) => e.into(),
            SealError::Crypto(e) => e.into(),
        }
    }
}

impl<E> Tx<E> for SqliteTx<'_>
where
    E: From<StoreError> + From<CryptoError>,
{
    fn for_each_component(
        &mut self,
        component_type: ComponentType,
        flavor: Option<&str>,
        f: &mut dyn FnMut(Component),
    ) -> Result<(), E> {
        for_each_component(self.connection, component_type, flavor, f).map_err(|e| self.sqlite(e).into())
    }

    fn component_by_name(&mut self, component_type: ComponentType, name: &str) -> Result<Option<Component>, E> {
        find_component_by_name(self.connection, component_type, name).map_err(|e| self.sqlite(e).into())
    }

    fn components_by_id_prefix(
        &mut self,
        component_type: ComponentType,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<Component>, E> {
        components_by_id_prefix(self.connection, component_type, prefix, limit).map_err(|e| self.sqlite(e).into())
    }

    fn insert_component(&mut self, component: &Component) -> Result<Written, E> {
        match insert_component(self.connection, component) {
            Ok(()) => Ok(Written::Done),
            Err(error) if is_unique_violation(&error) => Ok(Written::NameTaken),
            Err(error) => Err(self.sqlite(error).into()),
        }
    }

    fn update_component(&mut self, component: &Component) -> Result<Written, E> {
        match update_component(self.connection, component) {
            Ok(0) => Ok(Written::Missing),
            Ok(_) => Ok(Written::Done),
            Err(error) if is_unique_violation(&error) => Ok(Written::NameTaken),
            Err(error) => Err(self.sqlite(error).into()),
        }
    }

    fn delete_component(&mut self, id: &str) -> Result<bool, E> {
        delete_component(self.connection, id).map(|n| n > 0).map_err(|e| self.sqlite(e).into())
    }

    fn list_secrets(&mut self) -> Result<Vec<Secret>, E> {
        let stored = list_secrets(self.connection).map_err(|e| self.sqlite(e))?;
        stored.into_iter().map(|secret| self.open(secret).map_err(E::from)).collect()
    }

    fn secret_summaries(&mut self) -> Result<Vec<SecretSummary>, E> {
        let stored = list_secrets(self.connection).map_err(|e| self.sqlite(e))?;
        Ok(stored
            .into_iter()
            .map(|secret| SecretSummary {
                keys: secret.values.into_keys().collect(),
                id: secret.id,
                name: secret.name,
                created: secret.created,
                updated: secret.updated,
                damaged: secret.damaged,
            })
            .collect())
    }

    fn find_secret(&mut self, name: &str) -> Result<Option<Secret>, E> {
        match find_secret(self.connection, name).map_err(|e| self.sqlite(e))? {
            Some(secret) => Ok(Some(self.open(secret)?)),
            None => Ok(None),
        }
    }

    fn put_secret(&mut self, secret: &Secret) -> Result<Written, E> {
        let key = self.keys.key_or_create()?.clone();
        let stored = list_secrets(self.connection).map_err(|e| self.sqlite(e))?;
        crypto::ensure_same_key(&key, stored.iter().flat_map(|s| s.values.values()))?;
        // The first write with a key seals what an older zenreg left in plaintext.
        self.seal_plaintext(&key, stored).map_err(SealError::into::<E>)?;
        let sealed = crypto::seal_entries(&key, &secret.id, &secret.values)?;
        match put_secret(self.connection, secret, &sealed) {
            Ok(_) => Ok(Written::Done),
            Err(error) if is_unique_violation(&error) => Ok(Written::NameTaken),
            Err(error) => Err(self.sqlite(error).into()),
        }
    }

    fn delete_secret(&mut self, id: &str) -> Result<bool, E> {
        delete_secret(self.connection, id).map(|n| n > 0).map_err(|e| self.sqlite(e).into())
    }

    fn exclusive(&mut self) -> Result<(), E> {
        // A write transaction holds the store's only write lock from its first statement.
        Ok(())
    }
}

impl Backend for Store {
    type Error = StoreError;

    fn write<T, E>(&mut self, f: impl FnOnce(&mut dyn Tx<E>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError> + From<CryptoError>,
    {
        self.write_raw(|connection, path, keys| {
            let mut tx = SqliteTx { connection, path, keys };
            // Legacy plaintext is sealed by the first write that has a key at hand (a key file
            // that cannot be read is the business of the commands that need values).
            if let Ok(Some(key)) = tx.keys.key().map(|k| k.cloned()) {
                let secrets = list_secrets(connection).map_err(|e| StoreError::sqlite(path, e))?;
                tx.seal_plaintext(&key, secrets).map_err(SealError::into::<E>)?;
            }
            f(&mut tx)
        })
    }

    fn read<T, E>(&mut self, f: impl FnOnce(&mut dyn Tx<E>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError> + From<CryptoError>,
    {
        let Store { connection, path, keys, .. } = self;
        // A deferred transaction: every statement of `f` sees one snapshot; it ends by rollback.
        let tx = connection.unchecked_transaction().map_err(|e| StoreError::sqlite(path, e))?;
        f(&mut SqliteTx { connection: &tx, path, keys })
    }

    fn rekey(&mut self, new: &SecretsKey) -> Result<u64, StoreError> {
        // The store's key file follows the new key. Under the write lock, the new key is first
        // written to `<key file>.new`; the values are sealed with it and committed; then that
        // file is renamed over the key file. A process killed before the commit leaves the old
        // key opening everything; one killed between the commit and the rename leaves both files,
        // and the next open keeps the one the values are sealed with (`finish_rekey`).
        let key_file = self.keys.file().map(Path::to_path_buf);
        let pending = key_file.as_deref().map(crypto::pending_key_file);
        let result = self.write_raw(|connection, path, keys| {
            let old = keys.key()?.cloned();
            if let Some(pending) = &pending {
                new.write_file(pending)?;
            }
            let mut count = 0;
            for secret in list_secrets(connection).map_err(|e| StoreError::sqlite(path, e))? {
                if secret.damaged.is_some() {
                    continue;
                }
                let rekeyed = crypto::rekey_entries(old.as_ref(), new, &secret.id, &secret.values)?;
                put_secret(connection, &secret, &rekeyed).map_err(|e| StoreError::sqlite(path, e))?;
                count += 1;
            }
            Ok::<_, StoreError>(count)
        });
        let count = match result {
            Ok(count) => count,
            Err(error) => {
                if let Some(pending) = &pending {
                    let _ = std::fs::remove_file(pending);
                }
                return Err(error);
            }
        };
        if let (Some(pending), Some(key_file)) = (&pending, &key_file) {
            match crypto::install_key_file(pending, key_file) {
                Ok(()) => {}
                // Another process opening the store finished the rename already.
                Err(_) if SecretsKey::read_file(key_file).is_ok_and(|k| k.fingerprint() == new.fingerprint()) => {}
                Err(error) => return Err(error.into()),
            }
        }
        self.keys.replace(new.clone());
        Ok(count)
    }

    fn info(&mut self) -> Result<BackendInfo, StoreError> {
        let sqlite = |source| StoreError::sqlite(&self.path, source);
        let (version, components, secrets): (i64, i64, i64) = self
            .connection
            .query_row(
                "SELECT (SELECT user_version FROM pragma_user_version), (SELECT count(*) FROM components),
                        (SELECT count(*) FROM secrets)",
                [],
                |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
            )
            .map_err(sqlite)?;
        let (key_fingerprint, key_error) = self.keys.describe();
        Ok(BackendInfo {
            backend: "sqlite",
            location: self.path.display().to_string(),
            schema_version: version,
            supported_schema_version: MIGRATIONS.len() as i64,
            components: components.max(0) as u64,
            secrets: secrets.max(0) as u64,
            key_fingerprint,
            key_error,
        })
    }
}
