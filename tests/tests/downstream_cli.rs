//! The built-in commands inside a downstream binary (`zenreg-downstream`, whose `main` is
//! `zenreg_cli::main()` and which links the `zenreg-acme` flavor crate): its flavors are listed
//! and validated like built-ins, and every hint names *its* commands, not `zenreg`'s.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_zenreg-downstream");

struct Store(PathBuf);

impl Store {
    fn new(label: &str) -> Store {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("downstream-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Store(dir)
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--store")
            .arg(self.0.join("zenreg.db"))
            .args(args)
            .env_remove("ZENREG_STORE")
            .env("ZENREG_HOME", &self.0)
            .stdin(Stdio::null())
            .output()
            .expect("zenreg-downstream runs")
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn hints_name_the_running_binary() {
    let store = Store::new("hints");
    let output = store.run(&["container-registry", "describe", "nope"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        text(&output.stderr),
        "error: container registry `nope` does not exist\n\
         hint: run `zenreg-downstream container-registry list` to see what exists\n"
    );
    let output = store.run(&["container-registry", "register", "r", "--flavor", "acmee", "--uri=localhost:5000"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("hint: run `zenreg-downstream flavor list`"), "{stderr}");
    // clap's usage line too.
    let output = store.run(&["flavor", "nonsense"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("zenreg-downstream flavor"), "{}", text(&output.stderr));
}

#[test]
fn the_downstream_flavor_is_listed_and_validates_registrations() {
    let store = Store::new("acme");
    let output = store.run(&["flavor", "list", "--output", "json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let list: Value = serde_json::from_slice(&output.stdout).unwrap();
    let acme = list.as_array().unwrap().iter().find(|f| f["name"] == "acme").expect("acme listed");
    assert_eq!(acme["integration"], "zenreg-acme");
    assert_eq!(acme["implementation_linked"], true);

    let output = store.run(&["container-registry", "register", "a", "--flavor", "acme", "--uri=acme.test:5000"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("project: missing required field"), "{}", text(&output.stderr));
    let output = store.run(&[
        "container-registry",
        "register",
        "a",
        "--flavor",
        "acme",
        "--uri=acme.test:5000",
        "--project=ml",
        "--parallelism=8",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = store.run(&["container-registry", "describe", "a", "--output", "json"]);
    let described: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(described["config"]["parallelism"], 8);
    assert_eq!(described["config"]["project"], "ml");
}

/// A flavor whose config uses serde's names (`rename_all = "camelCase"`, a `rename`, an `alias`,
/// a `default`): users type, see and store those names, through every command.
#[test]
fn a_camel_case_flavor_registers_with_serde_names() {
    let store = Store::new("camel");
    // Rust's names are unknown keys, with the serde name suggested.
    let output = store.run(&[
        "container-registry",
        "register",
        "c",
        "--flavor",
        "camel",
        "--uri=camel.test",
        "--organisation_name=ml",
        "--project_identifier=p",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("organisation_name: unknown field; did you mean `organisationName`?"), "{stderr}");
    assert!(stderr.contains("project: missing required field"), "{stderr}");

    // The serde names work; the alias is stored under the canonical name; the default is filled.
    let output = store.run(&[
        "container-registry",
        "register",
        "c",
        "--flavor",
        "camel",
        "--uri=camel.test/",
        "--organisationName=ml",
        "--project=p1",
        "--retry_count=3",
        "--authentication_secret=creds",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = store.run(&["container-registry", "describe", "c", "--output", "json"]);
    let described: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        described["config"],
        serde_json::json!({
            "uri": "camel.test",
            "authentication_secret": "creds",
            "organisationName": "ml",
            "project": "p1",
            "maxRetries": 3,
            "timeoutSeconds": 30,
        })
    );

    // Validators report under the serde name, and updates use it too.
    let output = store.run(&["container-registry", "update", "c", "--maxRetries=11"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("maxRetries: must be at most 10"), "{}", text(&output.stderr));
    let output = store.run(&[
        "container-registry",
        "update",
        "c",
        "--timeoutSeconds=60",
        "--mirrorHost=m.test",
        "--retry_count=5",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = store.run(&["container-registry", "remove-attribute", "c", "mirrorHost"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let output = store.run(&["container-registry", "remove-attribute", "c", "project"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("cannot remove `project`: it is a required attribute"));
    let output = store.run(&["container-registry", "describe", "c", "--output", "json"]);
    let described: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(described["config"]["timeoutSeconds"], 60);
    assert_eq!(described["config"]["maxRetries"], 5);
    assert!(described["config"].get("retry_count").is_none());
    assert!(described["config"].get("mirrorHost").is_none());

    // `flavor describe` lists the same names.
    let output = store.run(&["flavor", "describe", "camel", "--output", "json"]);
    let flavor: Value = serde_json::from_slice(&output.stdout).unwrap();
    let names: Vec<&str> =
        flavor["properties"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "uri",
            "authentication_secret",
            "default_repository",
            "organisationName",
            "project",
            "maxRetries",
            "timeoutSeconds",
            "mirrorHost"
        ]
    );
}
