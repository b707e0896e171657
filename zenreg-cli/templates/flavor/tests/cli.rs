//! The binary as users run it: `flavor list` shows the `{{name}}` flavor (its implementation
//! linked exactly when the `{{name}}` feature is on) and `container-registry register` validates
//! through it. `cargo test --features {{name}}` checks the linked build.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

const BINARY: &str = env!("CARGO_BIN_EXE_zenreg-{{kebab}}");

/// A store file of this test's own, never the user's; its folder goes when the test passes.
struct Store(PathBuf);

impl Store {
    fn new(test: &str) -> Store {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        Store(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("zenreg.db")
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // Kept after a failure, for a look.
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn run(store: &Store, args: &[&str]) -> Output {
    Command::new(BINARY).arg("--store").arg(store.file()).args(args).output().expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn flavor_list_shows_the_flavor_linked_with_its_feature() {
    let output = run(&Store::new("list"), &["flavor", "list", "--output", "json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let flavors: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    let flavor = flavors
        .as_array()
        .expect("a list")
        .iter()
        .find(|f| f["name"] == "{{name}}")
        .unwrap_or_else(|| panic!("`{{name}}` is not listed: {flavors:#}"));
    assert_eq!(flavor["integration"], "{{kebab}}-config");
    assert_eq!(flavor["source"], "{{name}}_config::{{Camel}}ContainerRegistryFlavor");
    assert_eq!(flavor["implementation"], "{{name}}_impl::{{Camel}}ContainerRegistry");
    assert_eq!(flavor["feature"], "{{name}}");
    assert_eq!(flavor["implementation_linked"], cfg!(feature = "{{name}}"));
}

#[test]
fn register_validates_through_the_flavor() {
    let store = Store::new("register");
    let register = ["container-registry", "register", "mine", "--flavor", "{{name}}"];

    let bad = run(&store, &[&register[..], &["--uri=https://registry.example.com", "--project="]].concat());
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    let stderr = text(&bad.stderr);
    assert!(stderr.starts_with("error: "), "{stderr}");
    for field in ["project", "uri"] {
        assert!(stderr.contains(field), "`{field}` is not reported: {stderr}");
    }

    let good = run(&store, &[&register[..], &["--uri=registry.example.com/", "--project=ml"]].concat());
    assert!(good.status.success(), "{}", text(&good.stderr));
    let described = run(&store, &["container-registry", "describe", "mine", "--output", "json"]);
    assert!(described.status.success(), "{}", text(&described.stderr));
    let component: Value = serde_json::from_slice(&described.stdout).expect("JSON on stdout");
    assert_eq!(component["flavor"], "{{name}}");
    assert_eq!(component["config"]["uri"], "registry.example.com");
    assert_eq!(component["config"]["project"], "ml");
}
