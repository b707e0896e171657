//! `flavor init` and `flavor register`, the flavor author's workflow, as an author runs it.
//!
//! The main test writes a flavor workspace against this checkout's crates and builds it for
//! real: `cargo test` inside it, then its binary's `flavor list` with and without the flavor's
//! feature. The inner cargo shares this build's target directory and starts from this
//! workspace's lockfile (`flavor init --zenreg-path` copies it), so it compiles only what differs
//! from this build instead of the world, offline.

mod common;

use common::Env;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The flavor the tests create; distinct from the `acme` of the downstream test crate.
const NAME: &str = "acmetest";

/// The root of this zenreg checkout.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("zenreg-cli sits in the workspace").to_path_buf()
}

/// This build's target directory (`CARGO_TARGET_TMPDIR` is its `tmp/`), where the inner builds
/// find the dependencies this build compiled. Cargo does not hold its lock while tests run.
fn shared_target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("the target directory").to_path_buf()
}

/// `cargo ARGS…` inside the generated workspace, offline, on the shared target directory.
fn cargo(workspace: &Path, args: &[&str]) -> Output {
    let (subcommand, rest) = args.split_first().expect("a cargo subcommand");
    Command::new(env!("CARGO"))
        .arg(subcommand)
        .arg("--offline")
        .args(rest)
        .current_dir(workspace)
        .env("CARGO_TARGET_DIR", shared_target_dir())
        .env("NO_COLOR", "1")
        .env("CARGO_TERM_COLOR", "never")
        .env_remove("ZENREG_STORE")
        .output()
        .expect("cargo runs")
}

fn assert_success(what: &str, output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{what} failed:\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The generated binary's `flavor list --output json` entry for the new flavor.
fn listed_flavor(workspace: &Path, features: &[&str]) -> Value {
    let mut args = vec!["run", "--quiet"];
    args.extend_from_slice(features);
    args.extend(["--", "flavor", "list", "--output", "json"]);
    let stdout = assert_success(&format!("cargo {args:?}"), &cargo(workspace, &args));
    let list: Value = serde_json::from_str(&stdout).expect("flavor list prints JSON");
    let flavors = list.as_array().expect("a list");
    assert!(flavors.iter().any(|f| f["name"] == "default"), "the built-in flavors are listed too: {list:#}");
    flavors.iter().find(|f| f["name"] == NAME).unwrap_or_else(|| panic!("`{NAME}` is not listed: {list:#}")).clone()
}

#[test]
fn an_initialised_flavor_builds_passes_its_tests_and_links_with_its_feature() {
    // A fixed place, so that the inner build's own crates keep one set of artifacts across runs.
    let parent = Path::new(env!("CARGO_TARGET_TMPDIR")).join("flavor-init");
    let workspace = parent.join(NAME);
    let _ = std::fs::remove_dir_all(&workspace);
    std::fs::create_dir_all(&parent).expect("a scratch directory");

    let env = Env::new();
    let root = workspace_root();
    let run = env.run(&[
        "flavor",
        "init",
        NAME,
        "--dir",
        workspace.to_str().unwrap(),
        "--zenreg-path",
        root.to_str().unwrap(),
    ]);
    run.success();
    assert!(run.stderr.starts_with(&format!("Created flavor `{NAME}` in ")), "{}", run.stderr);
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "README.md",
        "src/main.rs",
        "tests/cli.rs",
        "config/Cargo.toml",
        "config/src/lib.rs",
        "config/tests/validation.rs",
        "config/tests/crate_split.rs",
        "impl/Cargo.toml",
        "impl/src/lib.rs",
    ] {
        assert!(workspace.join(file).is_file(), "{file} was not written");
    }
    let manifest = std::fs::read_to_string(workspace.join("Cargo.toml")).unwrap();
    let core_path = root.join("zenreg-core");
    assert!(manifest.contains(&format!("path = \"{}\"", core_path.display())), "{manifest}");

    // The generated code is formatted as its rustfmt.toml says.
    assert_success("cargo fmt --check", &cargo_fmt_check(&workspace));

    let tests = assert_success("cargo test", &cargo(&workspace, &["test", "--quiet"]));
    // Every generated test ran (none filtered or missing): 3 validation, 1 crate split,
    // 2 implementation and 2 command-line tests.
    let passed: usize = tests
        .lines()
        .filter_map(|line| line.strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split(' ').next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(passed, 8, "{tests}");

    let unlinked = listed_flavor(&workspace, &[]);
    assert_eq!(unlinked["integration"], "acmetest-config");
    assert_eq!(unlinked["source"], "acmetest_config::AcmetestContainerRegistryFlavor");
    assert_eq!(unlinked["implementation"], "acmetest_impl::AcmetestContainerRegistry");
    assert_eq!(unlinked["feature"], NAME);
    assert_eq!(unlinked["implementation_linked"], false);
    assert_eq!(unlinked["implementation_integration"], Value::Null);

    let linked = listed_flavor(&workspace, &["--features", NAME]);
    assert_eq!(linked["implementation_linked"], true);
    assert_eq!(linked["implementation_integration"], "acmetest-impl");

    check_finds_what_the_compiler_cannot(&env, &workspace);
    std::fs::remove_dir_all(&workspace).expect("remove the generated workspace");
}

/// `flavor check` on the generated workspace: clean as written; then with a field's doc comment,
/// the flavor's feature and the implementation's link removed, and then with a flavor name that
/// a linked crate already uses.
fn check_finds_what_the_compiler_cannot(env: &Env, workspace: &Path) {
    let check = || {
        let output = env
            .command(&["flavor", "check", workspace.to_str().unwrap()])
            .env("CARGO_TARGET_DIR", shared_target_dir())
            .env("CARGO_NET_OFFLINE", "true")
            .output()
            .expect("zenreg runs");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.code(), stdout, String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (code, stdout, stderr) = check();
    assert_eq!(code, Some(0), "{stdout}\n{stderr}");
    assert!(stderr.ends_with("its flavors are linked and documented.\n"), "{stderr}");

    let edit = |file: &str, from: &str, to: &str| {
        let path = workspace.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file} has no `{from}`");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit("config/src/lib.rs", "/// The project (namespace) that images are pushed into: 1 to 64 characters.\n", "");
    edit("config/src/lib.rs", "feature = \"acmetest\"", "");
    edit("src/main.rs", "#[cfg(feature = \"acmetest\")]\nuse acmetest_impl as _;\n", "");
    let (code, stdout, stderr) = check();
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "flavor `acmetest`: implementation `acmetest_impl::AcmetestContainerRegistry` has no `feature`: a build \
             without it cannot say which feature links it",
            "flavor `acmetest`: config field `project` has no doc comment: `flavor describe` shows no description \
             for it",
            "crate `acmetest-impl` registers nothing in `zenreg-acmetest`: name it in main.rs \
             (`use acmetest_impl as _;`), or drop its `flavor-crate` mark",
        ]
    );
    assert!(stderr.contains("error: 3 problems in the flavors of `"), "{stderr}");

    edit("config/src/lib.rs", "name = \"acmetest\"", "name = \"dockerhub\"");
    let (code, stdout, stderr) = check();
    assert_eq!(code, Some(1), "{stdout}\n{stderr}");
    let finding = stdout.trim_end();
    assert!(finding.starts_with("zenreg-acmetest: `flavor list` fails: "), "{stdout}");
    for source in
        ["acmetest_config::AcmetestContainerRegistryFlavor", "zenreg_core::builtin::DockerHubContainerRegistryFlavor"]
    {
        assert!(finding.contains(source), "both sources are named: {finding}");
    }

    edit("config/src/lib.rs", "name = \"dockerhub\"", "name = \"Acme\"");
    let (code, _, stderr) = check();
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("config/src/lib.rs"), "the compiler's error is shown: {stderr}");
    assert!(stderr.contains("error: `") && stderr.contains("` does not build: 1 compiler error (above)"), "{stderr}");
}

fn cargo_fmt_check(workspace: &Path) -> Output {
    Command::new(env!("CARGO")).args(["fmt", "--check"]).current_dir(workspace).output().expect("cargo fmt runs")
}

#[test]
fn by_default_the_workspace_depends_on_this_version_from_a_registry() {
    let env = Env::new();
    env.run(&["container-registry", "flavor", "init", "my_reg"]).success();
    let workspace = env.dir().join("my_reg");
    let manifest = std::fs::read_to_string(workspace.join("Cargo.toml")).unwrap();
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        manifest.contains(&format!("zenreg-core = {{ version = \"{version}\", default-features = false }}")),
        "{manifest}"
    );
    assert!(manifest.contains(&format!("zenreg-cli = {{ version = \"{version}\" }}")), "{manifest}");
    assert!(manifest.contains("[features]") && manifest.contains("my_reg = [\"dep:my-reg-impl\"]"), "{manifest}");
    assert!(!workspace.join("Cargo.lock").exists(), "no lockfile without a zenreg checkout to take it from");
    let readme = std::fs::read_to_string(workspace.join("README.md")).unwrap();
    assert!(readme.contains("must be reachable from one"), "{readme}");
    let config = std::fs::read_to_string(workspace.join("config/src/lib.rs")).unwrap();
    assert!(config.contains("pub struct MyRegContainerRegistryConfig"), "{config}");
    assert!(config.contains("implementation = \"my_reg_impl::MyRegContainerRegistry\""), "{config}");

    env.run(&["flavor", "init", "other", "--zenreg-version", "^0.1"]).success();
    let manifest = std::fs::read_to_string(env.dir().join("other/Cargo.toml")).unwrap();
    assert!(manifest.contains("zenreg-cli = { version = \"^0.1\" }"), "{manifest}");
}

#[test]
fn init_refuses_bad_names_and_used_directories_and_leaves_nothing_behind() {
    let env = Env::new();
    let run = env.run(&["flavor", "init", "My-Reg"]);
    run.usage_error();
    assert_eq!(
        run.one_error(),
        "error: invalid flavor name `My-Reg`: use lowercase letters, digits and `_`, starting with a letter"
    );
    assert_eq!(run.hint(), Some("hint: e.g. `zenreg flavor init my_reg`"));

    // A flavor this binary already links would clash in any binary linking both.
    let run = env.run(&["flavor", "init", "dockerhub"]);
    run.code(1);
    assert!(run.one_error().contains("a flavor named `dockerhub` already exists"), "{}", run.stderr);

    std::fs::create_dir_all(env.dir().join("taken")).unwrap();
    std::fs::write(env.dir().join("taken/notes.txt"), "mine").unwrap();
    let run = env.run(&["flavor", "init", "fresh", "--dir", "taken"]);
    run.code(1);
    assert_eq!(run.one_error(), "error: `taken` already exists and is not empty");
    assert_eq!(std::fs::read_to_string(env.dir().join("taken/notes.txt")).unwrap(), "mine");

    let run = env.run(&["flavor", "init", "fresh", "--zenreg-path", env.dir().to_str().unwrap()]);
    run.code(1);
    assert!(run.one_error().contains("is not a zenreg checkout: it has no `zenreg-core/Cargo.toml`"), "{}", run.stderr);

    env.run(&["flavor", "init", "fresh", "--zenreg-version", "latest"]).usage_error();

    // An empty directory is fine: it is replaced by the workspace.
    std::fs::create_dir_all(env.dir().join("empty")).unwrap();
    env.run(&["flavor", "init", "fresh", "--dir", "empty"]).success();
    assert!(env.dir().join("empty/config/src/lib.rs").is_file());

    let mut left: Vec<String> = std::fs::read_dir(env.dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["empty", "taken"], "nothing half-written is left behind");
}

/// Issue 22: a name longer than the generated file names allow is refused up front (names of
/// 241–255 characters used to fail with `File name too long` and a hint about permissions);
/// the longest accepted one makes a workspace cargo reads. An empty folder written into keeps
/// its mode, and a symbolic link to a folder is that folder.
#[test]
fn init_caps_the_name_keeps_an_empty_folders_mode_and_follows_a_link() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    for length in [65, 241, 255] {
        let run = env.run(&["flavor", "init", &"a".repeat(length)]);
        run.usage_error();
        assert!(run.one_error().contains(&format!("is {length} characters long; at most 64")), "{}", run.stderr);
        assert!(run.hint().is_some_and(|h| !h.contains("permission")), "{}", run.stderr);
    }
    assert_eq!(std::fs::read_dir(env.dir()).unwrap().count(), 0, "a refused name wrote something");
    let longest = format!("r{}", "_x".repeat(31) + "9");
    assert_eq!(longest.len(), 64);
    env.run(&["flavor", "init", &longest]).success();
    let metadata = cargo(&env.dir().join(&longest), &["metadata", "--no-deps", "--format-version", "1"]);
    let metadata: Value = serde_json::from_str(&assert_success("cargo metadata", &metadata)).unwrap();
    assert_eq!(metadata["packages"].as_array().map(Vec::len), Some(3), "{metadata:#}");

    // An empty folder keeps its mode.
    let private = env.dir().join("private");
    std::fs::create_dir(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    env.run(&["flavor", "init", "kept_mode", "--dir", "private"]).success();
    assert_eq!(std::fs::metadata(&private).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(private.join("config/src/lib.rs").is_file());

    // A link to an empty folder: the workspace is written where it points.
    let real = env.dir().join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, env.dir().join("link")).unwrap();
    env.run(&["flavor", "init", "linked", "--dir", "link"]).success();
    assert!(real.join("config/src/lib.rs").is_file());
    assert!(std::fs::symlink_metadata(env.dir().join("link")).unwrap().file_type().is_symlink());
}

#[test]
fn flavor_register_explains_that_flavors_are_linked() {
    let env = Env::new();

    let run = env.run(&["container-registry", "flavor", "register", "acme_config::AcmeFlavor"]);
    run.code(2);
    assert_eq!(
        run.stderr_lines(),
        [
            "error: flavors are registered by linking their crate into the binary, not at run time, and no crate \
             linked into zenreg provides `acme_config::AcmeFlavor`",
            "hint: add the crate that provides `acme_config` to your binary's [dependencies] and name it in its \
             main.rs (`use acme_config as _;`), or start a new flavor with `zenreg flavor init NAME`",
        ]
    );

    let run = env.run(&["flavor", "register", "zenreg_aws_config::AwsContainerRegistryFlavor"]);
    run.code(2);
    assert_eq!(run.stderr_lines().len(), 2, "{}", run.stderr);
    assert_eq!(
        run.one_error(),
        "error: flavor `aws` is already registered in zenreg: crate `zenreg-aws-config` is linked \
         (`zenreg_aws_config::AwsContainerRegistryFlavor`)"
    );

    // The implementation crate of a flavor whose implementation this build may not link.
    let run = env.run(&["flavor", "register", "zenreg_aws"]);
    run.code(2);
    assert_eq!(run.stderr_lines().len(), 2, "{}", run.stderr);
    if cfg!(feature = "aws") {
        assert!(run.one_error().starts_with("error: flavor `aws` is already registered"), "{}", run.stderr);
    } else {
        assert!(run.one_error().ends_with("`zenreg_aws` implements flavor `aws`, and it is not linked into zenreg"));
        assert!(run.hint().unwrap().contains("--features aws"), "{}", run.stderr);
    }

    env.run(&["flavor", "register", "not a path"]).usage_error();
}
