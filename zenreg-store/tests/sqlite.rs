//! The store file in process: created private, opened by many threads at once, foreign and
//! too-new files refused and left byte-for-byte untouched.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use zenreg_store::{Store, StoreError};

struct TempDir(PathBuf);

impl TempDir {
    fn new(label: &str) -> TempDir {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("sqlite-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn a_new_store_is_private_and_healthy() {
    let dir = TempDir::new("new");
    let path = dir.0.join("nested").join("zenreg.db");
    // An explicit store's folder is not created (issue 22): a typo never becomes folders.
    let refused = Store::open(&path).unwrap_err();
    assert!(
        matches!(&refused, StoreError::MissingFolder { folder, .. } if folder == path.parent().unwrap()),
        "{refused:?}"
    );
    assert!(!path.parent().unwrap().exists());
    std::os::unix::fs::DirBuilderExt::mode(&mut std::fs::DirBuilder::new(), 0o700)
        .create(path.parent().unwrap())
        .unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.path(), path);
    assert_eq!(store.integrity_check().unwrap(), "ok");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    drop(store);
    // Opening again finds the schema in place.
    assert_eq!(Store::open(&path).unwrap().integrity_check().unwrap(), "ok");
}

#[test]
fn many_threads_creating_one_store_at_once_all_succeed() {
    let dir = TempDir::new("race");
    let path = dir.0.join("zenreg.db");
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || Store::open(&path).map(|store| store.integrity_check().unwrap()))
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().unwrap().unwrap(), "ok");
    }
}

#[test]
fn a_file_that_is_not_a_store_is_refused_and_left_untouched() {
    let dir = TempDir::new("foreign");
    let text = dir.0.join("notes.txt");
    std::fs::write(&text, "not a database, but precious\n".repeat(10)).unwrap();
    let before = std::fs::read(&text).unwrap();
    let error = Store::open(&text).unwrap_err();
    assert!(matches!(error, StoreError::NotAStore { .. }), "{error}");
    assert!(error.to_string().contains("is not a zenreg store"), "{error}");
    assert_eq!(std::fs::read(&text).unwrap(), before);
    assert!(!dir.0.join("notes.txt-wal").exists());
}

#[test]
fn a_store_from_a_newer_zenreg_is_refused() {
    let dir = TempDir::new("newer");
    let path = dir.0.join("zenreg.db");
    drop(Store::open(&path).unwrap());
    {
        let connection = rusqlite::Connection::open(&path).unwrap();
        connection.execute_batch("PRAGMA user_version = 999;").unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    match Store::open(&path).unwrap_err() {
        StoreError::TooNew { found, supported, .. } => assert_eq!((found, supported), (999, 1)),
        other => panic!("expected TooNew, got {other}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
}
