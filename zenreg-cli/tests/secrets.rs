//! `zenreg secret create|list|describe|update|delete`, secret references from components, and
//! the promise that a secret value shows up nowhere unless `--reveal` asks for it.

#[macro_use]
mod common;

use common::{Backend, Env, Run, is_uuid};
use serde_json::json;

/// A value that would be noticed anywhere it leaked.
const PASSWORD: &str = "pw-Zq8!vL3#secret";
const TOKEN: &str = "tok-Xk2$9mN_secret";

const WARNING: &str = "warning: values given as `--KEY=VALUE` are visible to other users in the process list; \
                       prefer `--KEY=-` (stdin) or `-i` (prompt)";

fn create_creds(env: &Env) {
    let run =
        env.run_stdin(&["secret", "create", "creds", "--username=robot", "--password=-"], &format!("{PASSWORD}\n"));
    run.success();
    assert_eq!(run.stderr, "Created secret `creds` with keys: password, username.\n");
    assert_eq!(run.stdout, "");
}

fn create_reads_a_value_from_stdin_and_describe_masks_it(backend: Backend) {
    let env = Env::on(backend);
    create_creds(&env);
    // The store keeps key names readable and values sealed (issue 12), under a key file created
    // 0600 beside the store on this first secret write.
    let entries: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&env.secret_entries("creds")).unwrap();
    assert_eq!(entries.keys().collect::<Vec<_>>(), ["password", "username"]);
    for value in entries.values() {
        let value = value.as_str().unwrap();
        assert!(value.starts_with("zenreg:v1:") && !value.contains(PASSWORD) && !value.contains("robot"), "{value}");
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(env.key_file()).unwrap().permissions().mode() & 0o777, 0o600);

    let masked = env.json(&["secret", "describe", "creds", "--output", "json"]);
    let keys: Vec<&str> = masked.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "name", "values", "created", "updated"]);
    assert!(is_uuid(masked["id"].as_str().unwrap()));
    assert_eq!(masked["name"], "creds");
    assert_eq!(masked["values"], json!({ "password": "********", "username": "********" }));

    let table = env.ok(&["secret", "describe", "creds"]);
    table.never_shows(PASSWORD).never_shows("robot");
    assert!(table.stdout.lines().any(|l| l == "password  ********"), "{}", table.stdout);

    let revealed = env.json(&["secret", "describe", "creds", "--reveal", "--output", "json"]);
    assert_eq!(revealed["values"], json!({ "password": PASSWORD, "username": "robot" }));
    let table = env.ok(&["secret", "describe", "creds", "--reveal"]);
    assert!(table.stdout.lines().any(|l| l == format!("password  {PASSWORD}")), "{}", table.stdout);
    assert!(table.stdout.lines().any(|l| l == "username  robot"));

    // A CRLF from stdin is dropped too; an empty stdin gives an empty value.
    env.run_stdin(&["secret", "create", "crlf", "--token=-"], "abc\r\n").success();
    assert_eq!(env.json(&["secret", "describe", "crlf", "--reveal", "-o", "json"])["values"]["token"], "abc");
}

fn list_shows_names_and_keys_never_values(backend: Backend) {
    let env = Env::on(backend);
    assert_eq!(env.json(&["secret", "list", "--output", "json"]), json!([]));
    create_creds(&env);
    env.run_stdin(&["secret", "create", "api", "--token=-"], TOKEN).success();

    let list = env.ok(&["secret", "list", "--output", "json"]);
    list.never_shows(PASSWORD).never_shows(TOKEN).never_shows("robot");
    let list = list.json();
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["api", "creds"]);
    assert_eq!(list[1]["values"], json!({ "password": "********", "username": "********" }));

    let table = env.ok(&["secret", "list"]);
    table.never_shows(PASSWORD).never_shows(TOKEN).never_shows("robot");
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].starts_with("NAME "));
    assert!(lines[1].starts_with("api ") && lines[1].contains(" token "), "{}", lines[1]);
    assert!(lines[2].starts_with("creds ") && lines[2].contains("password, username"), "{}", lines[2]);
}

fn create_refuses_what_it_cannot_store_safely(backend: Backend) {
    let env = Env::on(backend);
    create_creds(&env);
    env.run(&["secret", "create", "creds", "--a=-"]).fails_with("error: a secret named `creds` already exists");
    env.run(&["secret", "create", "empty"]).fails_with("error: secret `empty` needs at least one value");
    env.run(&["secret", "create", "bad name", "--a=1"]).fails_with(
        "error: invalid secret name `bad name`: use letters, digits, `_` and `-` (it appears in `{{bad name.key}}` references)",
    );
    env.run(&["secret", "create", "dotted.name", "--a=1"]).failure();
    env.run(&["secret", "create", "two", "--a=-", "--b=-"])
        .usage_fails_with("error: `--a=-` and `--b=-` both read stdin; only one value can");
    let run = env.run(&["secret", "create", "bare", "--password"]);
    run.usage_fails_with("error: `--password` needs a value");
    assert_eq!(run.hint(), Some("hint: write `--password=-` to read it from stdin, or add `-i` to be prompted"));
    env.run(&["secret", "create", "bad-key", "--1a=x"])
        .usage_fails_with("error: invalid attribute name `1a`: use letters, digits and `_`, not starting with a digit");
    env.run(&["secret", "create", "twice", "--a=1", "--a=2"]).usage_fails_with("error: `--a` is given more than once");
    // `-i` with no terminal to prompt on fails cleanly, wherever it is written.
    for args in
        [&["secret", "create", "prompt", "-i", "--password"][..], &["secret", "create", "prompt", "--password", "-i"]]
    {
        env.run_without_terminal(args).fails_containing(&["error: cannot prompt for `password`: "]);
    }
    let names: Vec<String> = env
        .json(&["secret", "list", "-o", "json"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["creds"]);
}

fn a_plain_password_on_the_command_line_is_warned_about(backend: Backend) {
    let env = Env::on(backend);
    let run = env.ok(&["secret", "create", "plain", "--username=robot", &format!("--password={PASSWORD}")]);
    assert_eq!(run.stderr_lines(), [WARNING, "Created secret `plain` with keys: password, username."]);
    run.never_shows(PASSWORD);
    let run = env.ok(&["secret", "update", "plain", &format!("--api_token={TOKEN}")]);
    assert_eq!(run.stderr_lines()[0], WARNING);
    // No warning for stdin, or for a key that is not obviously secret.
    let run = env.run_stdin(&["secret", "create", "stdin", "--username=robot", "--password=-"], PASSWORD);
    run.success();
    assert!(!run.stderr.contains("warning:"), "{}", run.stderr);
}

fn update_sets_and_removes_keys(backend: Backend) {
    let env = Env::on(backend);
    create_creds(&env);
    let before = env.json(&["secret", "describe", "creds", "-o", "json"]);

    let run = env.run_stdin(&["secret", "update", "creds", "--password=-"], "new-password\n");
    run.success();
    assert_eq!(run.stderr, "Updated secret `creds`; keys: password, username.\n");
    let after = env.json(&["secret", "describe", "creds", "--reveal", "-o", "json"]);
    assert_eq!(after["values"], json!({ "password": "new-password", "username": "robot" }));
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["created"], before["created"]);

    // `--remove-key` and `-i` are options wherever they are written, also after values.
    env.run_stdin(&["secret", "update", "creds", "--registry=-", "--remove-key", "username"], "r.example").success();
    let after = env.json(&["secret", "describe", "creds", "--reveal", "-o", "json"]);
    assert_eq!(after["values"], json!({ "password": "new-password", "registry": "r.example" }));
    env.ok(&["secret", "update", "creds", "--remove-key=registry"]);
    env.ok(&["secret", "update", "creds", "--remove-key", "password", "--user=robot"]);
    let after = env.json(&["secret", "describe", "creds", "--reveal", "-o", "json"]);
    assert_eq!(after["values"], json!({ "user": "robot" }));

    env.run(&["secret", "update", "creds", "--remove-key", "nope"])
        .fails_with("error: secret `creds` has no key `nope`");
    env.run(&["secret", "update", "creds", "--remove-key", "user"])
        .fails_with("error: secret `creds` would have no values left");
    env.run(&["secret", "update", "creds"]).usage_fails_with("error: nothing to update");
    env.run(&["secret", "update", "creds", "--a=1", "--remove-key"])
        .usage_fails_with("error: `--remove-key` needs a key");
    env.run(&["secret", "update", "missing", "--a=1"]).fails_with("error: secret `missing` does not exist");
    let run = env.run(&["secret", "describe", "missing"]);
    run.fails_with("error: secret `missing` does not exist");
    assert_eq!(run.hint(), Some("hint: run `zenreg secret list` to see what exists"));
    assert_eq!(
        env.json(&["secret", "describe", "creds", "--reveal", "-o", "json"])["values"],
        json!({ "user": "robot" })
    );
}

fn delete_is_refused_while_a_component_references_the_secret(backend: Backend) {
    let env = Env::on(backend);
    create_creds(&env);
    env.run_stdin(&["secret", "create", "api", "--token=-"], TOKEN).success();
    env.ok(&["secret", "create", "unused", "--x=1"]);
    env.ok(&[
        "container-registry",
        "register",
        "by-auth",
        "--flavor",
        "default",
        "--uri=localhost:5000",
        "--authentication_secret=creds",
    ]);
    env.ok(&[
        "container-registry",
        "register",
        "by-ref",
        "--flavor",
        "default",
        "--uri=localhost:5000",
        "--default_repository={{creds.username}}",
    ]);
    env.ok(&[
        "container-registry",
        "register",
        "by-ref-spaced",
        "--flavor",
        "default",
        "--uri=localhost:5000",
        "--default_repository={{ api.token }}",
    ]);
    // The reference is stored as written, unresolved.
    assert_eq!(env.describe("by-ref")["config"]["default_repository"], "{{creds.username}}");

    let run = env.run(&["secret", "delete", "creds", "--yes"]);
    run.fails_with("error: secret `creds` is used by container registry `by-auth`, container registry `by-ref`");
    assert_eq!(run.hint(), Some("hint: point those components at another secret (or delete them) first"));
    env.run(&["secret", "delete", "api", "--yes"])
        .fails_with("error: secret `api` is used by container registry `by-ref-spaced`");
    // Refused before asking, and without --yes off a terminal.
    env.run(&["secret", "delete", "unused"])
        .fails_with("error: refusing to delete without confirmation: standard input is not a terminal");
    env.run(&["secret", "delete", "missing", "--yes"]).fails_with("error: secret `missing` does not exist");
    assert_eq!(env.json(&["secret", "list", "-o", "json"]).as_array().unwrap().len(), 3);

    env.ok(&["container-registry", "delete", "by-auth", "--yes"]);
    env.run(&["secret", "delete", "creds", "--yes"])
        .fails_with("error: secret `creds` is used by container registry `by-ref`");
    env.ok(&["container-registry", "update", "by-ref", "--default_repository=plain"]);
    let run = env.ok(&["secret", "delete", "creds", "--yes"]);
    assert_eq!(run.stderr, "Deleted secret `creds`.\n");
    env.ok(&["container-registry", "remove-attribute", "by-ref-spaced", "default_repository"]);
    env.ok(&["secret", "delete", "api", "-y"]);
    env.ok(&["secret", "delete", "unused", "--yes"]);
    assert_eq!(env.json(&["secret", "list", "-o", "json"]), json!([]));
}

fn references_are_refused_on_validated_fields_and_missing_secrets_are_noted(backend: Backend) {
    let env = Env::on(backend);
    create_creds(&env);
    for uri in ["{{creds.password}}", "{{ creds.password }}"] {
        let run = env.run(&["container-registry", "register", "x", "--flavor", "default", &format!("--uri={uri}")]);
        run.fails_with(
            "error: invalid configuration: uri: a secret reference cannot be used here because this field is \
             validated; give the value itself",
        );
    }
    env.run(&["container-registry", "register", "x", "--flavor", "aws", "--uri={{creds.password}}"]).fails_with(
        "error: invalid configuration: uri: a secret reference cannot be used here because this field is \
         validated; give the value itself",
    );
    env.register("x", "localhost:5000");
    let row = env.row("x");
    env.run(&["container-registry", "update", "x", "--uri={{creds.password}}"]).failure();
    assert_eq!(env.row("x"), row);

    let run = env.ok(&[
        "container-registry",
        "register",
        "y",
        "--flavor",
        "default",
        "--uri=localhost:5000",
        "--authentication_secret=later",
        "--default_repository={{also_later.repo}}",
    ]);
    assert_eq!(
        run.stderr_lines()[1..],
        [
            "note: secret `also_later` does not exist yet; create it before using `y`: `zenreg secret create also_later --username=… --password=-`",
            "note: secret `later` does not exist yet; create it before using `y`: `zenreg secret create later --username=… --password=-`",
        ]
    );
    let run = env.ok(&[
        "container-registry",
        "register",
        "z",
        "--flavor",
        "default",
        "--uri=localhost:5000",
        "--authentication_secret=creds",
    ]);
    assert_eq!(run.stderr_lines().len(), 1, "no note when the secret exists: {}", run.stderr);
}

/// Runs every secret command, succeeding and failing, and checks that no output shows a value.
fn secret_values_never_appear_in_any_output_without_reveal(backend: Backend) {
    let env = Env::on(backend);
    let mut runs: Vec<Run> = Vec::new();
    let mut stdin = |args: &[&str], input: &str| {
        let run = env.run_stdin(args, input);
        runs.push(run);
    };
    stdin(&["secret", "create", "creds", "--username=robot", "--password=-"], PASSWORD);
    stdin(&["secret", "create", "api", "--token=-"], TOKEN);
    stdin(&["secret", "create", "creds", "--password=-"], PASSWORD);
    stdin(&["secret", "create", "bad name", "--password=-"], PASSWORD);
    stdin(&["secret", "create", "x1", "--password=-", "--token=-"], PASSWORD);
    stdin(&["secret", "update", "creds", "--password=-", "--remove-key", "nope"], PASSWORD);
    stdin(&["secret", "update", "missing", "--password=-"], PASSWORD);
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        env.run(&args)
    };
    let p = PASSWORD;
    let t = TOKEN;
    let commands: Vec<Vec<String>> = [
        // Values typed where they do not belong are refused without being echoed.
        vec!["secret", "create", "s1", "--password", p],
        vec!["secret", "create", "s2", &format!("password={p}")],
        vec!["secret", "create", "s3", &format!("-p={p}")],
        vec!["secret", "create", "s4", &format!("--password={p}"), &format!("--password={p}")],
        vec!["secret", "create", "s5", &format!("--1password={p}")],
        vec!["secret", "create", "creds", &format!("--password={p}")],
        vec!["secret", "create", "bad.name", &format!("--password={p}")],
        vec!["secret", "update", "creds", "--token", t],
        vec!["secret", "update", "creds", &format!("--password={p}"), "--remove-key", "nope"],
        vec!["secret", "update", "missing", &format!("--token={t}")],
        vec!["secret", "list"],
        vec!["secret", "list", "--output", "json"],
        vec!["secret", "describe", "creds"],
        vec!["secret", "describe", "creds", "--output", "json"],
        vec!["secret", "describe", "api", "-o", "json"],
        vec!["secret", "delete", "creds"],
        // Components that use the secrets, and every component command over them.
        vec![
            "container-registry",
            "register",
            "auth",
            "--flavor",
            "default",
            "--uri=localhost:5000",
            "--authentication_secret=creds",
        ],
        vec![
            "container-registry",
            "register",
            "ref",
            "--flavor",
            "default",
            "--uri=localhost:5000",
            "--default_repository={{api.token}}",
        ],
        vec!["container-registry", "register", "bad", "--flavor", "default", "--uri={{api.token}}"],
        vec![
            "container-registry",
            "register",
            "bad",
            "--flavor",
            "aws",
            "--uri=x",
            "--default_repository={{creds.password}}",
        ],
        vec!["container-registry", "update", "ref", "--default_repository={{creds.password}}"],
        vec!["container-registry", "update", "ref", "--uri={{creds.password}}"],
        vec!["container-registry", "list"],
        vec!["container-registry", "list", "--output", "json"],
        vec!["container-registry", "describe", "auth"],
        vec!["container-registry", "describe", "ref", "--output", "json"],
        vec!["container-registry", "copy", "ref", "ref2"],
        vec!["container-registry", "rename", "ref2", "ref3"],
        vec!["container-registry", "remove-attribute", "ref3", "default_repository"],
        vec!["secret", "delete", "creds", "--yes"],
        vec!["secret", "delete", "api", "--yes"],
        vec!["container-registry", "delete", "ref", "--yes"],
        vec!["container-registry", "delete", "auth", "--yes"],
        vec!["secret", "delete", "api", "--yes"],
        vec!["secret", "list", "-o", "json"],
    ]
    .into_iter()
    .map(|args| args.into_iter().map(str::to_string).collect())
    .collect();
    for args in commands {
        runs.push(run(args));
    }
    for run in &runs {
        run.never_shows(PASSWORD).never_shows(TOKEN);
    }
    // The runs did what they say (so the check above is not vacuous).
    assert_eq!(runs[0].code, Some(0));
    assert_eq!(runs.last().unwrap().json()[0]["name"], "creds");
    let describe = env.json(&["secret", "describe", "creds", "--reveal", "-o", "json"]);
    assert_eq!(describe["values"]["password"], PASSWORD);
    let unexpected = runs.iter().find(|r| r.args[2] == "s1").unwrap();
    unexpected.usage_fails_with("error: unexpected argument after `--password` (not shown: it may be a secret value)");
}

on_both_backends!(
    create_reads_a_value_from_stdin_and_describe_masks_it,
    list_shows_names_and_keys_never_values,
    create_refuses_what_it_cannot_store_safely,
    a_plain_password_on_the_command_line_is_warned_about,
    update_sets_and_removes_keys,
    delete_is_refused_while_a_component_references_the_secret,
    references_are_refused_on_validated_fields_and_missing_secrets_are_noted,
    secret_values_never_appear_in_any_output_without_reveal,
);
