//! The team store: components and secrets in a PostgreSQL database, behind the same
//! [`Backend`] seam as the embedded SQLite store.
//!
//! - Connection: [`PgUrl`] (libpq-style URL; password from the URL, `PGPASSWORD` or
//!   `~/.pgpass`), TLS through rustls ([`SslMode`]). Messages show [`PgStore::location`], the
//!   URL without its password.
//! - Schema: versioned migrations recorded in `zenreg_schema` (one row per applied version).
//!   A client that finds the schema current touches no lock; otherwise migrations run in one
//!   transaction under `pg_advisory_xact_lock`, so many clients starting at once apply each
//!   version exactly once. A schema newer than this build is refused ([`PgErrorKind::TooNew`]).
//! - Concurrency: names are unique by constraint; inside [`Backend::write`] every row read is
//!   locked (`SELECT … FOR UPDATE`) until commit, so concurrent read-modify-writes queue up
//!   instead of overwriting each other. A command's writes are one transaction: a lost
//!   connection leaves nothing of it. A lost connection is reported once; the next command
//!   reconnects. A rekey and every write exclude each other through an advisory lock (shared
//!   for writes, exclusive for the rekey), so no value is sealed under the old key while the
//!   store moves to a new one.
//! - Secrets: values sealed with the [`SecretsKey`] before they leave the process
//!   ([`crate::crypto`]); the server sees names and key names only.

mod error;
mod rows;
mod tls;
mod url;

pub use error::{DriverCause, PgErrorKind, PostgresError};
pub use url::{DecodeError, PgEnv, PgHost, PgUrl, SslMode, UrlError, is_postgres_url};

use crate::backend::{Backend, BackendInfo, Tx};
use crate::crypto::{CryptoError, KeySource, SecretsKey};
use error::classify;
use postgres::Client;
use postgres::types::ToSql;
use rows::PgTx;
use std::collections::HashMap;
use std::fmt;

/// Schema versions, applied in order; the index plus one is the version. Names are `COLLATE "C"`
/// so that equality and order are bytewise, as in the SQLite store, whatever the database's
/// locale. Configs and labels are `json` (not `jsonb`), which keeps the key order users gave.
const MIGRATIONS: &[&str] = &[r#"
    CREATE TABLE zenreg_components (
        id             text COLLATE "C" PRIMARY KEY,
        name           text COLLATE "C" NOT NULL,
        component_type text NOT NULL,
        flavor         text NOT NULL,
        config         json NOT NULL,
        labels         json NOT NULL,
        created        text NOT NULL,
        updated        text NOT NULL,
        revision       bigint NOT NULL DEFAULT 1,
        CONSTRAINT zenreg_components_unique_name UNIQUE (component_type, name)
    );
    CREATE INDEX zenreg_components_by_flavor ON zenreg_components (component_type, flavor, name);
    CREATE TABLE zenreg_secrets (
        id       text COLLATE "C" PRIMARY KEY,
        name     text COLLATE "C" NOT NULL,
        entries  json NOT NULL,
        sealed   boolean NOT NULL,
        created  text NOT NULL,
        updated  text NOT NULL,
        revision bigint NOT NULL DEFAULT 1,
        CONSTRAINT zenreg_secrets_unique_name UNIQUE (name)
    );
    CREATE INDEX zenreg_secrets_unsealed ON zenreg_secrets (id) WHERE NOT sealed;
"#];

/// The columns of the `zenreg_schema` table the search path finds, as `name type, …` in order
/// (NULL when there is none).
const SCHEMA_TABLE_COLUMNS: &str = "SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' \
     ORDER BY attnum) FROM pg_attribute WHERE attrelid = to_regclass('zenreg_schema') AND attnum > 0 \
     AND NOT attisdropped";

/// What [`SCHEMA_TABLE_COLUMNS`] reads for zenreg's own `zenreg_schema`.
const ZENREG_SCHEMA_COLUMNS: &str = "version integer, applied_at timestamp with time zone, applied_by text";

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Advisory lock keys ("zenr" in the high half): one serialises migrations, one is taken by
/// [`Tx::exclusive`], and one keeps a rekey and the writes that seal values apart.
const MIGRATION_LOCK: i64 = 0x7a65_6e72_0000_0001;
pub(crate) const EXCLUSIVE_LOCK: i64 = 0x7a65_6e72_0000_0002;
/// Taken shared by every write transaction before it reads anything, and exclusively by a
/// rekey. Row locks alone cannot keep them apart: a rekey locks the rows that exist, and a
/// `secret create` during it checks its key against those rows as last committed (under the
/// old key), then inserts a row under the old key that the rekey never sees (issue 22). Taken
/// first in both, before any row lock, so the two can never deadlock.
const SECRETS_KEY_LOCK: i64 = 0x7a65_6e72_0000_0003;

/// A lock wait longer than this is an error ([`PgErrorKind::Busy`]), as the SQLite store's busy
/// timeout is: a command waits for another's transaction, but never for ever.
const LOCK_TIMEOUT_MS: u32 = 30_000;

/// The PostgreSQL store: one connection, its prepared statements, and where the secrets key
/// comes from (loaded when a secret value is first sealed or opened).
pub struct PgStore {
    client: Client,
    url: PgUrl,
    env: PgEnv,
    location: String,
    keys: KeySource,
    statements: HashMap<&'static str, postgres::Statement>,
}

impl fmt::Debug for PgStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgStore").field("location", &self.location).field("keys", &self.keys).finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to the store at `url` (completed from `env`), migrating its schema if needed.
    /// `key` seals and opens secret values; without it, components work and secret values
    /// are refused with [`CryptoError::NoKey`].
    pub fn open(url: &str, env: &PgEnv, key: Option<SecretsKey>) -> Result<PgStore, PostgresError> {
        let keys = key.map_or_else(|| KeySource::new(None, None, false), KeySource::with_key);
        PgStore::open_with_keys(url, env, keys)
    }

    /// [`PgStore::open`] with the key from `keys`, loaded only when a command first seals or
    /// opens a secret value: a key file that cannot be read fails those commands alone, never
    /// the ones that only touch components.
    pub fn open_with_keys(url: &str, env: &PgEnv, keys: KeySource) -> Result<PgStore, PostgresError> {
        let url = PgUrl::parse(url, env).map_err(|source| PostgresError {
            kind: PgErrorKind::InvalidUrl { source },
            location: "postgresql://…".into(),
        })?;
        let location = url.display();
        let client = connect(&url, env, &location)?;
        let mut store = PgStore { client, url, env: env.clone(), location, keys, statements: HashMap::new() };
        store.migrate()?;
        Ok(store)
    }

    /// The URL without its password.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The key file secret values are sealed with, when the key comes from one.
    pub fn key_file(&self) -> Option<&std::path::Path> {
        self.keys.file()
    }

    /// The secrets key in use (loaded now if it was not yet); `None` when none is set up.
    pub fn key(&mut self) -> Result<Option<&SecretsKey>, CryptoError> {
        self.keys.key()
    }

    fn error(&self, kind: PgErrorKind) -> PostgresError {
        PostgresError { kind, location: self.location.clone() }
    }

    fn driver_error(&self, error: &postgres::Error) -> PostgresError {
        self.error(classify(error, false, self.url.password()))
    }

    /// Reconnects after a lost connection, so that the command after a server restart works.
    fn ensure_connected(&mut self) -> Result<(), PostgresError> {
        if self.client.is_closed() {
            self.client = connect(&self.url, &self.env, &self.location)?;
            self.statements.clear();
        }
        Ok(())
    }

    /// The server process serving this connection (`pg_backend_pid()`), for diagnostics and
    /// for tests that end it.
    pub fn backend_pid(&mut self) -> Result<i32, PostgresError> {
        self.ensure_connected()?;
        let row = self.client.query_one("SELECT pg_backend_pid()", &[]).map_err(|e| self.driver_error(&e))?;
        Ok(row.get(0))
    }

    /// The schema version recorded in the database (0 for an empty database).
    pub fn schema_version(&mut self) -> Result<i64, PostgresError> {
        self.ensure_connected()?;
        read_version(&mut self.client).map_err(|e| self.driver_error(&e))
    }

    fn migrate(&mut self) -> Result<(), PostgresError> {
        let found = self.schema_version()?;
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        if found > SCHEMA_VERSION {
            return Err(self.error(PgErrorKind::TooNew { found, supported: SCHEMA_VERSION }));
        }
        let password = self.url.password().map(str::to_string);
        let location = self.location.clone();
        let fail = |e: postgres::Error| PostgresError {
            kind: classify(&e, false, password.as_deref()),
            location: location.clone(),
        };
        let mut tx = self.client.transaction().map_err(fail)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).map_err(fail)?;
        // A `zenreg_schema` of another application is left as it is: `CREATE TABLE IF NOT
        // EXISTS` would accept it, and a migration would add rows and tables beside it.
        let columns: Option<String> = tx.query_one(SCHEMA_TABLE_COLUMNS, &[]).map_err(fail)?.get(0);
        if let Some(columns) = columns.filter(|c| c != ZENREG_SCHEMA_COLUMNS) {
            return Err(PostgresError {
                kind: PgErrorKind::ForeignTable { table: "zenreg_schema", columns },
                location,
            });
        }
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS zenreg_schema (
                 version    integer PRIMARY KEY,
                 applied_at timestamptz NOT NULL DEFAULT now(),
                 applied_by text NOT NULL DEFAULT current_user
             )",
        )
        .map_err(fail)?;
        // Another client may have migrated while this one waited for the lock.
        let found: i64 =
            tx.query_one("SELECT coalesce(max(version), 0)::bigint FROM zenreg_schema", &[]).map_err(fail)?.get(0);
        if found > SCHEMA_VERSION {
            return Err(PostgresError { kind: PgErrorKind::TooNew { found, supported: SCHEMA_VERSION }, location });
        }
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
            tx.batch_execute(migration).map_err(fail)?;
            let version = index as i32 + 1;
            tx.execute("INSERT INTO zenreg_schema (version) VALUES ($1)", &[&version]).map_err(fail)?;
        }
        tx.commit().map_err(|e| PostgresError {
            kind: commit_kind(classify(&e, false, password.as_deref())),
            location: location.clone(),
        })
    }

    fn run<T, E>(&mut self, write: bool, f: impl FnOnce(&mut dyn Tx<E>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<PostgresError> + From<CryptoError>,
    {
        self.ensure_connected()?;
        let PgStore { client, url, location, keys, statements, .. } = self;
        let password = url.password();
        let fail =
            |e: postgres::Error| PostgresError { kind: classify(&e, false, password), location: location.clone() };
        let mut tx = if write {
            let mut tx = client.transaction().map_err(fail)?;
            // Waits for a rekey running now; in READ COMMITTED every later statement then sees
            // what it committed (values under the new key), so a write sealing with the old key
            // is refused by the same-key check instead of slipping in.
            tx.execute("SELECT pg_advisory_xact_lock_shared($1)", &[&SECRETS_KEY_LOCK]).map_err(fail)?;
            tx
        } else {
            client
                .build_transaction()
                .read_only(true)
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .start()
                .map_err(fail)?
        };
        let value = {
            let mut rows = PgTx { tx: &mut tx, statements, keys, write, location, password };
            if write && rows.keys.is_configured() {
                // Legacy plaintext values (a store filled before it had a key) are sealed by the
                // first write that has one.
                rows.seal_plaintext()?;
            }
            f(&mut rows)?
        };
        if write {
            tx.commit().map_err(|e| PostgresError {
                kind: commit_kind(classify(&e, false, password)),
                location: location.clone(),
            })?;
        } else {
            // A read-only transaction has nothing to keep; ending it cleanly is all.
            tx.rollback().map_err(fail)?;
        }
        Ok(value)
    }

    /// Runs one statement outside any command, for counts and checks.
    fn scalar(&mut self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<i64, PostgresError> {
        self.ensure_connected()?;
        let row = self.client.query_one(sql, params).map_err(|e| self.driver_error(&e))?;
        Ok(row.get(0))
    }
}

/// Runs one statement and logs it at debug level (`ZENREG_LOG=debug`) with its time: its text
/// with `$n` placeholders, never the values bound to them.
pub(super) fn timed<T>(sql: &str, run: impl FnOnce() -> T) -> T {
    if !tracing::enabled!(target: "zenreg_store::sql", tracing::Level::DEBUG) {
        return run();
    }
    let started = std::time::Instant::now();
    let outcome = run();
    let sql = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    tracing::debug!(target: "zenreg_store::sql", "postgres: {sql} ({} µs)", started.elapsed().as_micros());
    outcome
}

/// A lost connection during `COMMIT` leaves the outcome unknown, and says so.
fn commit_kind(kind: PgErrorKind) -> PgErrorKind {
    match kind {
        PgErrorKind::ConnectionLost { .. } => PgErrorKind::ConnectionLost { during_commit: true },
        other => other,
    }
}

fn read_version(client: &mut Client) -> Result<i64, postgres::Error> {
    // One round trip, which every command pays: the simple protocol (no prepared statement), an
    // empty database told by its error code rather than asked about first, and the newest
    // version picked here rather than by an aggregate (a fresh server process looks up every
    // function a query names in its catalogs, and `coalesce(max(…))` made this query the
    // slowest of a `describe`).
    match client.simple_query("SELECT version FROM zenreg_schema") {
        Ok(messages) => Ok(messages
            .iter()
            .filter_map(|message| match message {
                postgres::SimpleQueryMessage::Row(row) => row.get(0),
                _ => None,
            })
            // The server prints an integer in decimal; anything else reads as an empty schema,
            // whose migration then fails on the tables that exist, with the server's words.
            .filter_map(|text| text.parse::<i64>().ok())
            .max()
            .unwrap_or(0)),
        Err(error) if error.code() == Some(&postgres::error::SqlState::UNDEFINED_TABLE) => Ok(0),
        Err(error) => Err(error),
    }
}

fn connect(url: &PgUrl, env: &PgEnv, location: &str) -> Result<Client, PostgresError> {
    let fail = |kind| PostgresError { kind, location: location.to_string() };
    let mut config = postgres::Config::new();
    config
        .user(&url.user)
        .dbname(&url.dbname)
        .port(url.port)
        .connect_timeout(url.connect_timeout)
        .application_name(&url.application_name)
        .keepalives(true)
        .options(&format!("-c lock_timeout={LOCK_TIMEOUT_MS}"));
    match &url.host {
        PgHost::Tcp(host) => config.host(host),
        PgHost::Socket(dir) => config.host_path(dir),
    };
    if let Some(password) = url.password() {
        config.password(password);
    }
    let connector = tls::connector(url.sslmode, url.sslrootcert.as_deref(), env)
        .map_err(|reason| fail(PgErrorKind::Tls { reason }))?;
    let result = match connector {
        None => config.ssl_mode(postgres::config::SslMode::Disable).connect(postgres::NoTls),
        Some(connector) => {
            let mode = if url.sslmode == SslMode::Prefer {
                postgres::config::SslMode::Prefer
            } else {
                postgres::config::SslMode::Require
            };
            config.ssl_mode(mode).connect(connector)
        }
    };
    result.map_err(|e| {
        let mut kind = classify(&e, true, url.password());
        if let PgErrorKind::Connect { ignored_passfile, .. } = &mut kind {
            ignored_passfile.clone_from(&url.ignored_passfile);
        }
        fail(kind)
    })
}

impl Backend for PgStore {
    type Error = PostgresError;

    fn write<T, E>(&mut self, f: impl FnOnce(&mut dyn Tx<E>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<PostgresError> + From<CryptoError>,
    {
        self.run(true, f)
    }

    fn read<T, E>(&mut self, f: impl FnOnce(&mut dyn Tx<E>) -> Result<T, E>) -> Result<T, E>
    where
        E: From<PostgresError> + From<CryptoError>,
    {
        self.run(false, f)
    }

    fn rekey(&mut self, new: &SecretsKey) -> Result<u64, PostgresError> {
        self.ensure_connected()?;
        let count = {
            let PgStore { client, url, location, keys, statements, .. } = self;
            let password = url.password();
            let fail =
                |e: postgres::Error| PostgresError { kind: classify(&e, false, password), location: location.clone() };
            let mut tx = client.transaction().map_err(fail)?;
            // No write may seal a value while the values change key (see SECRETS_KEY_LOCK).
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SECRETS_KEY_LOCK]).map_err(fail)?;
            let count = PgTx { tx: &mut tx, statements, keys, write: true, location, password }.rekey(new)?;
            tx.commit().map_err(|e| PostgresError {
                kind: commit_kind(classify(&e, false, password)),
                location: location.clone(),
            })?;
            count
        };
        self.keys.replace(new.clone());
        Ok(count)
    }

    fn info(&mut self) -> Result<BackendInfo, PostgresError> {
        let schema_version = self.schema_version()?;
        let components = self.scalar("SELECT count(*) FROM zenreg_components", &[])?;
        let secrets = self.scalar("SELECT count(*) FROM zenreg_secrets", &[])?;
        let (key_fingerprint, key_error) = self.keys.describe();
        Ok(BackendInfo {
            backend: "postgresql",
            location: self.location.clone(),
            schema_version,
            supported_schema_version: SCHEMA_VERSION,
            components: components.max(0) as u64,
            secrets: secrets.max(0) as u64,
            key_fingerprint,
            key_error,
        })
    }
}
