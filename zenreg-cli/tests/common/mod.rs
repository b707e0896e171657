//! Shared helpers for the CLI tests: a private temporary directory and store per test, the real
//! `zenreg` binary run with `--store`, explicit stdin (never the terminal), and assertions on
//! exit codes, the `error:` line and the store's rows.
//!
//! A store is an SQLite file or a fresh PostgreSQL database of the test's own ([`Backend`]);
//! [`on_both_backends!`] runs a test function once on each. The PostgreSQL copies are
//! `#[ignore = "needs PostgreSQL (scripts/services.sh)"]` for a plain `cargo test` (the README
//! test command runs them with `--include-ignored`) and panic when the server is missing
//! (`scripts/services.sh` exports `ZENREG_PG_URL` and `ZENREG_PG_PASSWORD`).

#![allow(dead_code, unused_macros)]

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The binary under test.
pub const ZENREG: &str = env!("CARGO_BIN_EXE_zenreg");

/// Runs each named test function, `fn name(backend: Backend)`, once per backend, as
/// `sqlite::name` and `postgres::name` (the latter ignored unless `--include-ignored`).
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[test]
                fn $name() {
                    super::$name(crate::common::Backend::Sqlite)
                }
            )*
        }
        mod postgres {
            $(
                #[test]
                #[ignore = "needs PostgreSQL (scripts/services.sh)"]
                fn $name() {
                    super::$name(crate::common::Backend::Postgres)
                }
            )*
        }
    };
}

/// Which store a test's [`Env`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A store file in the test's directory.
    Sqlite,
    /// A database of the test's own on the test server, dropped at the end.
    Postgres,
}

/// An environment variable the PostgreSQL tests need; its absence fails the test.
pub fn pg_variable(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: this test needs PostgreSQL. Run `eval \"$(scripts/services.sh env)\"` first")
    })
}

/// A connection to the test server's maintenance database.
pub fn pg_admin() -> postgres::Client {
    pg_connect(&pg_variable("ZENREG_PG_URL"))
}

/// A connection to `url` with the test server's password.
pub fn pg_connect(url: &str) -> postgres::Client {
    let mut config: postgres::Config = url.parse().expect("a PostgreSQL URL");
    config.password(pg_variable("ZENREG_PG_PASSWORD"));
    config.connect(postgres::NoTls).expect("the test PostgreSQL server answers")
}

/// A database of one test's own, dropped (with its connections) at the end.
pub struct PgDb {
    name: String,
    url: String,
}

impl PgDb {
    /// Creates an empty database.
    pub fn new() -> PgDb {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let name = format!("zenreg_cli_{}_{}_{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        pg_admin().batch_execute(&format!("CREATE DATABASE {name}")).expect("CREATE DATABASE");
        let server = pg_variable("ZENREG_PG_URL");
        let (base, query) = server.split_once('?').unwrap_or((&server, ""));
        let (host, _) = base.rsplit_once('/').expect("ZENREG_PG_URL names a database");
        let url = format!("{host}/{name}?{query}");
        PgDb { name, url }
    }

    /// The database's URL (without password).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A direct connection, to look at what the store wrote.
    pub fn sql(&self) -> postgres::Client {
        pg_connect(&self.url)
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = std::panic::catch_unwind(pg_admin) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// A directory that is removed when the test ends (kept when it fails, for a look).
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new, empty directory under cargo's scratch directory for integration tests.
    pub fn new() -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let name = format!("zenreg-{}-{}-{nanos}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        std::fs::create_dir_all(&path).expect("create the test directory");
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// One test's world: a temporary directory and the store: a file in it, or a database.
pub struct Env {
    // The database goes before the directory: fields drop in order.
    pg: Option<PgDb>,
    dir: TempDir,
    store: PathBuf,
}

impl Env {
    /// A fresh environment with an SQLite store; the store file does not exist yet.
    pub fn new() -> Env {
        Env::on(Backend::Sqlite)
    }

    /// A fresh environment on `backend`: a store file that does not exist yet, or an empty
    /// database with a secrets key file (`ZENREG_SECRETS_KEY_FILE`) in the test directory.
    pub fn on(backend: Backend) -> Env {
        let dir = TempDir::new();
        match backend {
            Backend::Sqlite => {
                // In the test's directory: an explicit store's folder must exist (issue 22).
                let store = dir.path().join("zenreg.db");
                Env { pg: None, dir, store }
            }
            Backend::Postgres => {
                let db = PgDb::new();
                let store = PathBuf::from(db.url());
                let key = Command::new("sh")
                    .args(["-c", "umask 077 && head -c 32 /dev/urandom | base64 > team.key"])
                    .current_dir(dir.path())
                    .status()
                    .expect("write a key file");
                assert!(key.success());
                Env { pg: Some(db), dir, store }
            }
        }
    }

    /// An environment whose store is `store` (any path, existing or not).
    pub fn with_store(dir: TempDir, store: PathBuf) -> Env {
        Env { pg: None, dir, store }
    }

    /// Which backend the store is.
    pub fn backend(&self) -> Backend {
        if self.pg.is_some() { Backend::Postgres } else { Backend::Sqlite }
    }

    /// The database of a PostgreSQL environment.
    pub fn pg(&self) -> Option<&PgDb> {
        self.pg.as_ref()
    }

    /// The secrets key file of a PostgreSQL environment (the store file's own is beside it).
    pub fn key_file(&self) -> PathBuf {
        match self.backend() {
            Backend::Sqlite => self.store.with_extension("db.key"),
            Backend::Postgres => self.dir.path().join("team.key"),
        }
    }

    /// Whether the store exists (a database always does).
    pub fn store_exists(&self) -> bool {
        self.pg.is_some() || self.store.exists()
    }

    /// Runs SQL on the store directly, `sqlite` on a store file, `postgres` on a database.
    pub fn exec(&self, sqlite: &str, postgres: &str) {
        match &self.pg {
            Some(db) => db.sql().batch_execute(postgres).expect("run SQL on the database"),
            None => rusqlite::Connection::open(&self.store)
                .and_then(|c| c.execute_batch(sqlite))
                .expect("run SQL on the store file"),
        }
    }

    /// A secret's stored `entries` (JSON text of key names and sealed values), as stored.
    pub fn secret_entries(&self, name: &str) -> String {
        match &self.pg {
            Some(db) => db
                .sql()
                .query_one("SELECT entries::text FROM zenreg_secrets WHERE name = $1", &[&name])
                .expect("the secret's row")
                .get(0),
            None => self
                .db()
                .query_row("SELECT entries FROM secrets WHERE name = ?1", [name], |r| r.get(0))
                .expect("the secret's row"),
        }
    }

    /// The temporary directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The store file.
    pub fn store(&self) -> &Path {
        &self.store
    }

    /// A `zenreg --store STORE ARGS…` command that cannot reach the user's own store or terminal.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(ZENREG);
        command
            .arg("--store")
            .arg(&self.store)
            .args(args)
            .env_remove("ZENREG_STORE")
            .env_remove("ZENREG_SECRETS_KEY")
            .env_remove("ZENREG_SECRETS_KEY_FILE")
            .env("ZENREG_HOME", self.dir.path().join("home"))
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path());
        if self.pg.is_some() {
            command
                .env("PGPASSWORD", pg_variable("ZENREG_PG_PASSWORD"))
                .env("ZENREG_SECRETS_KEY_FILE", self.dir.path().join("team.key"));
        }
        command
    }

    /// `sh -c SCRIPT` with the environment of [`Env::command`], plus `$ZENREG` (the binary) and
    /// `$STORE` (the store), for scripts that run many `zenreg` processes.
    pub fn shell(&self, script: &str) -> Command {
        let zenreg = self.command(&[]);
        let mut command = Command::new("sh");
        command.args(["-c", script]).current_dir(self.dir.path()).stdin(Stdio::null());
        for (key, value) in zenreg.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        command.env("ZENREG", ZENREG).env("STORE", &self.store);
        command
    }

    /// Runs `zenreg ARGS…` with stdin closed (so never a terminal).
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, None)
    }

    /// Runs `zenreg ARGS…` with `input` on stdin.
    pub fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        self.run_with_stdin(args, Some(input))
    }

    /// Runs `zenreg ARGS…` in a new session (`setsid`), without a controlling terminal, so that
    /// a prompt on `/dev/tty` fails instead of waiting for someone at the test's terminal.
    pub fn run_without_terminal(&self, args: &[&str]) -> Run {
        let zenreg = self.command(args);
        let mut command = Command::new("setsid");
        command.arg(zenreg.get_program()).args(zenreg.get_args()).current_dir(self.dir.path());
        for (key, value) in zenreg.get_envs() {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        self.finish(command, args, None)
    }

    /// Runs `zenreg ARGS…` with `input` on stdin (if any), after `change` adjusted the command
    /// (its environment, say).
    pub fn run_with(&self, args: &[&str], input: Option<&str>, change: impl FnOnce(&mut Command)) -> Run {
        let mut command = self.command(args);
        change(&mut command);
        self.finish(command, args, input)
    }

    fn run_with_stdin(&self, args: &[&str], input: Option<&str>) -> Run {
        self.finish(self.command(args), args, input)
    }

    fn finish(&self, mut command: Command, args: &[&str], input: Option<&str>) -> Run {
        command.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("the zenreg binary runs");
        if let Some(input) = input {
            let mut stdin = child.stdin.take().expect("piped stdin");
            // A command may exit without reading its stdin (a refusal): that is its answer, and
            // the test looks at it, not at this write.
            match stdin.write_all(input.as_bytes()) {
                Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => {}
                other => other.expect("write stdin"),
            }
        }
        let output = child.wait_with_output().expect("zenreg finishes");
        Run {
            args: args.iter().map(ToString::to_string).collect(),
            code: output.status.code(),
            stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
            stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
        }
    }

    /// Runs a command that must succeed.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        run.success();
        run
    }

    /// Runs a command that must succeed and print JSON.
    pub fn json(&self, args: &[&str]) -> Value {
        self.ok(args).json()
    }

    /// Registers a `default` component at `uri`.
    pub fn register(&self, name: &str, uri: &str) -> Run {
        self.ok(&["container-registry", "register", name, "--flavor", "default", &format!("--uri={uri}")])
    }

    /// `container-registry describe NAME --output json`.
    pub fn describe(&self, name: &str) -> Value {
        self.json(&["container-registry", "describe", name, "--output", "json"])
    }

    /// `container-registry list --output json`.
    pub fn list(&self) -> Vec<Value> {
        match self.json(&["container-registry", "list", "--output", "json"]) {
            Value::Array(items) => items,
            other => panic!("list is not an array: {other}"),
        }
    }

    /// Names of every container registry, sorted.
    pub fn names(&self) -> Vec<String> {
        self.list().iter().map(|c| c["name"].as_str().expect("a name").to_string()).collect()
    }

    /// A read-only connection to the store, to look at its rows as they are.
    pub fn db(&self) -> rusqlite::Connection {
        rusqlite::Connection::open_with_flags(&self.store, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the store read-only")
    }

    /// The raw row of a component: (config, labels, updated) as stored.
    pub fn row(&self, name: &str) -> (String, String, String) {
        if let Some(db) = &self.pg {
            let row = db
                .sql()
                .query_one(
                    "SELECT config::text, labels::text, updated FROM zenreg_components WHERE name = $1",
                    &[&name],
                )
                .expect("the component's row");
            return (row.get(0), row.get(1), row.get(2));
        }
        self.db()
            .query_row("SELECT config, labels, updated FROM components WHERE name = ?1", [name], |row| {
                Ok((row.get(0)?, row.get(1)?, row.get(2)?))
            })
            .expect("the component's row")
    }

    /// Writes a file in the test directory and returns its path.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).expect("write a test file");
        path
    }
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    /// The arguments after `--store PATH`.
    pub args: Vec<String>,
    /// The exit code (`None` if killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts exit code 0.
    pub fn success(&self) -> &Run {
        assert_eq!(self.code, Some(0), "{:?} failed:\nstdout: {}\nstderr: {}", self.args, self.stdout, self.stderr);
        self
    }

    /// Asserts exit code `code`.
    pub fn code(&self, code: i32) -> &Run {
        assert_eq!(
            self.code,
            Some(code),
            "{:?}: expected exit code {code}:\nstdout: {}\nstderr: {}",
            self.args,
            self.stdout,
            self.stderr
        );
        self
    }

    /// stdout as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("{:?}: stdout is not JSON ({e}):\n{}", self.args, self.stdout))
    }

    /// The lines of stderr.
    pub fn stderr_lines(&self) -> Vec<&str> {
        self.stderr.lines().collect()
    }

    /// The first line of stderr.
    pub fn first_line(&self) -> &str {
        self.stderr.lines().next().unwrap_or_default()
    }

    /// Asserts a failure (exit 1) whose stderr is one `error: …` line, optionally followed by one
    /// `hint: …` line, with nothing on stdout; returns the error line.
    pub fn failure(&self) -> &str {
        self.code(1);
        self.one_error()
    }

    /// Asserts a usage error found after clap (exit 2) whose stderr is one `error: …` line,
    /// optionally followed by one `hint: …` line, that is exactly `line`.
    pub fn usage_fails_with(&self, line: &str) -> &Run {
        self.code(2);
        assert_eq!(self.one_error(), line, "{:?}: stderr: {}", self.args, self.stderr);
        self
    }

    /// Asserts a failure whose first stderr line is exactly `line`.
    pub fn fails_with(&self, line: &str) -> &Run {
        assert_eq!(self.failure(), line, "{:?}: stderr: {}", self.args, self.stderr);
        self
    }

    /// Asserts a failure whose error line contains every one of `parts`.
    pub fn fails_containing(&self, parts: &[&str]) -> &Run {
        let line = self.failure();
        for part in parts {
            assert!(line.contains(part), "{:?}: `{part}` is not in `{line}`", self.args);
        }
        self
    }

    /// Asserts stderr is one `error:` line and at most one `hint:` line, stdout empty.
    pub fn one_error(&self) -> &str {
        let lines = self.stderr_lines();
        assert!(
            lines.first().is_some_and(|l| l.starts_with("error: ")),
            "{:?}: stderr does not start with `error: `: {}",
            self.args,
            self.stderr
        );
        assert!(
            lines.len() == 1 || (lines.len() == 2 && lines[1].starts_with("hint: ")),
            "{:?}: more than an error and a hint on stderr:\n{}",
            self.args,
            self.stderr
        );
        assert!(self.stdout.is_empty(), "{:?}: a failure printed to stdout: {}", self.args, self.stdout);
        lines[0]
    }

    /// The `hint:` line, if any.
    pub fn hint(&self) -> Option<&str> {
        self.stderr.lines().find(|l| l.starts_with("hint: "))
    }

    /// Asserts a usage error: exit 2, and one `error:` line plus at most one `hint:` line, clap's
    /// errors included.
    pub fn usage_error(&self) -> &Run {
        self.code(2);
        self.one_error();
        self
    }

    /// Asserts `text` appears in neither stdout nor stderr.
    pub fn never_shows(&self, text: &str) -> &Run {
        assert!(
            !self.stdout.contains(text) && !self.stderr.contains(text),
            "{:?} showed `{text}`:\nstdout: {}\nstderr: {}",
            self.args,
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Writes `text` to a new file at `path` with mode 0600 (replacing a file there).
pub fn write_private(path: &Path, text: &str) {
    use std::os::unix::fs::OpenOptionsExt;
    let _ = std::fs::remove_file(path);
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// Whether `text` is a lowercase hyphenated UUID.
pub fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.char_indices().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) { c == '-' } else { c.is_ascii_hexdigit() && !c.is_ascii_uppercase() }
        })
}

/// Whether `text` looks like the store's timestamps: RFC 3339 UTC with milliseconds.
pub fn is_timestamp(text: &str) -> bool {
    text.len() == 24 && text.ends_with('Z') && humantime_like(text)
}

fn humantime_like(text: &str) -> bool {
    let bytes = text.as_bytes();
    [4, 7].iter().all(|&i| bytes[i] == b'-')
        && bytes[10] == b'T'
        && [13, 16].iter().all(|&i| bytes[i] == b':')
        && bytes[19] == b'.'
}

/// A small deterministic pseudo-random generator (xorshift64*), for test data and timings.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    /// The next value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `low..high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low)
    }

    /// `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}
