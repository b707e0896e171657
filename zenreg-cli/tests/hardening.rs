//! The cases of issue 10 ("Hardening"), each through the real binary on a real store file (the
//! damaged-row cases on a PostgreSQL store too):
//! names that shadow ids, secrets left in the file, store paths that lose data, `@FILE` values
//! that are not regular files, damaged rows, write failures, terminal injection, loose checks
//! and the shape of clap's errors. Each test names its case.

#[macro_use]
mod common;

use common::{Backend, Env};
use std::process::{Command, Stdio};

fn cr<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["container-registry"];
    all.extend_from_slice(args);
    all
}

fn register_args<'a>(name: &'a str, uri: &'a str) -> Vec<&'a str> {
    cr(&["register", name, "--flavor", "default", uri])
}

// ---- case 1: names that shadow ids --------------------------------------------------------

#[test]
fn case1_no_name_can_shadow_an_id_in_register_rename_or_copy() {
    let env = Env::new();
    env.register("first", "localhost:5000");
    let id = env.describe("first")["id"].as_str().unwrap().to_string();
    let prefix = id.get(..8).unwrap().to_string();
    for name in [id.as_str(), prefix.as_str(), "deadbeef", "12345678-90ab", "ABCDEF0123"] {
        let expected = format!(
            "error: container registry name `{name}` has the form of an id (8 or more hexadecimal digits and `-`); \
             such names would shadow ids, so they are not accepted"
        );
        env.run(&register_args(name, "--uri=localhost:5001")).fails_with(&expected);
        env.run(&cr(&["rename", "first", name])).fails_with(&expected);
        env.run(&cr(&["copy", "first", name])).fails_with(&expected);
    }
    // The id still finds the first component, which is unchanged, and the only one.
    assert_eq!(env.describe(&id)["name"], "first");
    assert_eq!(env.describe(&prefix)["name"], "first");
    assert_eq!(env.names(), ["first"]);
    // Shorter hex names, and names with other letters, are names.
    for name in ["cafe", "deadbeefy", "abc-def"] {
        env.register(name, "localhost:5002");
    }
}

// ---- case 3: deleted secrets stay in the file --------------------------------------------

fn store_bytes(env: &Env) -> Vec<u8> {
    let mut bytes = std::fs::read(env.store()).unwrap();
    for suffix in ["-wal", "-journal"] {
        let mut path = env.store().as_os_str().to_owned();
        path.push(suffix);
        bytes.extend(std::fs::read(std::path::PathBuf::from(path)).unwrap_or_default());
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn case3_deleted_and_replaced_secret_values_are_gone_from_the_file() {
    let env = Env::new();
    let old = "OLD-VALUE-3c1b0e8f-not-anywhere-else";
    let deleted = "DELETED-VALUE-9a7d2c41-not-anywhere-else";
    env.run_stdin(&["secret", "create", "kept", "--password=-"], old).success();
    env.run_stdin(&["secret", "create", "gone", "--token=-"], deleted).success();
    // Values are sealed before they reach the file (issue 12), so not even the live value is in it.
    assert!(!contains(&store_bytes(&env), old.as_bytes()), "a live value is in the store file in plaintext");
    env.run_stdin(&["secret", "update", "kept", "--password=-"], "new-value").success();
    env.ok(&["secret", "delete", "gone", "--yes"]);
    let bytes = store_bytes(&env);
    assert!(!contains(&bytes, old.as_bytes()), "a replaced value is still in the store file");
    assert!(!contains(&bytes, deleted.as_bytes()), "a deleted value is still in the store file");
}

#[test]
fn case3_secret_values_have_the_file_limit_on_stdin_and_the_file_shrinks_after_delete() {
    let env = Env::new();
    let big = "x".repeat(1024 * 1024 + 1);
    let run = env.run_stdin(&["secret", "create", "big", "--token=-"], &big);
    run.fails_with("error: the value of `--token` on stdin is larger than the 1 MiB limit");
    let path = env.file("value", "y".repeat(1024 * 1024 - 10));
    env.ok(&["secret", "create", "large", &format!("--token=@{}", path.display())]);
    let full = std::fs::metadata(env.store()).unwrap().len();
    assert!(full > 1024 * 1024, "the value is in the file ({full} bytes)");
    env.ok(&["secret", "delete", "large", "--yes"]);
    let after = std::fs::metadata(env.store()).unwrap().len();
    assert!(after < 256 * 1024, "the store stays {after} bytes after the delete (was {full})");
    assert!(env.run(&["secret", "list"]).stdout.lines().count() <= 1);
}

// ---- case 4: store paths that lose data ---------------------------------------------------

#[test]
fn case4_sqlite_names_empty_paths_and_special_files_are_refused_as_stores() {
    let env = Env::with_store(common::TempDir::new(), "unused.db".into());
    for (store, reason) in [
        (":memory:", "SQLite names such as `:memory:` and `file:` URIs are not accepted; give a file path"),
        ("file:x.db", "SQLite names such as `:memory:` and `file:` URIs are not accepted; give a file path"),
        (
            "file:x.db?mode=memory",
            "SQLite names such as `:memory:` and `file:` URIs are not accepted; give a file path",
        ),
        ("/dev/null", "it is a character device, not a regular file"),
        (".", "it is a directory, not a regular file"),
    ] {
        let mut command = Command::new(common::ZENREG);
        command.args(["--store", store]).args(register_args("r", "--uri=localhost:5000")).current_dir(env.dir());
        let run = env_run(command);
        assert_eq!(run.0, Some(1), "{store:?}: {}", run.2);
        assert_eq!(run.2.lines().next().unwrap(), format!("error: cannot use `{store}` as the store: {reason}"));
        assert!(run.2.lines().nth(1).is_some_and(|h| h.starts_with("hint: ")), "{}", run.2);
    }
    // An empty `--store` is a usage error (ZENREG_STORE= counts as unset: see below).
    let mut command = Command::new(common::ZENREG);
    command.args(["--store", ""]).args(register_args("r", "--uri=localhost:5000")).current_dir(env.dir());
    let (code, _, stderr) = env_run(command);
    assert_eq!((code, stderr.lines().count()), (Some(2), 2), "{stderr}");
    // Nothing was created: no stray file, no journal beside the device.
    let left: Vec<_> = std::fs::read_dir(env.dir()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "stray files: {left:?}");
    assert!(!std::path::Path::new("/dev/null-journal").exists());
}

/// Runs a command; (exit code, stdout, stderr).
fn env_run(mut command: Command) -> (Option<i32>, String, String) {
    let output = command.stdin(Stdio::null()).output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn case4_an_empty_zenreg_store_counts_as_unset() {
    let env = Env::new();
    let home = env.dir().join("home");
    let mut command = Command::new(common::ZENREG);
    command.args(register_args("r", "--uri=localhost:5000")).env("ZENREG_STORE", "").env("ZENREG_HOME", &home);
    let (code, _, stderr) = env_run(command);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(home.join("zenreg.db").is_file());
}

/// Runs the binary as user `nobody` (the tests run as root on CI machines, where permissions
/// are not checked); `None` when this process cannot switch users.
fn as_nobody(env: &Env, args: &[&str]) -> Option<(Option<i32>, String, String)> {
    if !Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n")) {
        return None;
    }
    let zenreg = env.command(args);
    let mut command = Command::new("setpriv");
    command.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"]).arg(zenreg.get_program());
    command.args(zenreg.get_args()).env("ZENREG_HOME", env.dir().join("home")).current_dir("/");
    Some(env_run(command))
}

#[test]
fn case4_read_only_and_unreadable_stores_are_reported_as_permission_problems() {
    use std::os::unix::fs::PermissionsExt;
    // The binary must be reachable by `nobody`: only when the target directory is.
    let env = Env::new();
    env.register("r", "localhost:5000");
    std::fs::set_permissions(env.dir(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(env.store().parent().unwrap(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let before = std::fs::read(env.store()).unwrap();
    for mode in [0o644, 0o600] {
        std::fs::set_permissions(env.store(), std::fs::Permissions::from_mode(mode)).unwrap();
        let Some((code, _, stderr)) = as_nobody(&env, &cr(&["list"])) else { return };
        assert_eq!(code, Some(1), "{stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with(&format!(
                "error: cannot open store `{}` for reading and writing: ",
                env.store().display()
            )),
            "mode {mode:o}: {stderr}"
        );
        assert!(first.contains("ermission denied"), "{first}");
        assert!(!stderr.contains("not a zenreg store") && !stderr.contains("cannot create"), "{stderr}");
    }
    assert_eq!(std::fs::read(env.store()).unwrap(), before, "the store was changed");
}

// ---- case 5: @FILE that is not a regular file ----------------------------------------------

#[test]
fn case5_file_values_must_be_regular_files_for_every_command_that_reads_them() {
    let env = Env::new();
    env.register("r", "localhost:5000");
    env.run_stdin(&["secret", "create", "s", "--password=-"], "p").success();
    let fifo = env.dir().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let dir = env.dir().join("a-dir");
    std::fs::create_dir(&dir).unwrap();
    for (path, kind) in [
        (fifo.display().to_string(), "a named pipe (FIFO)"),
        (dir.display().to_string(), "a directory"),
        ("/dev/zero".into(), "a device"),
    ] {
        let value = format!("--default_repository=@{path}");
        let secret_value = format!("--password=@{path}");
        for args in [
            cr(&["register", "x", "--flavor", "default", "--uri=localhost:5000", &value]),
            cr(&["update", "r", &value]),
            vec!["secret", "create", "t", &secret_value],
            vec!["secret", "update", "s", &secret_value],
        ] {
            let started = std::time::Instant::now();
            let run = env.run(&args);
            assert!(started.elapsed() < std::time::Duration::from_secs(20), "{args:?} blocked");
            let key = if args[0] == "secret" { "password" } else { "default_repository" };
            run.fails_with(&format!("error: cannot read `--{key}` from `{path}`: it is {kind}, not a regular file"));
        }
    }
}

#[test]
fn case5_secrets_read_file_values_like_components() {
    let env = Env::new();
    let path = env.file("password.txt", "from-a-file\n");
    env.ok(&["secret", "create", "s", &format!("--password=@{}", path.display()), "--user=@@literal"]);
    let shown = env.json(&["secret", "describe", "s", "--reveal", "--output", "json"]);
    assert_eq!(shown["values"]["password"], "from-a-file");
    assert_eq!(shown["values"]["user"], "@literal");
    let help = env.ok(&["secret", "create", "--help"]).stdout.clone();
    assert!(help.contains("--KEY=@FILE"), "{help}");
}

// ---- case 6: damaged rows -------------------------------------------------------------------

// Both stores: a store file's row may hold any bytes; a server's `json` column holds valid JSON,
// which may still not be the shape a row needs (an array where an object belongs).
fn case6_a_damaged_component_row_is_reported_listed_around_shown_and_deletable(backend: Backend) {
    let env = Env::on(backend);
    env.register("good", "localhost:5000");
    env.register("bad", "localhost:5001");
    env.register("short", "localhost:5002");
    let bad_id = env.describe("bad")["id"].as_str().unwrap().to_string();
    env.exec(
        "UPDATE components SET config = '{\"uri\": ' WHERE name = 'bad';
         UPDATE components SET id = 'x1' WHERE name = 'short'",
        "UPDATE zenreg_components SET config = '[\"uri\"]' WHERE name = 'bad';
         UPDATE zenreg_components SET id = 'x1' WHERE name = 'short'",
    );

    for format in ["table", "json"] {
        let run = env.run(&cr(&["list", "--output", format]));
        run.code(1);
        assert!(run.stdout.contains("good") && run.stdout.contains("x1"), "{format}: {}", run.stdout);
        // By id and URI: the name `bad` is also hex, and a random UUID may contain it.
        assert!(!run.stdout.contains(&bad_id) && !run.stdout.contains("localhost:5001"), "{}", run.stdout);
        let lines = run.stderr_lines();
        assert_eq!(lines.len(), 2, "{}", run.stderr);
        assert!(
            lines[0].starts_with(&format!(
                "error: 1 stored container registry is damaged and not listed: `bad` (id {bad_id}): config: "
            )),
            "{}",
            lines[0]
        );
        assert!(lines[1].starts_with("hint: `zenreg container-registry describe ID` shows"), "{}", lines[1]);
    }
    let shown = env.describe("bad");
    assert!(shown["damaged"].as_str().unwrap().starts_with("config: "), "{shown}");
    let table = env.ok(&cr(&["describe", &bad_id])).stdout.clone();
    assert!(table.contains("Damaged:"), "{table}");
    let run = env.run(&cr(&["update", "bad", "--uri=localhost:5003"]));
    assert!(
        run.failure().starts_with(&format!("error: the stored container registry `bad` (id {bad_id}) is damaged: "))
    );
    assert_eq!(
        run.hint().unwrap(),
        format!(
            "hint: delete it (`zenreg container-registry delete {bad_id} --yes`) and register it again; \
             `zenreg container-registry describe {bad_id}` shows what is left"
        )
    );
    env.ok(&cr(&["delete", "bad", "--yes"]));
    env.ok(&cr(&["delete", "short", "--yes"]));
    assert_eq!(env.names(), ["good"]);
}

fn case6_a_damaged_secret_row_is_reported_and_deletable(backend: Backend) {
    let env = Env::on(backend);
    env.run_stdin(&["secret", "create", "fine", "--password=-"], "p").success();
    env.run_stdin(&["secret", "create", "broken", "--password=-"], "p").success();
    env.exec(
        "UPDATE secrets SET entries = '[1,' WHERE name = 'broken'",
        "UPDATE zenreg_secrets SET entries = '[1]' WHERE name = 'broken'",
    );
    let run = env.run(&["secret", "list"]);
    run.code(1);
    assert!(run.stdout.contains("fine") && !run.stdout.contains("broken"), "{}", run.stdout);
    assert!(
        run.first_line().starts_with("error: 1 stored secret is damaged and not listed: `broken` (id "),
        "{}",
        run.stderr
    );
    let shown = env.ok(&["secret", "describe", "broken"]).stdout.clone();
    assert!(shown.contains("Damaged:") && shown.contains("entries: "), "{shown}");
    // The healthy secret still opens, and a write (which seals, and rekeys nothing damaged)
    // works beside the damaged row.
    env.run_stdin(&["secret", "update", "fine", "--password=-"], "q").success();
    let revealed = env.json(&["secret", "describe", "fine", "--reveal", "--output", "json"]);
    assert_eq!(revealed["values"]["password"], "q");
    env.ok(&["secret", "delete", "broken", "--yes"]);
    env.ok(&["secret", "list"]);
}

on_both_backends!(
    case6_a_damaged_component_row_is_reported_listed_around_shown_and_deletable,
    case6_a_damaged_secret_row_is_reported_and_deletable,
);

// ---- case 7: no panic when output cannot be written ----------------------------------------

fn run_with_stderr(env: &Env, args: &[&str], stderr: Stdio, stdout: Stdio) -> std::process::Output {
    let mut command = env.command(args);
    command.stdin(Stdio::null()).stdout(stdout).stderr(stderr);
    command.output().unwrap()
}

#[test]
fn case7_full_or_closed_outputs_end_with_exit_1_or_quietly_never_a_panic() {
    let env = Env::new();
    let full = || Stdio::from(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap());
    // A message that cannot be written fails the command (the write itself happened).
    let output = run_with_stderr(&env, &register_args("r", "--uri=localhost:5000"), full(), Stdio::piped());
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(env.names(), ["r"]);
    // An error that cannot be shown: still exit 1 (2 for usage), no panic.
    let output = run_with_stderr(&env, &cr(&["describe", "nope"]), full(), Stdio::piped());
    assert_eq!(output.status.code(), Some(1));
    let output = run_with_stderr(&env, &["bogus"], full(), Stdio::piped());
    assert_eq!(output.status.code(), Some(2));
    // Data that cannot be written: an error on stderr, exit 1.
    for args in [cr(&["list"]), cr(&["describe", "r", "--output", "json"]), vec!["flavor", "list"], vec!["--help"]] {
        let output = run_with_stderr(&env, &args, Stdio::piped(), full());
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error: ") || args == ["--help"], "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // A closed stdout ends quietly.
    let mut child = env.command(&cr(&["list"])).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(matches!(output.status.code(), Some(0)), "{output:?}");
}

// ---- case 8: terminal injection ----------------------------------------------------------

#[test]
fn case8_control_characters_are_refused_in_names_and_label_keys_and_escaped_in_values() {
    let env = Env::new();
    for name in ["a\u{1b}[31mred", "bell\u{7}", "rtl\u{202e}txt", "nul\u{85}"] {
        let run = env.run(&register_args(name, "--uri=localhost:5000"));
        let line = run.failure();
        assert!(line.contains("names cannot contain control characters"), "{line}");
        assert!(!run.stderr.contains('\u{1b}') && !run.stderr.contains('\u{7}'), "{:?}", run.stderr);
    }
    let run = env.run(&cr(&["register", "r", "-f", "default", "--uri=localhost:5000", "--label", "k\u{1b}=v"]));
    run.failure();
    assert!(!run.stderr.contains('\u{1b}'));

    let value = "v\u{1b}]0;owned\u{7}\r\nX";
    let label = format!("team={value}");
    env.ok(&cr(&[
        "register",
        "r",
        "-f",
        "default",
        "--uri=localhost:5000",
        "--label",
        &label,
        &format!("--default_repository={value}"),
    ]));
    // Stored as given...
    let stored = env.describe("r");
    assert_eq!(stored["labels"]["team"], value);
    assert_eq!(stored["config"]["default_repository"], value);
    // ...shown escaped.
    for args in [cr(&["list"]), cr(&["describe", "r"])] {
        let run = env.ok(&args);
        assert!(!run.stdout.chars().any(|c| c.is_control() && c != '\n'), "{args:?}: {:?}", run.stdout);
        assert!(run.stdout.contains("v\\e]0;owned\\u{7}\\r\\nX"), "{args:?}: {}", run.stdout);
    }
    // Names given to lookups are echoed escaped.
    let run = env.run(&cr(&["describe", "\u{1b}[2J"]));
    assert_eq!(run.failure(), "error: container registry `\\e[2J` does not exist");
    // Usage errors too.
    let run = env.run(&cr(&["list", "--bogus\u{1b}[2J"]));
    run.usage_error();
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
}

#[test]
fn case8_long_values_are_cut_in_messages() {
    let env = Env::new();
    let huge = "p".repeat(1024 * 1024);
    let path = env.file("huge", &huge);
    let run = env.run(&register_args("r", &format!("--uri=@{}", path.display())));
    let line = run.failure();
    assert!(line.chars().count() <= 1001 && line.len() < 4000, "{} characters", line.chars().count());
    let run = env.run(&cr(&["describe", &"n".repeat(5000)]));
    assert!(run.failure().ends_with('…'));
}

// ---- case 9: loose checks -------------------------------------------------------------------

#[test]
fn case9_uris_that_are_not_hosts_are_refused() {
    let env = Env::new();
    let long = format!("--uri={}", "a".repeat(120 * 1024));
    for uri in
        ["--uri={\"a\":1}", "--uri=[1,2]", "--uri={{s.k}}:5000", "--uri=host/{{s.k}}", long.as_str(), "--uri=a?b"]
    {
        let line = env.run(&register_args("r", uri)).failure().to_string();
        assert!(line.starts_with("error: invalid configuration: uri: "), "{uri}: {line}");
        env.register("ok", "localhost:5000");
        env.run(&cr(&["update", "ok", uri])).failure();
        assert_eq!(env.describe("ok")["config"]["uri"], "localhost:5000");
        env.ok(&cr(&["delete", "ok", "--yes"]));
    }
    assert!(env.names().is_empty());
}

#[test]
fn case9_secret_names_and_references_must_be_well_formed() {
    let env = Env::new();
    for value in ["--authentication_secret=", "--authentication_secret=a b", "--authentication_secret={{x.y}}"] {
        let run = env.run(&cr(&["register", "r", "-f", "default", "--uri=localhost:5000", value]));
        let line = run.failure().to_string();
        assert!(line.starts_with("error: authentication_secret: must be the name of a secret"), "{value}: {line}");
    }
    for value in ["{{{{c.p}}}}", "{{a.b}}{{c.d}}", "{{a b.c}}", "x{{a.b}}"] {
        let arg = format!("--default_repository={value}");
        let line =
            env.run(&cr(&["register", "r", "-f", "default", "--uri=localhost:5000", &arg])).failure().to_string();
        assert!(line.starts_with("error: default_repository: looks like a secret reference but is not one"), "{line}");
    }
    assert!(!env.store().exists() || env.names().is_empty());
}

#[test]
fn case9_a_referenced_secret_key_cannot_be_removed() {
    let env = Env::new();
    env.run_stdin(&["secret", "create", "creds", "--username=u", "--password=-", "--extra=x", "--repo=r"], "p")
        .success();
    env.ok(&cr(&["register", "r", "-f", "default", "--uri=localhost:5000", "--authentication_secret=creds"]));
    env.ok(&cr(&["register", "s", "-f", "default", "--uri=localhost:5000", "--default_repository={{creds.repo}}"]));
    for key in ["password", "username", "repo"] {
        let run = env.run(&["secret", "update", "creds", "--remove-key", key]);
        let line = run.failure();
        assert!(
            line.starts_with(&format!("error: key `{key}` of secret `creds` is used by container registry ")),
            "{line}"
        );
    }
    env.ok(&["secret", "update", "creds", "--remove-key", "extra"]);
    let keys = env.json(&["secret", "describe", "creds", "--output", "json"]);
    assert_eq!(keys["values"].as_object().unwrap().len(), 3);
}

#[test]
fn case2_the_retag_hint_never_shows_a_secret_value() {
    // The refusal happens before Docker is contacted, so it needs no service.
    let env = Env::new();
    env.run_stdin(&["secret", "create", "repo", "--name=-"], "TOPSECRET-team").success();
    env.ok(&cr(&["register", "r", "-f", "default", "--uri=127.0.0.1:5999", "--default_repository={{repo.name}}"]));
    let run = env.run(&cr(&["push", "elsewhere/app:1", "--registry", "r"]));
    run.failure();
    run.never_shows("TOPSECRET");
    assert_eq!(
        run.hint(),
        Some(
            "hint: tag it under the registry (`docker tag elsewhere/app:1 127.0.0.1:5999/{{repo.name}}/app:1`) or pass `--retag`"
        )
    );
}

// ---- case 10: the shape of clap's errors ----------------------------------------------------

#[test]
fn case10_every_usage_error_is_one_error_line_and_one_hint_line() {
    let env = Env::new();
    for args in [
        &[][..],
        &["secret"],
        &["bogus"],
        &["container-registry", "list", "--bogus"],
        &["container-registry", "list", "--output", "yaml"],
        &["container-registry", "delete", "x", "--yse"],
        &["secret", "create"],
        &["--store"],
    ] {
        let run = env.run(args);
        run.usage_error();
        assert!(run.hint().is_some(), "{args:?}: {}", run.stderr);
        assert!(!run.stderr.contains("For more information"), "{}", run.stderr);
    }
    let run = env.run(&[]);
    assert_eq!(
        run.first_line(),
        "error: `zenreg` needs a command: flavor, container-registry, image, secret, store, completions, man"
    );
    let run = env.run(&["container-registry", "delete", "x", "--yse"]);
    assert_eq!(run.first_line(), "error: unexpected argument '--yse' found");
    assert_eq!(run.hint(), Some("hint: to pass '--yse' as a value, use '-- --yse'"));
    let run = env.run(&["container-registry", "list", "--output", "yaml"]);
    assert!(run.first_line().ends_with("[possible values: table, json]"), "{}", run.first_line());
    for args in [&["--help"][..], &["secret", "--help"], &["--version"]] {
        let run = env.ok(args);
        assert!(!run.stdout.is_empty() && run.stderr.is_empty(), "{args:?}");
    }
}

// ---- a full disk ------------------------------------------------------------------------------

/// A small tmpfs of its own, unmounted when dropped (mounting needs root: the test command runs
/// as root; a plain `cargo test` reports this test as ignored).
struct SmallFs {
    path: std::path::PathBuf,
}

impl SmallFs {
    fn mount(path: std::path::PathBuf, bytes: u64) -> SmallFs {
        std::fs::create_dir_all(&path).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes},mode=0700"), "zenreg-test-full"])
            .arg(&path)
            .status()
            .expect("run mount");
        assert!(status.success(), "cannot mount a tmpfs at {} (this test needs root)", path.display());
        SmallFs { path }
    }

    /// Writes a filler file until the file system refuses; its size.
    fn fill(&self) -> u64 {
        use std::io::Write;
        let mut file = std::fs::File::create(self.path.join("filler")).unwrap();
        let block = vec![b'x'; 4096];
        let mut written = 0;
        while let Ok(n) = file.write(&block) {
            if n == 0 {
                break;
            }
            written += n as u64;
        }
        written
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("--lazy").arg(&self.path).status();
    }
}

#[test]
#[ignore = "needs root (mounts a small tmpfs)"]
fn a_full_disk_refuses_the_write_with_one_line_and_keeps_every_acknowledged_one() {
    let dir = common::TempDir::new();
    let fs = SmallFs::mount(dir.path().join("small"), 1024 * 1024);
    std::fs::create_dir(fs.path.join("store")).unwrap();
    let env = Env::with_store(common::TempDir::new(), fs.path.join("store").join("zenreg.db"));
    env.register("before-full", "localhost:5000");
    env.run_stdin(&["secret", "create", "kept", "--password=-"], "s3cret-value\n").success();
    let before_secret = env.json(&["secret", "describe", "kept", "--output", "json"]);
    let filled = fs.fill();
    assert!(filled > 0, "the filler wrote nothing");
    let full = format!("error: the file system holding store `{}` is full; nothing was written", env.store().display());
    let hint = "hint: free some space on that file system and run the command again; nothing stored before was lost";

    // Nothing left at all: even a reader cannot size the WAL's shared-memory file.
    for args in [cr(&["list"]), register_args("nothing-left", "--uri=localhost:5000")] {
        let run = env.run(&args);
        run.fails_with(&full);
        assert_eq!(run.hint(), Some(hint));
    }

    // A little room: registrations fit until the WAL finds none (SQLite's own "disk is full").
    let filler = std::fs::OpenOptions::new().write(true).open(fs.path.join("filler")).unwrap();
    filler.set_len(filled.saturating_sub(192 * 1024)).unwrap();
    drop(filler);
    let label = format!("--label=padding={}", "p".repeat(3000));
    let mut acknowledged = vec!["before-full".to_string()];
    let mut refused = None;
    for i in 0..400 {
        let name = format!("full-{i}");
        let run = env.run(&cr(&["register", &name, "--flavor", "default", "--uri=localhost:5000", &label]));
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
        if run.code == Some(0) {
            acknowledged.push(name);
        } else {
            refused = Some(run);
            break;
        }
    }
    let refused = refused.expect("400 registrations of 3 KB fitted in 192 KiB");
    refused.fails_with(&full).never_shows("s3cret-value");
    assert!(acknowledged.len() > 1, "no registration fitted in 192 KiB: {}", refused.stderr);
    std::fs::remove_file(fs.path.join("filler")).unwrap();

    // Every acknowledged registration and the secret are still there, and the file is sound.
    acknowledged.sort();
    let mut names = env.names();
    names.sort();
    assert_eq!(names, acknowledged);
    assert_eq!(env.json(&["secret", "describe", "kept", "--output", "json"]), before_secret);
    let check: String = env.db().query_row("PRAGMA integrity_check", [], |row| row.get(0)).unwrap();
    assert_eq!(check, "ok");

    // Room again: the next write works.
    env.register("after-room", "localhost:5000");
    assert!(env.names().contains(&"after-room".to_string()));
}
