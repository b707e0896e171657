//! The `Client` API in process, on a real SQLite file: registration validated by flavors,
//! lookups by name, id and id prefix, secret references resolved only when used, and every
//! refusal a structured error.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zenreg_aws_config as _;
use zenreg_core::{ComponentType, SecretString};
use zenreg_store::{Client, Error};

const CR: ComponentType = ComponentType::ContainerRegistry;
const ECR: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

/// A directory under cargo's scratch directory, removed when the test passes.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("client-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn object(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().unwrap().clone()
}

#[test]
fn the_client_registers_looks_up_and_resolves_secrets() {
    let dir = TempDir::new();
    let mut client = Client::open(dir.path().join("zenreg.db")).unwrap();

    let registration = client
        .register_component(
            CR,
            "lib",
            "default",
            object(json!({ "uri": "localhost:5000/", "default_repository": "{{repo.name}}", "authentication_secret": "creds" })),
            BTreeMap::from([("team".to_string(), "ml".to_string())]),
        )
        .unwrap();
    assert_eq!(registration.component.config["uri"], "localhost:5000");
    assert_eq!(registration.missing_secrets, ["creds", "repo"]);
    assert_eq!(registration.post_registration_message, None);

    let ecr = client.register_component(CR, "ecr", "aws", object(json!({ "uri": ECR })), BTreeMap::new()).unwrap();
    assert!(ecr.post_registration_message.is_some_and(|m| m.starts_with("ECR repositories are not created on push")));
    let error = client.register_component(CR, "bad", "aws", object(json!({ "uri": "x/y", "z": 1 })), BTreeMap::new());
    match error {
        Err(Error::Core(zenreg_core::Error::Config(errors))) => assert_eq!(errors.problems().len(), 2, "{errors}"),
        other => panic!("expected a config error, got {other:?}"),
    }

    // Lookups by name, id and id prefix; the CLI sees what the library wrote.
    let lib = client.component(CR, "lib").unwrap();
    assert_eq!(client.component(CR, &lib.id).unwrap(), lib);
    assert_eq!(client.component(CR, &lib.id[..8]).unwrap(), lib);
    assert!(matches!(client.component(CR, "nope"), Err(Error::NotFound { .. })));
    let names: Vec<String> = client.components(CR, None).unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["ecr", "lib"]);
    assert_eq!(client.components(CR, Some("aws")).unwrap().len(), 1);
    let mut streamed = Vec::new();
    client.for_each_component(CR, None, |c| streamed.push(c)).unwrap();
    assert_eq!(streamed, client.components(CR, None).unwrap());

    // Secret references stay unresolved in the store and resolve when used.
    let error = client.resolved_config(&lib).unwrap_err();
    assert_eq!(error.to_string(), "secret `repo` referenced by `lib` field `default_repository` does not exist");
    client.create_secret("repo", BTreeMap::from([("other".to_string(), SecretString::from("x"))])).unwrap();
    let error = client.resolved_config(&lib).unwrap_err();
    assert_eq!(error.to_string(), "secret `repo` referenced by `lib` field `default_repository` has no key `name`");
    client.update_secret("repo", BTreeMap::from([("name".to_string(), SecretString::from("team/app"))]), &[]).unwrap();
    let resolved = client.resolved_config(&lib).unwrap();
    assert_eq!(
        Value::Object(resolved),
        json!({ "uri": "localhost:5000", "authentication_secret": "creds", "default_repository": "team/app" })
    );
    assert_eq!(client.component(CR, "lib").unwrap().config["default_repository"], "{{repo.name}}");

    // Credentials: a missing key is a clear error that never shows values.
    client.create_secret("creds", BTreeMap::from([("username".to_string(), SecretString::from("robot"))])).unwrap();
    let error = client.credentials(&lib).unwrap_err();
    assert_eq!(error.to_string(), "secret `creds` referenced by `lib` (authentication_secret) has no key `password`");
    assert!(matches!(&error, Error::MissingSecretKey { secret, key, .. } if secret == "creds" && key == "password"));
    client
        .update_secret("creds", BTreeMap::from([("password".to_string(), SecretString::from("hunter2-lib"))]), &[])
        .unwrap();
    let credentials = client.credentials(&lib).unwrap().expect("credentials");
    assert_eq!(
        (credentials.username.as_str(), zenreg_core::ExposeSecret::expose_secret(&credentials.password)),
        ("robot", "hunter2-lib")
    );
    assert!(!format!("{credentials:?}").contains("hunter2-lib"));
    assert!(!format!("{:?}", client.secret("creds").unwrap()).contains("hunter2-lib"));
    assert_eq!(client.credentials(&client.component(CR, "ecr").unwrap()).unwrap(), None);

    // Deleting a referenced secret is refused, naming the component.
    let error = client.delete_secret("creds").unwrap_err();
    assert_eq!(error.to_string(), "secret `creds` is used by container registry `lib`");

    let updated = client
        .update_component(CR, "lib", object(json!({ "uri": "localhost:6000" })), BTreeMap::new())
        .unwrap()
        .component;
    assert_eq!(updated.config["default_repository"], "{{repo.name}}");
    client.rename_component(CR, "lib", "lib2").unwrap();
    client.copy_component(CR, "lib2", "lib3").unwrap();
    client.remove_component_attributes(CR, "lib3", &["authentication_secret".into()], &["team".into()]).unwrap();
    client.delete_component(CR, "lib2").unwrap();
    let names: Vec<String> = client.components(CR, None).unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["ecr", "lib3"]);
    client.delete_secret("creds").unwrap();
    assert_eq!(client.integrity_check().unwrap().as_deref(), Some("ok"));
}
