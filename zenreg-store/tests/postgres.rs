//! The PostgreSQL store against a real server (`scripts/services.sh start postgres`, which
//! exports `ZENREG_PG_URL`, `ZENREG_PG_TLS_URL` and `ZENREG_PG_PASSWORD`). Each test makes a
//! database of its own and drops it at the end. Without the server every test panics: they are
//! `#[ignore = "needs PostgreSQL: …"]` for a plain `cargo test`, and the README test command runs
//! them with `--include-ignored`.

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier};
use zenreg_core::{ComponentType, ExposeSecret, SecretString};
use zenreg_store::backend::{Backend, Tx, Written};
use zenreg_store::crypto::{CryptoError, SecretsKey};
use zenreg_store::model::{Component, Secret};
use zenreg_store::postgres::{PgEnv, PgErrorKind, PgStore, PostgresError, SCHEMA_VERSION};

const CR: ComponentType = ComponentType::ContainerRegistry;

/// The error the tests' closures return: what a client's error type will be in phase 2.
#[derive(Debug)]
enum TestError {
    Pg(PostgresError),
    Crypto(CryptoError),
}

impl From<PostgresError> for TestError {
    fn from(error: PostgresError) -> Self {
        TestError::Pg(error)
    }
}

impl From<CryptoError> for TestError {
    fn from(error: CryptoError) -> Self {
        TestError::Crypto(error)
    }
}

type TxE<'a> = &'a mut dyn Tx<TestError>;

fn variable(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: these tests need PostgreSQL. Run `eval \"$(scripts/services.sh start postgres)\"`")
    })
}

fn password() -> String {
    variable("ZENREG_PG_PASSWORD")
}

fn env() -> PgEnv {
    PgEnv { password: Some(password()), ..PgEnv::default() }
}

/// A database of one test's own, dropped at the end.
struct TestDb {
    name: String,
    url: String,
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (server, _) = base.rsplit_once('/').expect("the URL names a database");
    format!("{server}/{database}?{query}")
}

fn admin() -> postgres::Client {
    let url = variable("ZENREG_PG_URL");
    let mut config: postgres::Config = url.parse().expect("ZENREG_PG_URL parses");
    config.password(password());
    config.connect(postgres::NoTls).expect("the plain PostgreSQL server answers")
}

impl TestDb {
    fn new() -> TestDb {
        let name = format!("zenreg_test_{}", uuid::Uuid::new_v4().simple());
        admin().batch_execute(&format!("CREATE DATABASE {name}")).expect("CREATE DATABASE");
        TestDb { url: with_database(&variable("ZENREG_PG_URL"), &name), name }
    }

    fn open(&self, key: Option<&SecretsKey>) -> PgStore {
        PgStore::open(&self.url, &env(), key.cloned()).expect("the store opens")
    }

    /// A direct connection to this database, to look at what the store wrote.
    fn sql(&self) -> postgres::Client {
        let mut config: postgres::Config = self.url.parse().unwrap();
        config.password(password());
        config.connect(postgres::NoTls).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = admin().batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

fn component(name: &str) -> Component {
    let now = zenreg_store::model::now();
    let config = serde_json::json!({ "uri": format!("registry.example/{name}"), "default_repository": "team" });
    Component {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.to_string(),
        component_type: CR,
        flavor: "default".into(),
        config: config.as_object().unwrap().clone(),
        labels: BTreeMap::from([("team".to_string(), "infra".to_string())]),
        created: now.clone(),
        updated: now,
        damaged: None,
    }
}

fn secret(name: &str, values: &[(&str, &str)]) -> Secret {
    let now = zenreg_store::model::now();
    Secret {
        id: uuid::Uuid::new_v4().to_string(),
        name: name.into(),
        values: values.iter().map(|(k, v)| (k.to_string(), SecretString::from(*v))).collect(),
        created: now.clone(),
        updated: now,
        damaged: None,
    }
}

fn kind(error: TestError) -> PgErrorKind {
    match error {
        TestError::Pg(error) => error.kind,
        TestError::Crypto(error) => panic!("expected a PostgreSQL error, got {error:?}"),
    }
}

#[test]
#[ignore = "needs PostgreSQL: run the README test command"]
fn components_and_secrets_round_trip() {
    let db = TestDb::new();
    let key = SecretsKey::generate().unwrap();
    let mut store = db.open(Some(&key));
    let names = ["b-registry", "Z-registry", "a-registry"];
    let components: Vec<Component> = names.iter().map(|n| component(n)).collect();
    store
        .write(|tx: TxE| {
            for c in &components {
                assert_eq!(tx.insert_component(c)?, Written::Done);
            }
            Ok(())
        })
        .unwrap();
    let listed = store.read(|tx: TxE| tx.list_components(CR, None)).unwrap();
    // Bytewise order, as in the SQLite store, whatever the database's locale.
    assert_eq!(listed.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Z-registry", "a-registry", "b-registry"]);
    let original = &components[0];
    assert_eq!(listed.iter().find(|c| c.id == original.id).unwrap(), original, "a component comes back as stored");
    // Key order of the config is kept (json, not jsonb).
    let keys: Vec<&String> = listed[0].config.keys().collect();
    assert_eq!(keys, ["uri", "default_repository"]);
    assert!(store.read(|tx: TxE| tx.list_components(CR, Some("aws"))).unwrap().is_empty());

    let by_prefix = store.read(|tx: TxE| tx.find_component(CR, &original.id[..8])).unwrap();
    assert_eq!(by_prefix.as_ref().map(|c| c.id.as_str()), Some(original.id.as_str()));
    assert!(store.read(|tx: TxE| tx.find_component(CR, "missing")).unwrap().is_none());

    let mut renamed = original.clone();
    renamed.name = "renamed".into();
    renamed.config.insert("default_repository".into(), "other".into());
    renamed.labels.clear();
    assert_eq!(store.write(|tx: TxE| tx.update_component(&renamed)).unwrap(), Written::Done);
    assert_eq!(store.read(|tx: TxE| tx.find_component(CR, "renamed")).unwrap().as_ref(), Some(&renamed));
    assert!(store.read(|tx: TxE| tx.component_by_name(CR, "b-registry")).unwrap().is_none());
    assert!(store.write(|tx: TxE| tx.delete_component(&renamed.id)).unwrap());
    assert!(!store.write(|tx: TxE| tx.delete_component(&renamed.id)).unwrap());
    assert_eq!(store.write(|tx: TxE| tx.update_component(&renamed)).unwrap(), Written::Missing);

    let login = secret("login", &[("username", "me"), ("password", "hunter2")]);
    assert_eq!(store.write(|tx: TxE| tx.put_secret(&login)).unwrap(), Written::Done);
    assert_eq!(store.read(|tx: TxE| tx.find_secret("login")).unwrap().as_ref(), Some(&login));
    let mut changed = login.clone();
    changed.values.insert("password".into(), "correct horse".into());
    assert_eq!(store.write(|tx: TxE| tx.put_secret(&changed)).unwrap(), Written::Done);
    assert_eq!(store.read(|tx: TxE| tx.list_secrets()).unwrap(), [changed.clone()]);
    let summaries = store.read(|tx: TxE| tx.secret_summaries()).unwrap();
    assert_eq!(summaries.len(), 1);
    assert_eq!(
        (summaries[0].name.as_str(), summaries[0].keys.clone()),
        ("login", vec!["password".into(), "username".into()])
    );
    assert!(store.write(|tx: TxE| tx.delete_secret(&login.id)).unwrap());
    assert!(store.read(|tx: TxE| tx.find_secret("login")).unwrap().is_none());

    let info = store.info().unwrap();
    assert_eq!(
        (info.backend, info.schema_version, info.components, info.secrets),
        ("postgresql", SCHEMA_VERSION, 2, 0)
    );
    assert_eq!(info.key_fingerprint.as_deref(), Some(key.fingerprint()));
    assert!(!info.location.contains(&password()));
}

#[test]
#[ignore = "needs PostgreSQL: run the README test command"]
fn names_are_unique_by_constraint_and_a_clash_leaves_the_transaction_usable() {
    let db = TestDb::new();
    let key = SecretsKey::generate().unwrap();
    let mut store = db.open(Some(&key));
    let first = component("shared");
    let other = component("other");
    store
        .write(|tx: TxE| {
            assert_eq!(tx.insert_component(&first)?, Written::Done);
            assert_eq!(tx.insert_component(&other)?, Written::Done);
            Ok(())
        })
        .unwrap();
    let clash = component("shared");
    let mut onto = other.clone();
    onto.name = "shared".into();
    let after_clash = component("after-clash");
    store
        .write(|tx: TxE| {
            assert_eq!(tx.insert_component(&clash)?, Written::NameTaken);
            assert_eq!(tx.update_component(&onto)?, Written::NameTaken);
            // The clash rolled back to a savepoint: the transaction goes on.
            assert_eq!(tx.insert_component(&after_clash)?, Written::Done);
            Ok(())
        })
        .unwrap();
    let names: Vec<String> =
        store.read(|tx: TxE| tx.list_components(CR, None)).unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["after-clash", "other", "shared"]);

    assert_eq!(store.write(|tx: TxE| tx.put_secret(&secret("s", &[("k", "1")]))).unwrap(), Written::Done);
    assert_eq!(store.write(|tx: TxE| tx.put_secret(&secret("s", &[("k", "2")]))).unwrap(), Written::NameTaken);

    // The constraint itself, not only the store's checks, refuses a duplicate.
    let error = db
        .sql()
        .execute(
            "INSERT INTO zenreg_components (id, name, component_type, flavor, config, labels, created, updated)
             VALUES ('x', 'shared', 'container_registry', 'default', '{}', '{}', '', '')",
            &[],
        )
        .unwrap_err();
    assert_eq!(error.code().map(|c| c.code()), Some("23505"));
}

#[test]
#[ignore = "needs PostgreSQL: run the README test command"]
fn migrations_from_eight_clients_at_once_run_once() {
    let db = TestDb::new();
    let barrier = Arc::new(Barrier::new(8));
    std::thread::scope(|scope| {
        for _ in 0..8 {
            let barrier = barrier.clone();
            let db = &db;
            scope.spawn(move || {
                barrier.wait();
                let mut store = PgStore::open(&db.url, &env(), None).expect("every client opens the store");
                assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
            });
        }
    });
    let rows = db.sql().query("SELECT version FROM zenreg_schema ORDER BY version", &[]).unwrap();
    let versions: Vec<i32> = rows.iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, (1..=SCHEMA_VERSION as i32).collect::<Vec<_>>(), "each version applied exactly once");
}

#[test]
#[ignore = "needs PostgreSQL: run the README test command"]
fn a_newer_schema_is_refused() {
    let db = TestDb::new();
    drop(db.open(None));
    db.sql().execute("INSERT INTO zenreg_schema (version) VALUES ($1)", &[&(SCHEMA_VERSION as i32 + 1)]).unwrap();
    let error = PgStore::open(&db.url, &env(), None).unwrap_err();
    match &error.kind {
        PgErrorKind::TooNew { found, supported } => {
            assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION))
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("schema version") && message.contains(&db.name), "{message}");
    // Nothing was changed by the refused client.
    let count: i64 = db.sql().query_one("SELECT count(*) FROM zenreg_schema", &[]).unwrap().get(0);
    assert_eq!(count, SCHEMA_VERSION + 1);
}

/// Issue 22, item 8 (and issue 21): a connection error keeps the driver's cause, in its
/// message and in its chain of sources, and says whether the server could be reached.
#[test]
fn a_refused_connection_keeps_the_drivers_cause_in_its_chain() {
    let error =
        PgStore::open("postgresql://me:pw-7d1c@127.0.0.1:1/db?connect_timeout=2", &PgEnv::default(), None).unwrap_err();
    assert!(matches!(error.kind, PgErrorKind::Connect { unreachable: true, password_given: true, .. }), "{error:?}");
    let mut chain = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(cause) = next {
        chain.push(cause.to_string());
        next = cause.source();
    }
    assert!(chain.len() >= 4, "{chain:#?}");
    assert_eq!(chain[2], "error connecting to server");
    let last = chain.last().unwrap();
    assert!(error.to_string().ends_with(last.as_str()), "the cause is not in the message: {error}");
    assert!(chain.iter().all(|text| !text.contains("pw-7d1c")));
}

/// Issue 22, item 6: another application's `zenreg_schema` table is refused and left as it
/// was (zenreg used to insert its row into it and create its tables beside it).
#[test]
#[ignore = "needs PostgreSQL: run the README test command"]
fn another_applications_zenreg_schema_table_is_refused_and_left_untouched() {
    let db = TestDb::new();
    let mut sql = db.sql();
    sql.batch_execute(
        "CREATE TABLE zenreg_schema (version int, comment text); INSERT INTO zenreg_schema VALUES (0, 'theirs')",
    )
    .unwrap();
    let error = PgStore::open(&db.url, &env(), None).unwrap_err();
    match &error.kind {
        PgErrorKind::ForeignTable { table, columns } => {
            assert_eq!((*table, columns.as_str()), ("zenreg_schema", "version integer, comment text"))
        }
        other => panic!("{other:?}"),
    }
    assert!(error.to_string().contains("left untouched"), "{error}");
    let rows: Vec<(Option<i32>, Option<String>)> = sql
        .query("SELECT version, comment FROM zenreg_schema", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows, [(Some(0), Some("theirs".to_string()))]);
    let tables: i64 = sql
        .query_one("SELECT count(*) FROM pg_tables WHERE tablename IN ('zenreg_components', 'zenreg_secrets')", &[])
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "zenreg created its tables beside another application's");
}

#[test]
#[ignore = "needs PostgreSQL: run the README test command"]
fn concurrent_read_modify_writes_lose_nothing() {
    const THREADS: usize = 4;
    const UPDATES: usize = 50;
    let db = TestDb::new();
    let target = component("contended");
    db.open(None).write(|tx: TxE| tx.insert_component(&target).map(|_| ())).unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let barrier = barrier.clone();
            let db = &db;
            scope.spawn(move || {
                let mut store = db.open(None);
                barrier.wait();
                for update in 0..UPDATES {
                    store
                        .write(|tx: TxE| {
                            let mut current = tx.find_component(CR, "contended")?.expect("the component exists");
                            // Each thread owns one attribute and one label, and counts in both.
                            let count =
                                current.config.get(&format!("attr_{thread}")).and_then(|v| v.as_u64()).unwrap_or(0);
                            assert_eq!(count, update as u64, "thread {thread} saw its own last write");
                            current.config.insert(format!("attr_{thread}"), (count + 1).into());
                            current.labels.insert(format!("label_{thread}"), (count + 1).to_string());
                            assert_eq!(tx.update_component(&current)?, Written::Done);
                            Ok(())
                        })
                        .unwrap();
                }
            });
        }
    });
    let last = db.open(None).read(|tx: TxE| tx.find_component(CR, "contended")).unwrap().unwrap();
    for thread in 0..THREADS {
        assert_eq!(last.config[&format!("attr_{thread}")], UPDATES as u64, "{last:?}");
        assert_eq!(last.labels[&format!("label_{thread}")], UPDATES.to_string());
    }
    assert_eq!(last.config["uri"], target.config["uri"]);
    let revision: i64 =
        db.sql().query_one("SELECT revision FROM zenreg_components WHERE id = $1", &[&target.id]).unwrap().get(0);
    assert_eq!(revision, 1 + (THREADS * UPDATES) as i64);
}

#[test]
#[ignore = "needs PostgreSQL: run the README test command"]
fn a_connection_killed_mid_transaction_leaves_nothing_and_the_next_command_works() {
    let db = TestDb::new();
    let key = SecretsKey::generate().unwrap();
    let mut store = db.open(Some(&key));
    let pid = store.backend_pid().unwrap();
    let mut killer = db.sql();
    let (first, second, third) = (component("first"), component("second"), component("third"));
    let login = secret("login", &[("password", "pw")]);
    let error = store
        .write(|tx: TxE| {
            assert_eq!(tx.insert_component(&first)?, Written::Done);
            assert_eq!(tx.put_secret(&login)?, Written::Done);
            assert_eq!(tx.insert_component(&second)?, Written::Done);
            let ended: bool = killer.query_one("SELECT pg_terminate_backend($1)", &[&pid]).unwrap().get(0);
            assert!(ended);
            assert_eq!(tx.insert_component(&third)?, Written::Done);
            Ok(())
        })
        .unwrap_err();
    let kind = kind(error);
    assert!(matches!(kind, PgErrorKind::ConnectionLost { during_commit: false }), "{kind:?}");
    assert!(kind.to_string().contains("nothing of this command was written"), "{kind}");
    let mut sql = db.sql();
    let components: i64 = sql.query_one("SELECT count(*) FROM zenreg_components", &[]).unwrap().get(0);
    let secrets: i64 = sql.query_one("SELECT count(*) FROM zenreg_secrets", &[]).unwrap().get(0);
    assert_eq!((components, secrets), (0, 0), "nothing half-written");
    // The same store reconnects for the next command.
    store.write(|tx: TxE| tx.insert_component(&third).map(|_| ())).unwrap();
    assert_ne!(store.backend_pid().unwrap(), pid);
    assert_eq!(store.read(|tx: TxE| tx.list_components(CR, None)).unwrap().len(), 1);
}

#[test]
#[ignore = "needs PostgreSQL: run the README test command"]
fn tls_with_verify_full_against_the_test_ca() {
    // The TLS server refuses every connection without TLS (pg_hba `hostnossl … reject`), so
    // anything that works here went through TLS. Only this test uses that server's database;
    // its component has a name of its own and is removed at the end.
    let url = variable("ZENREG_PG_TLS_URL");
    assert!(url.contains("sslmode=verify-full"), "{url}");
    let key = SecretsKey::generate().unwrap();
    let mut store = PgStore::open(&url, &env(), Some(key)).expect("verify-full against the test CA connects");
    let c = component(&format!("over-tls-{}", uuid::Uuid::new_v4().simple()));
    store.write(|tx: TxE| tx.insert_component(&c).map(|_| ())).unwrap();
    let login = secret(&format!("tls-login-{}", uuid::Uuid::new_v4().simple()), &[("password", "pw")]);
    store.write(|tx: TxE| tx.put_secret(&login).map(|_| ())).unwrap();
    assert_eq!(store.read(|tx: TxE| tx.find_component(CR, &c.name)).unwrap().as_ref(), Some(&c));
    assert_eq!(store.read(|tx: TxE| tx.find_secret(&login.name)).unwrap().as_ref(), Some(&login));
    store
        .write(|tx: TxE| {
            tx.delete_component(&c.id)?;
            tx.delete_secret(&login.id)?;
            Ok(())
        })
        .unwrap();
    drop(store);

    // Plain TCP to the TLS-only server is refused by the server.
    let plain = PgStore::open(&url.replace("sslmode=verify-full", "sslmode=disable"), &env(), None).unwrap_err();
    assert!(matches!(plain.kind, PgErrorKind::Authentication { .. }), "{plain:?}");
    // A CA that did not sign the server's certificate is refused by the client.
    let ca = variable("ZENREG_PG_CA");
    let wrong_ca = std::path::Path::new(&ca).with_file_name("server.crt");
    let refused = PgStore::open(&url.replace(&ca, &wrong_ca.display().to_string()), &env(), None).unwrap_err();
    assert!(matches!(refused.kind, PgErrorKind::Tls { .. }), "{refused:?}");
    // verify-full without any CA says what to give.
    let no_ca = url.split('&').next().unwrap().to_string();
    let missing = PgStore::open(&no_ca, &PgEnv { home: Some("/nonexistent".into()), ..env() }, None).unwrap_err();
    assert!(missing.to_string().contains("sslrootcert"), "{missing}");
    // require encrypts without checking the certificate.
    let require = no_ca.replace("verify-full", "require");
    PgStore::open(&require, &env(), None).expect("sslmode=require connects").info().unwrap();
    // verify-ca checks the chain (the name is not compared): the test CA passes, another fails.
    let verify_ca = url.replace("verify-full", "verify-ca");
    PgStore::open(&verify_ca, &env(), None).expect("verify-ca against the test CA connects").info().unwrap();
    let refused = PgStore::open(&verify_ca.replace(&ca, &wrong_ca.display().to_string()), &env(), None).unwrap_err();
    assert!(matches!(refused.kind, PgErrorKind::Tls { .. }), "{refused:?}");
}

#[test]
#[ignore = "needs PostgreSQL: run the README test command"]
fn the_password_is_never_in_error_text() {
    let db = TestDb::new();
    let sentinel = "Sentinel-pw-8832";
    let base = variable("ZENREG_PG_URL");
    let with_password =
        |url: &str| url.replacen("postgresql://zenreg@", &format!("postgresql://zenreg:{sentinel}@"), 1);
    let no_env = PgEnv::default();
    let mut errors: Vec<PostgresError> = Vec::new();
    // A wrong password in the URL.
    errors.push(PgStore::open(&with_password(&db.url), &no_env, None).unwrap_err());
    // A wrong password from PGPASSWORD.
    errors.push(
        PgStore::open(&db.url, &PgEnv { password: Some(sentinel.into()), ..PgEnv::default() }, None).unwrap_err(),
    );
    // A URL that does not parse.
    errors.push(PgStore::open(&format!("{}&sslmode=bogus", with_password(&db.url)), &no_env, None).unwrap_err());
    errors.push(PgStore::open(&with_password(&db.url).replace(":5433", ":notaport"), &no_env, None).unwrap_err());
    // The right password in the URL but a database that does not exist, and a closed port.
    let right = base.replacen("postgresql://zenreg@", &format!("postgresql://zenreg:{}@", password()), 1);
    errors.push(PgStore::open(&with_database(&right, "zenreg_no_such_db"), &no_env, None).unwrap_err());
    errors.push(PgStore::open(&right.replace(":5433", ":1"), &no_env, None).unwrap_err());
    assert!(matches!(errors[0].kind, PgErrorKind::Authentication { .. }), "{:?}", errors[0]);
    assert!(matches!(errors[1].kind, PgErrorKind::Authentication { .. }), "{:?}", errors[1]);
    assert!(matches!(errors[2].kind, PgErrorKind::InvalidUrl { .. }), "{:?}", errors[2]);
    for error in &errors {
        for text in [error.to_string(), format!("{error:?}")] {
            assert!(!text.contains(sentinel) && !text.contains(&password()), "password in: {text}");
        }
    }
    // A store opened with a password in its URL shows the URL without it.
    let store = PgStore::open(&with_database(&right, &db.name), &no_env, None).unwrap();
    assert!(!store.location().contains(&password()) && !format!("{store:?}").contains(&password()));
    assert!(store.location().starts_with("postgresql://zenreg@127.0.0.1:"), "{}", store.location());
}

fn pg_dump(db: &TestDb) -> String {
    let bin = ["/usr/lib/postgresql/15/bin/pg_dump", "pg_dump"]
        .into_iter()
        .find(|p| !p.starts_with('/') || std::path::Path::new(p).exists())
        .unwrap();
    let output =
        std::process::Command::new(bin).arg(&db.url).env("PGPASSWORD", password()).output().expect("pg_dump runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
#[ignore = "needs PostgreSQL: run the README test command"]
fn no_secret_value_is_stored_in_plaintext() {
    let db = TestDb::new();
    let key = SecretsKey::generate().unwrap();
    let mut store = db.open(Some(&key));
    let value = "plaintext-canary-4417";
    store.write(|tx: TxE| tx.put_secret(&secret("registry-login", &[("password", value)])).map(|_| ())).unwrap();
    let entries: String = db.sql().query_one("SELECT entries::text FROM zenreg_secrets", &[]).unwrap().get(0);
    assert!(!entries.contains(value) && entries.contains("password") && entries.contains("zenreg:v1:"), "{entries}");
    let dump = pg_dump(&db);
    assert!(dump.contains("registry-login"), "the dump holds the secret's row");
    assert!(!dump.contains(value), "a value in the dump");
    // And it reads back.
    let read = store.read(|tx: TxE| tx.find_secret("registry-login")).unwrap().unwrap();
    assert_eq!(read.values["password"].expose_secret(), value);
}

#[test]
#[ignore = "needs PostgreSQL: run the README test command"]
fn a_wrong_or_missing_key_is_a_clear_error_and_changes_nothing() {
    let db = TestDb::new();
    let right = SecretsKey::generate().unwrap();
    let wrong = SecretsKey::generate().unwrap();
    db.open(Some(&right)).write(|tx: TxE| tx.put_secret(&secret("login", &[("password", "pw")])).map(|_| ())).unwrap();
    let before: String = db.sql().query_one("SELECT entries::text FROM zenreg_secrets", &[]).unwrap().get(0);

    let mut teammate = db.open(Some(&wrong));
    let error = teammate.read(|tx: TxE| tx.find_secret("login")).unwrap_err();
    let message = match kind(error) {
        kind @ PgErrorKind::Secrets { source: CryptoError::WrongKey { .. }, .. } => kind.to_string(),
        other => panic!("expected a wrong-key error, got {other:?}"),
    };
    assert!(message.contains("wrong key") && message.contains("login"), "{message}");
    // A write that reads the secret fails whole; rekeying from the wrong key fails whole.
    let other = component("other");
    let error = teammate
        .write(|tx: TxE| {
            assert_eq!(tx.insert_component(&other)?, Written::Done);
            tx.find_secret("login")?;
            Ok(())
        })
        .unwrap_err();
    assert!(matches!(kind(error), PgErrorKind::Secrets { .. }));
    let error = teammate.rekey(&SecretsKey::generate().unwrap()).unwrap_err();
    assert!(matches!(error.kind, PgErrorKind::Secrets { source: CryptoError::WrongKey { .. }, .. }), "{error:?}");

    let mut keyless = db.open(None);
    let error = keyless.read(|tx: TxE| tx.list_secrets()).unwrap_err();
    assert!(matches!(kind(error), PgErrorKind::Secrets { source: CryptoError::NoKey, .. }));
    // Names and key names stay readable without the key.
    let summaries = keyless.read(|tx: TxE| tx.secret_summaries()).unwrap();
    assert_eq!(summaries[0].keys, ["password"]);
    let error = keyless.write(|tx: TxE| tx.put_secret(&secret("new", &[("k", "v")]))).unwrap_err();
    assert!(matches!(kind(error), PgErrorKind::Secrets { source: CryptoError::NoKey, .. }));

    let mut sql = db.sql();
    let after: String = sql.query_one("SELECT entries::text FROM zenreg_secrets", &[]).unwrap().get(0);
    assert_eq!(before, after, "the secret is unchanged");
    let counts: (i64, i64) = {
        let row = sql
            .query_one("SELECT (SELECT count(*) FROM zenreg_components), (SELECT count(*) FROM zenreg_secrets)", &[])
            .unwrap();
        (row.get(0), row.get(1))
    };
    assert_eq!(counts, (0, 1));
    assert_eq!(
        db.open(Some(&right)).read(|tx: TxE| tx.find_secret("login")).unwrap().unwrap().values["password"]
            .expose_secret(),
        "pw"
    );
}

#[test]
#[ignore = "needs PostgreSQL: run the README test command"]
fn rekey_moves_every_value_in_one_transaction() {
    let db = TestDb::new();
    let old = SecretsKey::generate().unwrap();
    let new = SecretsKey::generate().unwrap();
    let mut store = db.open(Some(&old));
    store
        .write(|tx: TxE| {
            assert_eq!(tx.put_secret(&secret("a", &[("password", "1")]))?, Written::Done);
            assert_eq!(tx.put_secret(&secret("b", &[("password", "2"), ("username", "me")]))?, Written::Done);
            Ok(())
        })
        .unwrap();
    // A secret sealed under a third key makes the rekey fail: nothing is rekeyed, and the old
    // key still opens everything it opened.
    let third = SecretsKey::generate().unwrap();
    // Written through the store, it is refused: the store's values are under another key.
    let foreign = secret("z-foreign", &[("k", "v")]);
    let refused = db.open(Some(&third)).write(|tx: TxE| tx.put_secret(&foreign).map(|_| ())).unwrap_err();
    assert!(
        matches!(
            &refused,
            TestError::Pg(PostgresError {
                kind: PgErrorKind::Secrets { source: CryptoError::WrongKey { .. }, .. },
                ..
            })
        ),
        "{refused:?}"
    );
    // So it is written the way a store shared with a misconfigured older client could hold it.
    let entries =
        serde_json::to_string(&zenreg_store::crypto::seal_entries(&third, &foreign.id, &foreign.values).unwrap())
            .unwrap();
    db.sql()
        .execute(
            "INSERT INTO zenreg_secrets (id, name, entries, sealed, created, updated) \
             VALUES ($1, $2, $3::text::json, true, $4, $5)",
            &[&foreign.id, &foreign.name, &entries, &foreign.created, &foreign.updated],
        )
        .unwrap();
    let stored = || -> Vec<String> {
        let rows = db.sql().query("SELECT entries::text FROM zenreg_secrets ORDER BY name", &[]).unwrap();
        rows.iter().map(|r| r.get(0)).collect()
    };
    let before = stored();
    assert!(store.rekey(&new).is_err());
    assert_eq!(before, stored(), "a failed rekey changes nothing");
    assert_eq!(store.read(|tx: TxE| tx.find_secret("b")).unwrap().unwrap().values["username"].expose_secret(), "me");

    db.sql().execute("DELETE FROM zenreg_secrets WHERE name = 'z-foreign'", &[]).unwrap();
    assert_eq!(store.rekey(&new).unwrap(), 2);
    assert_eq!(store.key().unwrap().unwrap().fingerprint(), new.fingerprint());
    let opened = db.open(Some(&new)).read(|tx: TxE| tx.list_secrets()).unwrap();
    assert_eq!(opened.iter().map(|s| s.values["password"].expose_secret()).collect::<Vec<_>>(), ["1", "2"]);
    let error = db.open(Some(&old)).read(|tx: TxE| tx.list_secrets()).unwrap_err();
    assert!(matches!(kind(error), PgErrorKind::Secrets { source: CryptoError::WrongKey { .. }, .. }));
}

#[test]
#[ignore = "needs PostgreSQL: run the README test command"]
fn legacy_plaintext_values_are_sealed_by_the_first_write() {
    let db = TestDb::new();
    let key = SecretsKey::generate().unwrap();
    let mut store = db.open(Some(&key));
    db.sql()
        .execute(
            "INSERT INTO zenreg_secrets (id, name, entries, sealed, created, updated)
             VALUES ('legacy-id', 'legacy', '{\"password\":\"old-plain-77\"}', false, '', '')",
            &[],
        )
        .unwrap();
    // Readable as it is, even without a key.
    let read = db.open(None).read(|tx: TxE| tx.find_secret("legacy")).unwrap().unwrap();
    assert_eq!(read.values["password"].expose_secret(), "old-plain-77");
    // A reader does not rewrite it; the first write (of anything) seals it.
    store.read(|tx: TxE| tx.list_secrets()).unwrap();
    let sealed: bool = db.sql().query_one("SELECT sealed FROM zenreg_secrets", &[]).unwrap().get(0);
    assert!(!sealed);
    store.write(|tx: TxE| tx.insert_component(&component("any")).map(|_| ())).unwrap();
    let row = db.sql().query_one("SELECT sealed, entries::text FROM zenreg_secrets", &[]).unwrap();
    let (sealed, entries): (bool, String) = (row.get(0), row.get(1));
    assert!(sealed && !entries.contains("old-plain-77"), "{entries}");
    assert_eq!(
        store.read(|tx: TxE| tx.find_secret("legacy")).unwrap().unwrap().values["password"].expose_secret(),
        "old-plain-77"
    );
}
