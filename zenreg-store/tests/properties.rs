//! Property tests of the store through the `Client` API on real SQLite files: whatever valid
//! name, labels and values go in come back unchanged from a lookup by name, by id and from the
//! listing; and every invalid input leaves the store file and its log byte-identical.

use proptest::prelude::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use zenreg_core::{ComponentType, SecretString};
use zenreg_store::{Client, Labels};

const CR: ComponentType = ComponentType::ContainerRegistry;

/// A fresh store path under cargo's scratch directory for integration tests.
fn fresh_store() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "zenreg-props-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    // An explicit store's folder must exist.
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("zenreg.db")
}

/// The bytes of the store file and its write-ahead log (the shared-memory index changes on
/// reads, so it is not part of the store's content).
fn snapshot(path: &Path) -> (Vec<u8>, Vec<u8>) {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    (std::fs::read(path).unwrap(), std::fs::read(PathBuf::from(wal)).unwrap_or_default())
}

/// Valid names: any script, spaces and punctuation, never of the form of an id.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ._/@ü名é-]{1,40}".prop_filter("not id-like", |n| !zenreg_store::looks_like_id(n))
}

fn labels() -> impl Strategy<Value = Labels> {
    // Values may hold anything, control characters included: they are stored as given.
    prop::collection::btree_map("[a-z][a-z0-9_.-]{0,10}", any::<String>(), 0..4)
}

fn object(value: Value) -> zenreg_core::JsonObject {
    match value {
        Value::Object(object) => object,
        _ => unreachable!("an object literal"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn register_then_describe_and_list_round_trip(name in name(), labels in labels(), repository in "[a-z0-9]{1,12}(/[a-z0-9]{1,8}){0,2}") {
        let path = fresh_store();
        let mut client = Client::open(&path).unwrap();
        let config = object(json!({ "uri": "localhost:5000/", "default_repository": repository }));
        let registered = client.register_component(CR, &name, "default", config, labels.clone()).unwrap().component;
        let by_name = client.component(CR, &name).unwrap();
        let by_id = client.component(CR, &registered.id).unwrap();
        let listed = client.components(CR, None).unwrap();
        prop_assert_eq!(&by_name, &registered);
        prop_assert_eq!(&by_id, &registered);
        prop_assert_eq!(listed.as_slice(), std::slice::from_ref(&registered));
        prop_assert_eq!(&by_name.name, &name);
        prop_assert_eq!(&by_name.labels, &labels);
        prop_assert_eq!(by_name.config["uri"].as_str(), Some("localhost:5000"));
        prop_assert_eq!(by_name.config["default_repository"].as_str(), Some(repository.as_str()));
        // And from another connection, as another process would read it.
        drop(client);
        let reopened = Client::open(&path).unwrap();
        prop_assert_eq!(reopened.component(CR, &name).unwrap(), registered);
    }

    #[test]
    fn invalid_input_leaves_the_store_byte_identical(
        bad_name in prop_oneof![
            Just(String::new()),
            "[a-z]{0,3}[\u{0}-\u{1f}\u{7f}\u{202e}][a-z]{0,3}",
            "[0-9a-f-]{8,36}",
            "[a-z]{256,300}",
        ],
        bad_label in prop_oneof!["[a-z]{0,3}[ =\t\u{1b}][a-z]{0,3}", Just(String::new())],
        bad_uri in prop_oneof![
            Just(String::new()),
            "\\{\"[a-z]{1,3}\":[0-9]\\}",
            "\\[[0-9],[0-9]\\]",
            "\\{\\{[a-z]\\.[a-z]\\}\\}:5000",
            "[a-z]{1,5} [a-z]{1,5}",
            "https://[a-z]{1,8}",
            "[a-z]{256,300}",
        ],
        bad_secret in prop_oneof![Just(String::new()), "[a-z]{1,3} [a-z]{1,3}", "\\{\\{[a-z]\\.[a-z]\\}\\}"],
        bad_reference in prop_oneof!["\\{\\{\\{\\{[a-z]\\.[a-z]\\}\\}\\}\\}", "\\{\\{[a-z]\\.[a-z]\\}\\}\\{\\{[a-z]\\.[a-z]\\}\\}"],
    ) {
        let path = fresh_store();
        let mut client = Client::open(&path).unwrap();
        let good = |extra: Value| {
            let mut config = object(json!({ "uri": "localhost:5000" }));
            config.extend(object(extra));
            config
        };
        client.register_component(CR, "existing", "default", good(json!({})), Labels::new()).unwrap();
        client.create_secret("creds", [("password".to_string(), SecretString::from("p"))].into()).unwrap();
        let before = snapshot(&path);
        let bad_labels: Labels = [(bad_label, "v".to_string())].into();
        let attempts: Vec<(&str, bool)> = vec![
            ("bad name", client.register_component(CR, &bad_name, "default", good(json!({})), Labels::new()).is_err()),
            ("bad label", client.register_component(CR, "n", "default", good(json!({})), bad_labels.clone()).is_err()),
            ("bad uri", client.register_component(CR, "n", "default", object(json!({ "uri": bad_uri })), Labels::new()).is_err()),
            ("bad secret", client.register_component(CR, "n", "default", good(json!({ "authentication_secret": bad_secret })), Labels::new()).is_err()),
            ("bad reference", client.register_component(CR, "n", "default", good(json!({ "default_repository": bad_reference })), Labels::new()).is_err()),
            ("update uri", client.update_component(CR, "existing", object(json!({ "uri": bad_uri })), Labels::new()).is_err()),
            ("update label", client.update_component(CR, "existing", Default::default(), bad_labels).is_err()),
            ("rename", client.rename_component(CR, "existing", &bad_name).is_err()),
            ("rename to itself", client.rename_component(CR, "existing", "existing").is_err()),
            ("copy", client.copy_component(CR, "existing", &bad_name).is_err()),
            // Secrets are found by name only: an id-like name is a valid secret name.
            ("secret name", zenreg_store::is_secret_name(&bad_name)
                || client.create_secret(&bad_name, [("k".to_string(), SecretString::from("v"))].into()).is_err()),
            ("secret key", client.update_secret("creds", [("1k".to_string(), SecretString::from("v"))].into(), &[]).is_err()),
            ("missing key", client.update_secret("creds", Default::default(), &["nope".to_string()]).is_err()),
        ];
        for (what, refused) in attempts {
            prop_assert!(refused, "{} was accepted", what);
        }
        prop_assert!(snapshot(&path) == before, "an invalid input changed the store");
    }
}
