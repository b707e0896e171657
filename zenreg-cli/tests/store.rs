//! The store file under stress: many processes writing at once, files that are not zenreg
//! stores (left byte-for-byte untouched), a damaged store, and writers killed with SIGKILL.

#[macro_use]
mod common;

use common::{Backend, Env, Rng, TempDir};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Barrier};
use zenreg_aws_config as _;
use zenreg_core::{Catalog, ComponentType};

/// A read-only connection that waits for a lock a just-killed process may still hold.
fn read_only(path: &Path) -> rusqlite::Connection {
    let db = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    db.busy_timeout(std::time::Duration::from_secs(10)).unwrap();
    db
}

/// `PRAGMA integrity_check` through a separate read-only connection (`ok` when healthy).
fn integrity_check(path: &Path) -> String {
    let db = read_only(path);
    let mut statement = db.prepare("PRAGMA integrity_check").unwrap();
    let lines: Result<Vec<String>, _> = statement.query_map([], |r| r.get(0)).unwrap().collect();
    lines.map_or_else(|error| format!("failed: {error}"), |lines| lines.join("\n"))
}

/// Every row of the store, checked to be whole: its config parses and passes its flavor's
/// validation unchanged, its labels parse. Returns (name, config).
fn whole_rows(path: &Path) -> Vec<(String, serde_json::Map<String, Value>)> {
    let db = read_only(path);
    let mut statement = db.prepare("SELECT name, flavor, config, labels FROM components ORDER BY name").unwrap();
    let rows: Vec<(String, String, String, String)> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    rows.into_iter()
        .map(|(name, flavor, config, labels)| {
            let config: serde_json::Map<String, Value> =
                serde_json::from_str(&config).unwrap_or_else(|e| panic!("{name}: config is not JSON ({e})"));
            let _: std::collections::BTreeMap<String, String> =
                serde_json::from_str(&labels).unwrap_or_else(|e| panic!("{name}: labels are not JSON ({e})"));
            let entry = Catalog::global().flavor(ComponentType::ContainerRegistry, &flavor).unwrap();
            let validated = (entry.descriptor.config.validate)(&config)
                .unwrap_or_else(|e| panic!("{name}: stored config does not validate: {e}"));
            assert_eq!(validated, config, "{name}: stored config is not normalised");
            (name, config)
        })
        .collect()
}

fn side_files(path: &Path) -> Vec<PathBuf> {
    ["-wal", "-shm", "-journal"]
        .iter()
        .map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        })
        .filter(|p| p.exists())
        .collect()
}

/// Runs `processes` shell loops at once, each running `zenreg --store $STORE ARGS` `each` times
/// (`ARGS` sees `$P`, the process's number, and `$i`, the round's); fails naming the process
/// whose loop failed, with its stderr.
fn run_processes(env: &Env, processes: usize, each: usize, args: &str) {
    let script =
        format!("i=0; while [ $i -lt {each} ]; do \"$ZENREG\" --store \"$STORE\" {args} || exit 1; i=$((i+1)); done");
    let start = Arc::new(Barrier::new(processes));
    let runs: Vec<_> = (0..processes)
        .map(|p| {
            let start = Arc::clone(&start);
            let log = env.dir().join(format!("process-{p}.err"));
            let mut command = env.shell(&format!("{script} 2>>\"$LOG\""));
            command.env("P", p.to_string()).env("LOG", &log);
            std::thread::spawn(move || {
                start.wait();
                (command.status().unwrap(), log)
            })
        })
        .collect();
    for (p, handle) in runs.into_iter().enumerate() {
        let (status, log) = handle.join().unwrap();
        let errors = std::fs::read_to_string(log).unwrap_or_default();
        assert!(status.success(), "process {p} failed: {errors}");
        let unexpected: Vec<&str> =
            errors.lines().filter(|l| !l.starts_with("Registered ") && !l.starts_with("Updated ")).collect();
        assert!(unexpected.is_empty(), "process {p}: {unexpected:?}");
    }
}

fn eight_processes_registering_fifty_each_end_with_four_hundred(backend: Backend) {
    let env = Env::on(backend);
    const WRITERS: usize = 8;
    const EACH: usize = 50;
    // A store file does not exist yet, and a database has no schema yet: the writers also race
    // to create and migrate it.
    run_processes(
        &env,
        WRITERS,
        EACH,
        "container-registry register w$P-$i --flavor default --uri=localhost:5000 --label writer=$P",
    );
    let list = env.list();
    assert_eq!(list.len(), WRITERS * EACH);
    for writer in 0..WRITERS {
        let label = writer.to_string();
        let count = list.iter().filter(|c| c["labels"]["writer"] == label.as_str()).count();
        assert_eq!(count, EACH, "writer {writer}");
    }
    match env.pg() {
        Some(db) => {
            let count: i64 = db.sql().query_one("SELECT count(*) FROM zenreg_components", &[]).unwrap().get(0);
            assert_eq!(count, 400);
        }
        None => {
            let count: i64 = env.db().query_row("SELECT count(*) FROM components", [], |r| r.get(0)).unwrap();
            assert_eq!(count, 400);
            assert_eq!(integrity_check(env.store()), "ok");
            assert_eq!(whole_rows(env.store()).len(), 400);
        }
    }
}

/// Four processes change one component 50 times each, each its own labels (`w0-0` … `w3-49`):
/// a read-modify-write that overwrote a concurrent one would lose the other's label for good.
fn four_processes_updating_one_component_lose_no_update(backend: Backend) {
    let env = Env::on(backend);
    env.register("shared", "localhost:5000");
    const PROCESSES: usize = 4;
    const EACH: usize = 50;
    run_processes(&env, PROCESSES, EACH, "container-registry update shared --label w$P-$i=$i");
    let labels = env.describe("shared")["labels"].as_object().unwrap().clone();
    assert_eq!(labels.len(), PROCESSES * EACH, "updates were lost: {labels:?}");
    for p in 0..PROCESSES {
        for i in 0..EACH {
            assert_eq!(labels[&format!("w{p}-{i}")], i.to_string());
        }
    }
}

on_both_backends!(
    eight_processes_registering_fifty_each_end_with_four_hundred,
    four_processes_updating_one_component_lose_no_update
);

#[test]
fn a_new_store_is_private() {
    let dir = TempDir::new();
    // The default location's folders are created, private (`$ZENREG_HOME/zenreg.db`).
    let home = dir.path().join("a").join("b");
    let store = home.join("zenreg.db");
    let register = Command::new(common::ZENREG)
        .args(["container-registry", "register", "r", "--flavor", "default", "--uri=localhost:5000"])
        .env_remove("ZENREG_STORE")
        .env("ZENREG_HOME", &home)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(register.status.success(), "{}", String::from_utf8_lossy(&register.stderr));
    let env = Env::with_store(dir, store.clone());
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&store), 0o600);
    assert_eq!(mode(store.parent().unwrap()), 0o700);
    assert_eq!(mode(store.parent().unwrap().parent().unwrap()), 0o700);
    // Reads of an existing store create nothing new and leave no side files behind.
    env.ok(&["container-registry", "list"]);
    assert_eq!(side_files(&store), Vec::<PathBuf>::new());
    assert_eq!(mode(&store), 0o600);
    // An existing directory keeps its own mode.
    let dir = TempDir::new();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = dir.path().join("zenreg.db");
    let env = Env::with_store(dir, store.clone());
    env.register("r", "localhost:5000");
    assert_eq!(mode(&store), 0o600);
    assert_eq!(mode(store.parent().unwrap()), 0o755);
}

/// Runs a reading and a writing command on `path` and checks both fail with one `error:` line
/// (and a hint), and that the file and its side files are exactly as before.
fn assert_refused_untouched(path: &Path, expected: &str) {
    let dir = TempDir::new();
    let env = Env::with_store(dir, path.to_path_buf());
    let before = std::fs::read(path).unwrap();
    let sides_before: Vec<(PathBuf, Vec<u8>)> =
        side_files(path).into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect();
    for args in [
        &["container-registry", "list"][..],
        &["container-registry", "register", "x", "--flavor", "default", "--uri=localhost:5000"],
        &["secret", "create", "s", "--a=b"],
        &["container-registry", "delete", "x", "--yes"],
    ] {
        let run = env.run(args);
        let line = run.failure();
        assert!(line.contains(expected), "{args:?}: `{expected}` is not in `{line}`");
        assert!(run.hint().is_some(), "{args:?}: no hint: {}", run.stderr);
        assert!(std::fs::read(path).unwrap() == before, "{args:?} changed {}", path.display());
        let sides: Vec<PathBuf> = side_files(path);
        let expected_sides: Vec<PathBuf> = sides_before.iter().map(|(p, _)| p.clone()).collect();
        // A leftover WAL that was there already may gain SQLite's shared-memory index (-shm),
        // which holds no data; anything else must be as it was.
        let sides: Vec<PathBuf> = sides
            .into_iter()
            .filter(|p| expected_sides.contains(p) || !p.to_string_lossy().ends_with("-shm"))
            .collect();
        assert_eq!(sides, expected_sides, "{args:?} left side files");
        for (side, bytes) in &sides_before {
            assert!(std::fs::read(side).unwrap() == *bytes, "{args:?} changed {}", side.display());
        }
    }
}

#[test]
fn files_that_are_not_zenreg_stores_are_refused_and_untouched() {
    let dir = TempDir::new();
    let mut rng = Rng::new(0x5eed);

    let random = dir.path().join("random.db");
    std::fs::write(&random, rng.bytes(10_000)).unwrap();
    assert_refused_untouched(&random, "is not a zenreg store: it is not an SQLite database");

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "just some text\nnot a database\n").unwrap();
    assert_refused_untouched(&text, "is not a zenreg store: it is not an SQLite database");

    // Starts like SQLite, then is not.
    let fake = dir.path().join("fake.db");
    let mut bytes = b"SQLite format 3\0".to_vec();
    bytes.extend(rng.bytes(8192));
    std::fs::write(&fake, bytes).unwrap();
    assert_refused_untouched(&fake, "is not a zenreg store");

    // Another application's database, in each journal mode.
    for mode in ["DELETE", "WAL"] {
        let foreign = dir.path().join(format!("foreign-{mode}.db"));
        let db = rusqlite::Connection::open(&foreign).unwrap();
        db.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |_| Ok(())).unwrap();
        db.execute_batch(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes (body) VALUES ('x');",
        )
        .unwrap();
        drop(db);
        assert_eq!(side_files(&foreign), Vec::<PathBuf>::new());
        assert_refused_untouched(&foreign, "is not a zenreg store: it is another application's SQLite database");
    }

    // Another application's database with an application id and no tables yet.
    let tagged = dir.path().join("tagged.db");
    let db = rusqlite::Connection::open(&tagged).unwrap();
    db.execute_batch("PRAGMA application_id = 1234; PRAGMA user_version = 7;").unwrap();
    drop(db);
    assert_refused_untouched(&tagged, "is not a zenreg store: it is another application's SQLite database");
}

#[test]
fn a_foreign_database_with_a_leftover_wal_is_not_checkpointed() {
    // A WAL-mode database whose last writes are still in its WAL (its program crashed or is
    // running): opening it must not move those writes into the file or delete the WAL.
    let dir = TempDir::new();
    let live = dir.path().join("live.db");
    let db = rusqlite::Connection::open(&live).unwrap();
    db.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())).unwrap();
    db.execute_batch("PRAGMA wal_autocheckpoint = 0; CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
    let copy = dir.path().join("copy.db");
    std::fs::copy(&live, &copy).unwrap();
    std::fs::copy(dir.path().join("live.db-wal"), dir.path().join("copy.db-wal")).unwrap();
    drop(db);
    assert!(std::fs::metadata(dir.path().join("copy.db-wal")).unwrap().len() > 0);
    assert_refused_untouched(&copy, "is not a zenreg store: it is another application's SQLite database");
}

#[test]
fn an_empty_file_or_an_empty_database_becomes_a_store() {
    let dir = TempDir::new();
    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, "").unwrap();
    let env = Env::with_store(dir, empty.clone());
    env.register("r", "localhost:5000");
    assert_eq!(env.names(), ["r"]);

    let dir = TempDir::new();
    let blank = dir.path().join("blank.db");
    rusqlite::Connection::open(&blank).unwrap().execute_batch("PRAGMA user_version = 0; VACUUM;").unwrap();
    let env = Env::with_store(dir, blank);
    env.register("r", "localhost:5000");
    assert_eq!(env.names(), ["r"]);
}

#[test]
fn a_store_from_a_newer_zenreg_is_refused_and_untouched() {
    // In WAL mode, and in rollback mode: switching the latter to WAL before refusing it changed
    // its header (found by the `store_open` fuzz target).
    for mode in ["WAL", "DELETE"] {
        let env = Env::new();
        env.register("r", "localhost:5000");
        let db = rusqlite::Connection::open(env.store()).unwrap();
        db.execute_batch("PRAGMA user_version = 99;").unwrap();
        db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        db.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |_| Ok(())).unwrap();
        drop(db);
        let before = std::fs::read(env.store()).unwrap();
        let run = env.run(&["container-registry", "list"]);
        run.fails_with(&format!(
            "error: `{}` has store schema version 99; this zenreg knows up to 1",
            env.store().display()
        ));
        assert_eq!(run.hint(), Some("hint: upgrade zenreg, or use another store with `--store`"));
        assert!(std::fs::read(env.store()).unwrap() == before, "journal mode {mode}: the store was changed");
    }
}

#[test]
fn a_zenreg_store_with_tables_but_no_schema_version_is_refused_and_untouched() {
    // Found by the `store_open` fuzz target: the failed migration came after the switch to WAL.
    for mode in ["WAL", "DELETE"] {
        let env = Env::new();
        env.register("r", "localhost:5000");
        let db = rusqlite::Connection::open(env.store()).unwrap();
        db.execute_batch("PRAGMA user_version = 0;").unwrap();
        db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        db.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |_| Ok(())).unwrap();
        drop(db);
        let before = std::fs::read(env.store()).unwrap();
        env.run(&["container-registry", "list"]).fails_with(&format!(
            "error: `{}` is not a zenreg store: it is damaged: schema version 0 with 7 schema objects",
            env.store().display()
        ));
        assert!(std::fs::read(env.store()).unwrap() == before, "journal mode {mode}: the store was changed");
    }
}

/// Builds a store of `n` components with large configs (several pages) and no WAL.
fn store_with_pages(env: &Env, n: usize) {
    let filler = "x".repeat(300);
    let mut client = zenreg_store::Client::open(env.store()).unwrap();
    for i in 0..n {
        let config = serde_json::json!({ "uri": "localhost:5000", "default_repository": format!("{i}/{filler}") });
        client
            .register_component(
                ComponentType::ContainerRegistry,
                &format!("c{i:03}"),
                "default",
                config.as_object().unwrap().clone(),
                Default::default(),
            )
            .unwrap();
    }
    drop(client);
    assert!(side_files(env.store()).is_empty(), "the last close checkpoints the WAL");
}

/// Page numbers of the b-tree pages of `table_or_index`, from SQLite's `dbstat`.
fn pages_of(path: &Path, name: &str) -> Vec<i64> {
    let db = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut statement = db.prepare("SELECT pageno FROM dbstat WHERE name = ?1 ORDER BY pageno").unwrap();
    statement.query_map([name], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

#[test]
fn a_damaged_store_gives_one_error_line_and_is_untouched() {
    for (what, damage) in [("a table page", "components"), ("an index page", "sqlite_autoindex_components_2")] {
        let env = Env::new();
        store_with_pages(&env, 60);
        assert_eq!(integrity_check(env.store()), "ok");
        let pages = pages_of(env.store(), damage);
        assert!(!pages.is_empty());
        let page = pages[pages.len() / 2];
        assert!(page > 1, "a later page");
        // Overwrite the cell area of that page (its header is left alone, as a bad sector or
        // a stray write would often leave it).
        let mut bytes = std::fs::read(env.store()).unwrap();
        let start = (page as usize - 1) * 4096 + 64;
        let noise = Rng::new(page as u64).bytes(3000);
        bytes[start..start + noise.len()].copy_from_slice(&noise);
        std::fs::write(env.store(), &bytes).unwrap();
        assert_ne!(integrity_check(env.store()), "ok", "{what}");

        for args in [
            &["container-registry", "list"][..],
            &["container-registry", "list", "--output", "json"],
            &["container-registry", "register", "new", "--flavor", "default", "--uri=localhost:5000"],
        ] {
            let run = env.run(args);
            let line = run.failure();
            assert_eq!(
                line,
                format!("error: store `{}`: database disk image is malformed", env.store().display()),
                "{what}: {args:?}"
            );
            assert!(run.hint().is_some_and(|h| h.contains("left untouched")), "{}", run.stderr);
            assert!(std::fs::read(env.store()).unwrap() == bytes, "{what}: {args:?} changed the file");
            assert_eq!(side_files(env.store()), Vec::<PathBuf>::new(), "{what}: {args:?}");
        }
    }
}

/// A writer that never stops: a shell loop of `zenreg` runs, in its own process group so that
/// one SIGKILL reaches whichever `zenreg` is writing at that moment. Killed on drop, so a
/// failing test leaves nothing running.
struct Writer(Option<Child>);

impl Writer {
    fn spawn(env: &Env, round: usize, files: &[PathBuf]) -> Writer {
        let files: Vec<String> = files.iter().map(|f| format!("\"{}\"", f.display())).collect();
        let script = format!(
            "n=0; while :; do for f in {files}; do \
               \"$ZENREG\" --store \"$STORE\" container-registry update big --default_repository=@$f 2>/dev/null; \
               \"$ZENREG\" --store \"$STORE\" container-registry register r{round}-$n --flavor default \
                 --uri=localhost:5000 --label round={round} 2>/dev/null; \
               n=$((n+1)); \
             done; done",
            files = files.join(" ")
        );
        let child = Command::new("sh")
            .args(["-c", &script])
            .env("ZENREG", common::ZENREG)
            .env("STORE", env.store())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        Writer(Some(child))
    }

    /// SIGKILL to the whole group: the shell and the `zenreg` it is running.
    fn kill(&mut self) {
        if let Some(mut child) = self.0.take() {
            let status = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", child.id())]).status();
            child.wait().unwrap();
            assert!(status.unwrap().success(), "kill failed");
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(child) = &self.0 {
            let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", child.id())]).status();
        }
    }
}

/// Polls the store until a component called `name` exists (a minute at most, for a broken binary).
fn wait_for_row(path: &Path, name: &str) {
    for _ in 0..6000 {
        let found = path.exists()
            && read_only(path)
                .query_row("SELECT count(*) FROM components WHERE name = ?1", [name], |r| r.get::<_, i64>(0))
                .is_ok_and(|n| n == 1);
        if found {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("`{name}` never appeared in {}", path.display());
}

#[test]
fn a_writer_killed_mid_write_leaves_whole_rows() {
    let env = Env::new();
    // Values of 256 KiB, each one letter repeated: a write spans many pages, and a torn one
    // would show as a value of mixed letters or the wrong length.
    const SIZE: usize = 256 * 1024;
    let files: Vec<PathBuf> = (b'a'..=b'f').map(|c| env.file(&format!("value-{}", c as char), vec![c; SIZE])).collect();
    env.ok(&[
        "container-registry",
        "register",
        "big",
        "--flavor",
        "default",
        "--uri=localhost:5000",
        &format!("--default_repository=@{}", files[0].display()),
    ]);
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    let mut rng = Rng::new(seed);
    for round in 0..6 {
        let mut writer = Writer::spawn(&env, round, &files);
        // Once the loop is under way (its first registration is in), kill it at a random moment.
        wait_for_row(env.store(), &format!("r{round}-0"));
        let delay = rng.range(5, 200);
        std::thread::sleep(std::time::Duration::from_millis(delay));
        writer.kill();

        let context = format!("round {round}, killed after {delay} ms (seed {seed})");
        assert_eq!(integrity_check(env.store()), "ok", "{context}");
        let rows = whole_rows(env.store());
        let big = &rows.iter().find(|(name, _)| name == "big").expect("`big` survives").1;
        let value = big["default_repository"].as_str().unwrap();
        assert_eq!(value.len(), SIZE, "{context}");
        let first = value.as_bytes()[0];
        assert!((b'a'..=b'f').contains(&first) && value.bytes().all(|b| b == first), "{context}: a torn value");
        // Writes are sequential, so the committed ones are r{round}-0, r{round}-1, … without a gap.
        let mut numbers: Vec<usize> =
            rows.iter().filter_map(|(name, _)| name.strip_prefix(&format!("r{round}-"))?.parse().ok()).collect();
        numbers.sort_unstable();
        assert_eq!(numbers, (0..numbers.len()).collect::<Vec<_>>(), "{context}: a lost write");
        // The binary opens it, lists everything and keeps writing to it.
        assert_eq!(env.list().len(), rows.len(), "{context}");
        env.ok(&["container-registry", "update", "big", &format!("--default_repository=@{}", files[1].display())]);
    }
    assert!(env.list().len() > 6, "every round registered something");
    assert_eq!(integrity_check(env.store()), "ok");
}
