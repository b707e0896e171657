//! `zenreg container-registry register|update|remove-attribute|rename|copy|list|describe|delete`
//! against the real binary and a real store file, and the same operations through the library
//! API (the `zenreg_store::Client` tests live in zenreg-store).

#[macro_use]
mod common;

use common::{Backend, Env, is_timestamp, is_uuid};
use serde_json::{Value, json};
use zenreg_aws_config as _;

const AWS_LINKED: bool = cfg!(feature = "aws");
const ECR: &str = "123456789012.dkr.ecr.eu-west-1.amazonaws.com";

fn cr<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec!["container-registry"];
    all.extend_from_slice(args);
    all
}

// ---- register ----------------------------------------------------------------------------

fn register_stores_a_validated_normalised_config_with_labels(backend: Backend) {
    let env = Env::on(backend);
    let run = env.ok(&cr(&[
        "register",
        "local",
        "--flavor",
        "default",
        "--label",
        "team=ml",
        "--uri=localhost:5000/",
        "-l",
        "env=dev",
        "--default_repository=team/app",
        "--label=empty=",
    ]));
    assert_eq!(run.stdout, "", "messages go to stderr");
    let id = run
        .first_line()
        .strip_prefix("Registered container registry `local` (flavor `default`, id ")
        .and_then(|rest| rest.strip_suffix(")."))
        .unwrap_or_else(|| panic!("unexpected message: {}", run.stderr));
    assert!(is_uuid(id), "{id}");

    let local = env.describe("local");
    assert_eq!(local["id"], id);
    assert_eq!(local["config"], json!({ "uri": "localhost:5000", "default_repository": "team/app" }));
    assert_eq!(local["labels"], json!({ "empty": "", "env": "dev", "team": "ml" }));
    assert_eq!(local["created"], local["updated"]);

    // What the store holds is the normalised config, not what was typed.
    let (config, labels, _) = env.row("local");
    assert_eq!(serde_json::from_str::<Value>(&config).unwrap(), local["config"]);
    assert_eq!(serde_json::from_str::<Value>(&labels).unwrap(), local["labels"]);
    let (component_type, flavor): (String, String) = match env.pg() {
        Some(db) => {
            let row = db
                .sql()
                .query_one("SELECT component_type, flavor FROM zenreg_components WHERE id = $1", &[&id])
                .unwrap();
            (row.get(0), row.get(1))
        }
        None => env
            .db()
            .query_row("SELECT component_type, flavor FROM components WHERE id = ?1", [id], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap(),
    };
    assert_eq!((component_type.as_str(), flavor.as_str()), ("container_registry", "default"));
}

fn register_takes_the_flavor_after_the_attributes(backend: Backend) {
    let env = Env::on(backend);
    env.ok(&cr(&["register", "late", "--uri=ghcr.io/me", "--flavor", "github"]));
    env.ok(&cr(&["register", "late2", "--uri=ghcr.io/me", "-f=github"]));
    assert_eq!(env.describe("late")["flavor"], "github");
    assert_eq!(env.describe("late2")["flavor"], "github");
    env.run(&cr(&["register", "twice", "--flavor", "github", "--uri=ghcr.io/me", "--flavor", "default"]))
        .usage_fails_with("error: `--flavor` is given twice");
}

fn register_reads_file_values_up_to_one_mebibyte_and_unescapes_double_at(backend: Backend) {
    let env = Env::on(backend);
    let repo = env.file("repo.txt", "from/file\n");
    env.ok(&cr(&[
        "register",
        "a",
        "--flavor",
        "default",
        "--uri=localhost:5000",
        &format!("--default_repository=@{}", repo.display()),
    ]));
    assert_eq!(env.describe("a")["config"]["default_repository"], "from/file");

    let exact = env.file("exact", vec![b'r'; 1024 * 1024]);
    env.ok(&cr(&[
        "register",
        "b",
        "--flavor",
        "default",
        "--uri=localhost:5000",
        &format!("--default_repository=@{}", exact.display()),
    ]));
    assert_eq!(env.describe("b")["config"]["default_repository"].as_str().unwrap().len(), 1024 * 1024);

    let big = env.file("big", vec![b'r'; 1024 * 1024 + 1]);
    env.run(&cr(&[
        "register",
        "c",
        "--flavor",
        "default",
        "--uri=localhost:5000",
        &format!("--default_repository=@{}", big.display()),
    ]))
    .fails_with(&format!("error: file `{}` for `--default_repository` is larger than the 1 MiB limit", big.display()));

    let missing = env.dir().join("missing");
    let run = env.run(&cr(&["register", "c", "--flavor", "default", &format!("--uri=@{}", missing.display())]));
    run.fails_containing(&["cannot read `--uri` from file", &missing.display().to_string()]);
    assert_eq!(run.hint(), Some("hint: write `@@…` for a value that starts with `@`"));

    env.ok(&cr(&["register", "d", "--flavor", "default", "--uri=localhost:5000", "--default_repository=@@scope/app"]));
    assert_eq!(env.describe("d")["config"]["default_repository"], "@scope/app");
    assert_eq!(env.names(), ["a", "b", "d"]);
}

fn register_refuses_keys_that_are_not_identifiers(backend: Backend) {
    let env = Env::on(backend);
    let base = ["register", "x", "--flavor", "default", "--uri=localhost:5000"];
    // These are found after clap, in the free-form attributes, and still exit 2 like clap's own.
    let cases: &[(&str, &str)] = &[
        ("--1uri=a", "error: invalid attribute name `1uri`: use letters, digits and `_`, not starting with a digit"),
        (
            "--default-repository=a",
            "error: invalid attribute name `default-repository`: use letters, digits and `_`, not starting with a digit",
        ),
        ("default_repository=a", "error: unexpected argument `default_repository=a`"),
        ("--default_repository", "error: `--default_repository` needs a value: write `--default_repository=VALUE`"),
        ("--uri=again", "error: `--uri` is given more than once"),
        ("--label=novalue", "error: invalid label `novalue`: write `key=value`"),
        ("--label==v", "error: invalid label `=v`: write `key=value`"),
    ];
    for (extra, expected) in cases {
        let mut args = cr(&base);
        args.push(extra);
        env.run(&args).usage_fails_with(expected);
    }
    let mut args = cr(&base);
    args.extend(["--label", "with space=v"]);
    env.run(&args).fails_with(
        "error: invalid label key \"with space\": labels are `key=value` with a key of 1–255 characters without spaces, `=` or control characters",
    );
    assert!(env.names().is_empty());
}

fn register_names_unknown_keys_and_reports_every_problem_at_once(backend: Backend) {
    let env = Env::on(backend);
    let run = env.run(&cr(&["register", "x", "--flavor", "default", "--urx=localhost:5000", "--bogus=1"]));
    run.fails_with(
        "error: invalid configuration: bogus: unknown field; known fields: uri, authentication_secret, \
         default_repository; uri: missing required field; urx: unknown field; did you mean `uri`?",
    );
    assert_eq!(run.hint(), Some("hint: fix the fields listed above and run the command again"));

    env.run(&cr(&["register", "x", "--flavor", "default", "--uri=https://ghcr.io/", "--extra=1"])).fails_with(
        "error: invalid configuration: extra: unknown field; known fields: uri, authentication_secret, \
         default_repository; uri: must not have a scheme: drop `http://` or `https://` (e.g. `ghcr.io/my-org`)",
    );
    env.run(&cr(&["register", "x", "--flavor", "default"]))
        .fails_with("error: invalid configuration: uri: missing required field");
    env.run(&cr(&["register", "x", "--flavor", "digitalocean", "--uri=registry.digitalocean.com/"]))
        .fails_containing(&["error: invalid configuration: uri: "]);
    assert!(env.names().is_empty());
}

fn register_names_an_unknown_flavor_with_the_known_list(backend: Backend) {
    let env = Env::on(backend);
    let run = env.run(&cr(&["register", "x", "--flavor", "quay", "--uri=quay.io"]));
    run.fails_with(
        "error: unknown container_registry flavor `quay`; known flavors: aws, azure, default, digitalocean, \
         dockerhub, gcp, github",
    );
    assert_eq!(run.hint(), Some("hint: run `zenreg flavor list` to see every flavor linked into this binary"));
}

fn register_without_flavor_is_refused(backend: Backend) {
    let env = Env::on(backend);
    let run = env.run(&cr(&["register", "x", "--uri=localhost:5000"]));
    run.usage_fails_with("error: missing `--flavor`");
    assert_eq!(
        run.hint(),
        Some("hint: e.g. `zenreg container-registry register x --flavor default --uri=localhost:5000`")
    );
    assert!(!env.store_exists() || env.names().is_empty());
}

fn names_refuse_tab_newline_carriage_return_vertical_tab_and_form_feed(backend: Backend) {
    let env = Env::on(backend);
    for (c, shown) in [('\t', "\\t"), ('\n', "\\n"), ('\r', "\\r"), ('\u{b}', "\\u{b}"), ('\u{c}', "\\u{c}")] {
        let name = format!("bad{c}name");
        let expected = format!(
            "error: container registry name \"bad{shown}name\" contains '{shown}'; names cannot contain control \
             characters (tabs, newlines, escapes, …) or invisible formatting characters"
        );
        env.run(&cr(&["register", &name, "--flavor", "default", "--uri=localhost:5000"])).fails_with(&expected);
    }
    env.run(&cr(&["register", "", "--flavor", "default", "--uri=localhost:5000"]))
        .fails_with("error: a container registry name cannot be empty");
    let long = "n".repeat(256);
    env.run(&cr(&["register", &long, "--flavor", "default", "--uri=localhost:5000"]))
        .fails_with("error: a container registry name can have at most 255 characters");
    // Anything else is a name: spaces, punctuation, non-ASCII, 255 characters.
    for name in ["with space", "ünïcødé/名前", "a.b-c_d", &"é".repeat(255)] {
        env.register(name, "localhost:5000");
        assert_eq!(env.describe(name)["name"], name);
    }
}

fn a_name_is_unique_and_free_again_after_delete(backend: Backend) {
    let env = Env::on(backend);
    let first = env.register("reg", "localhost:5000");
    let run = env.run(&cr(&["register", "reg", "--flavor", "github", "--uri=ghcr.io/x"]));
    run.fails_with("error: a container registry named `reg` already exists");
    assert_eq!(run.hint(), Some("hint: pick another name, or change the existing one with `update`"));
    assert_eq!(env.describe("reg")["config"]["uri"], "localhost:5000", "the first one is unchanged");
    let old_id = env.describe("reg")["id"].clone();
    assert!(first.stderr.contains(old_id.as_str().unwrap()));

    env.ok(&cr(&["delete", "reg", "--yes"]));
    env.ok(&cr(&["register", "reg", "--flavor", "github", "--uri=ghcr.io/x"]));
    let again = env.describe("reg");
    assert_eq!(again["flavor"], "github");
    assert_ne!(again["id"], old_id);
}

fn aws_registers_without_its_implementation_and_shows_the_flavor_note(backend: Backend) {
    let env = Env::on(backend);
    let run = env.ok(&cr(&["register", "ecr", "--flavor", "aws", &format!("--uri={ECR}/")]));
    let lines = run.stderr_lines();
    assert!(lines[0].starts_with("Registered container registry `ecr` (flavor `aws`, id "), "{}", run.stderr);
    assert_eq!(
        lines[1..],
        ["note: ECR repositories are not created on push: create each repository an image goes to first \
          (`aws ecr create-repository --repository-name NAME`), or set `--create_repository_if_missing=true`."]
    );
    assert_eq!(env.describe("ecr")["config"], json!({ "uri": ECR }));

    let describe = env.ok(&cr(&["describe", "ecr"]));
    let implementation = describe.stdout.lines().find(|l| l.starts_with("Implementation:")).unwrap();
    if AWS_LINKED {
        assert_eq!(implementation, "Implementation: linked");
    } else {
        assert!(implementation.contains("not linked") && implementation.contains("--features aws"), "{implementation}");
    }

    for uri in [
        "not-a-valid-uri",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/repo",
        "12345.dkr.ecr.eu-west-1.amazonaws.com",
    ] {
        env.run(&cr(&["register", "bad", "--flavor", "aws", &format!("--uri={uri}")])).fails_containing(&[
            "error: invalid configuration: uri: ",
            &format!("`{uri}`"),
            "(e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com`)",
        ]);
    }
    assert_eq!(env.names(), ["ecr"]);
}

// ---- update ------------------------------------------------------------------------------

fn update_merges_revalidates_and_keeps_the_store_unchanged_when_invalid(backend: Backend) {
    let env = Env::on(backend);
    env.ok(&cr(&["register", "r", "--flavor", "default", "--uri=localhost:5000", "--label", "team=ml"]));
    let before = env.describe("r");

    let run = env.ok(&cr(&["update", "r", "--default_repository=app", "--label", "env=dev", "-l", "team=ops"]));
    assert_eq!(run.stderr, "Updated container registry `r`.\n");
    let after = env.describe("r");
    assert_eq!(after["config"], json!({ "uri": "localhost:5000", "default_repository": "app" }));
    assert_eq!(after["labels"], json!({ "env": "dev", "team": "ops" }));
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["created"], before["created"]);
    assert!(after["updated"].as_str() > before["updated"].as_str() || after["updated"] == before["updated"]);

    env.ok(&cr(&["update", "r", "--uri=localhost:6000/"]));
    assert_eq!(env.describe("r")["config"]["uri"], "localhost:6000", "the trailing `/` is stripped again");

    // Invalid updates change nothing, not even the update time.
    let row = env.row("r");
    env.run(&cr(&["update", "r", "--uri=http://localhost:5000", "--default_repository=other"])).fails_with(
        "error: invalid configuration: uri: must not have a scheme: drop `http://` or `https://` (e.g. `ghcr.io/my-org`)",
    );
    env.run(&cr(&["update", "r", "--nope=1"]))
        .fails_with("error: invalid configuration: nope: unknown field; known fields: uri, authentication_secret, default_repository");
    env.run(&cr(&["update", "r", "--uri="])).fails_containing(&["error: invalid configuration: uri: cannot be empty"]);
    env.run(&cr(&["update", "r", "--label", "bad key=1"])).failure();
    assert_eq!(env.row("r"), row);

    let run = env.run(&cr(&["update", "r"]));
    run.usage_fails_with("error: nothing to update");
    env.run(&cr(&["update", "missing", "--uri=x"])).fails_with("error: container registry `missing` does not exist");
    let run = env.run(&cr(&["update", "missing", "--uri=x"]));
    assert_eq!(run.hint(), Some("hint: run `zenreg container-registry list` to see what exists"));
}

fn update_revalidates_with_the_flavor_of_the_component(backend: Backend) {
    let env = Env::on(backend);
    env.ok(&cr(&["register", "ecr", "--flavor", "aws", &format!("--uri={ECR}")]));
    let row = env.row("ecr");
    env.run(&cr(&["update", "ecr", "--uri=ghcr.io"]))
        .fails_containing(&["error: invalid configuration: uri: `ghcr.io` is not an ECR registry host"]);
    assert_eq!(env.row("ecr"), row);
    env.ok(&cr(&["update", "ecr", "--uri=210987654321.dkr.ecr.us-west-2.amazonaws.com"]));
    assert_eq!(env.describe("ecr")["config"]["uri"], "210987654321.dkr.ecr.us-west-2.amazonaws.com");
}

// ---- remove-attribute --------------------------------------------------------------------

fn remove_attribute_refuses_required_ones_and_removes_optional_ones_and_labels(backend: Backend) {
    let env = Env::on(backend);
    env.ok(&cr(&[
        "register",
        "r",
        "--flavor",
        "default",
        "--uri=localhost:5000",
        "--default_repository=app",
        "--authentication_secret=creds",
        "--label",
        "team=ml",
        "--label",
        "env=dev",
    ]));
    let row = env.row("r");
    let run = env.run(&cr(&["remove-attribute", "r", "uri"]));
    run.fails_with("error: cannot remove `uri`: it is a required attribute of flavor `default`");
    assert_eq!(run.hint(), Some("hint: change it instead: `zenreg container-registry update r --uri=…`"));
    // All or nothing: the optional attribute named first is not removed either.
    env.run(&cr(&["remove-attribute", "r", "default_repository", "uri"])).failure();
    env.run(&cr(&["remove-attribute", "r", "nope"])).fails_with("error: `r` has no attribute `nope` set");
    env.run(&cr(&["remove-attribute", "r", "--label", "nope"])).fails_with("error: `r` has no label `nope`");
    env.run(&cr(&["remove-attribute", "r"])).usage_fails_with("error: nothing to remove");
    env.run(&cr(&["remove-attribute", "missing", "default_repository"]))
        .fails_with("error: container registry `missing` does not exist");
    assert_eq!(env.row("r"), row);

    let run = env.ok(&cr(&["remove-attribute", "r", "default_repository", "authentication_secret", "--label", "team"]));
    assert_eq!(run.stderr, "Updated container registry `r`.\n");
    let r = env.describe("r");
    assert_eq!(r["config"], json!({ "uri": "localhost:5000" }));
    assert_eq!(r["labels"], json!({ "env": "dev" }));
    env.run(&cr(&["remove-attribute", "r", "default_repository"]))
        .fails_with("error: `r` has no attribute `default_repository` set");
}

// ---- rename and copy ---------------------------------------------------------------------

fn rename_keeps_the_id_and_refuses_a_taken_name(backend: Backend) {
    let env = Env::on(backend);
    env.register("a", "localhost:5000");
    env.register("b", "localhost:5001");
    let a = env.describe("a");

    env.run(&cr(&["rename", "a", "b"])).fails_with("error: a container registry named `b` already exists");
    env.run(&cr(&["rename", "missing", "c"])).fails_with("error: container registry `missing` does not exist");
    env.run(&cr(&["rename", "a", "tab\there"])).failure();
    assert_eq!(env.names(), ["a", "b"]);

    let run = env.ok(&cr(&["rename", "a", "c"]));
    assert_eq!(run.stderr, "Renamed container registry `a` to `c`.\n");
    let c = env.describe("c");
    assert_eq!(c["id"], a["id"]);
    assert_eq!(c["config"], a["config"]);
    assert_eq!(env.names(), ["b", "c"]);
    env.run(&cr(&["describe", "a"])).fails_with("error: container registry `a` does not exist");

    // By id, and to its own name (a no-op rename is not a conflict with itself).
    env.ok(&cr(&["rename", a["id"].as_str().unwrap(), "d"]));
    // Renaming to its own name changes nothing, and says so (issue 10, case 9).
    let updated = env.describe("d")["updated"].clone();
    env.run(&cr(&["rename", "d", "d"])).fails_with("error: container registry `d` is already called `d`");
    assert_eq!(env.describe("d")["updated"], updated);
    assert_eq!(env.names(), ["b", "d"]);
}

fn copy_makes_a_new_component_with_the_same_config_and_labels(backend: Backend) {
    let env = Env::on(backend);
    env.ok(&cr(&["register", "src", "--flavor", "github", "--uri=ghcr.io/me", "--label", "team=ml"]));
    let run = env.ok(&cr(&["copy", "src", "dst"]));
    let src = env.describe("src");
    let dst = env.describe("dst");
    assert_eq!(run.stderr, format!("Copied container registry `src` to `dst` ({}).\n", dst["id"].as_str().unwrap()));
    assert_ne!(dst["id"], src["id"]);
    for key in ["flavor", "config", "labels", "component_type"] {
        assert_eq!(dst[key], src[key], "{key}");
    }

    env.run(&cr(&["copy", "src", "dst"])).fails_with("error: a container registry named `dst` already exists");
    env.run(&cr(&["copy", "missing", "x"])).fails_with("error: container registry `missing` does not exist");
    env.run(&cr(&["copy", "src", "new\nline"])).failure();
    // The copy is independent of its source.
    env.ok(&cr(&["update", "dst", "--uri=ghcr.io/other"]));
    assert_eq!(env.describe("src")["config"]["uri"], "ghcr.io/me");
    assert_eq!(env.names(), ["dst", "src"]);
}

// ---- list and describe -------------------------------------------------------------------

fn list_json_has_stable_fields_and_filters_by_flavor(backend: Backend) {
    let env = Env::on(backend);
    assert_eq!(env.json(&cr(&["list", "--output", "json"])), json!([]));
    let run = env.ok(&cr(&["list"]));
    assert_eq!(run.stdout, "NAME  ID  FLAVOR  URI  LABELS  UPDATED\n");
    assert_eq!(run.stderr, "No container registries registered; add one with `zenreg container-registry register`.\n");

    env.ok(&cr(&["register", "zeta", "--flavor", "github", "--uri=ghcr.io/me", "--label", "team=ml"]));
    env.register("alpha", "localhost:5000");
    env.ok(&cr(&["register", "mid", "--flavor", "aws", &format!("--uri={ECR}")]));

    let list = env.list();
    let names: Vec<&str> = list.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["alpha", "mid", "zeta"], "sorted by name");
    for component in &list {
        let keys: Vec<&str> = component.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["id", "name", "component_type", "flavor", "config", "labels", "created", "updated"]);
        assert!(is_uuid(component["id"].as_str().unwrap()));
        assert_eq!(component["component_type"], "container_registry");
        assert!(component["config"].is_object() && component["labels"].is_object());
        assert!(is_timestamp(component["created"].as_str().unwrap()), "{}", component["created"]);
        assert!(is_timestamp(component["updated"].as_str().unwrap()));
        // describe --output json shows exactly the list entry.
        assert_eq!(&env.describe(component["name"].as_str().unwrap()), component);
    }
    assert_eq!(list[2]["labels"], json!({ "team": "ml" }));

    let aws = env.json(&cr(&["list", "--flavor", "aws", "--output", "json"]));
    assert_eq!(aws.as_array().unwrap().len(), 1);
    assert_eq!(aws[0]["name"], "mid");
    assert_eq!(env.json(&cr(&["list", "-f", "gcp", "-o", "json"])), json!([]));
    env.run(&cr(&["list", "--flavor", "quay"]))
        .fails_containing(&["error: unknown container_registry flavor `quay`; known flavors: aws, azure, default"]);

    let table = env.ok(&cr(&["list"]));
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].starts_with("NAME "), "{}", lines[0]);
    let alpha: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(alpha[0], "alpha");
    assert_eq!(alpha[1], &list[0]["id"].as_str().unwrap()[..8]);
    assert_eq!(&alpha[2..4], ["default", "localhost:5000"]);
    assert!(lines[3].contains("team=ml"));
    assert!(!table.stdout.contains('\u{1b}'), "no colour off a terminal");
    assert_eq!(table.stderr, "");

    let github = env.ok(&cr(&["list", "--flavor", "github"]));
    assert_eq!(github.stdout.lines().count(), 2);
}

fn describe_finds_by_name_full_id_or_an_id_prefix_of_eight_or_more(backend: Backend) {
    let env = Env::on(backend);
    env.ok(&cr(&["register", "reg", "--flavor", "default", "--uri=localhost:5000", "--default_repository=app"]));
    let reg = env.describe("reg");
    let id = reg["id"].as_str().unwrap().to_string();

    assert_eq!(env.describe(&id), reg);
    assert_eq!(env.describe(&id[..8]), reg);
    assert_eq!(env.describe(&id[..13]), reg);
    assert_eq!(env.describe(&id.to_uppercase()), reg);
    env.run(&cr(&["describe", &id[..7]]))
        .fails_with(&format!("error: container registry `{}` does not exist", &id[..7]));

    let table = env.ok(&cr(&["describe", &id[..8]]));
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert_eq!(lines[0], "Container registry reg (flavor default)");
    assert_eq!(lines[1], format!("ID:             {id}"));
    assert_eq!(lines[2], "Implementation: linked");
    assert!(lines.contains(&"ATTRIBUTE           VALUE"));
    assert!(lines.contains(&"uri                 localhost:5000"));
    assert!(lines.contains(&"default_repository  app"));

    let run = env.run(&cr(&["describe", "missing"]));
    run.fails_with("error: container registry `missing` does not exist");
    env.run(&cr(&["describe", "missing", "--output", "json"]))
        .fails_with("error: container registry `missing` does not exist");
}

fn an_id_prefix_shared_by_two_components_is_ambiguous(backend: Backend) {
    let env = Env::on(backend);
    env.register("seed", "localhost:5000");
    // Two rows whose ids share their first eight characters, written as zenreg writes rows.
    for (id, name) in [("abcdef12-0000-4000-8000-000000000000", "one"), ("abcdef12-1111-4000-8000-000000000000", "two")]
    {
        let copy = |table: &str| {
            format!(
                "INSERT INTO {table} (id, name, component_type, flavor, config, labels, created, updated)
                 SELECT '{id}', '{name}', component_type, flavor, config, labels, created, updated FROM {table}
                 WHERE name = 'seed'"
            )
        };
        env.exec(&copy("components"), &copy("zenreg_components"));
    }
    // Every command that takes a name or id says so, naming both (issue 10, case 1).
    for command in [&["describe", "abcdef12"][..], &["delete", "abcdef12", "--yes"], &["rename", "abcdef12", "x"]] {
        let run = env.run(&cr(command));
        run.fails_with(
            "error: id prefix `abcdef12` is ambiguous: it matches container registry `one` \
             (abcdef12-0000-4000-8000-000000000000) and `two` (abcdef12-1111-4000-8000-000000000000)",
        );
        assert_eq!(run.hint(), Some("hint: give more characters of the id, or the name"));
    }
    assert_eq!(env.describe("abcdef12-0")["name"], "one");
    assert_eq!(env.describe("abcdef12-1111")["name"], "two");
    assert_eq!(env.names(), ["one", "seed", "two"]);
}

// ---- delete ------------------------------------------------------------------------------

fn delete_needs_yes_off_a_terminal(backend: Backend) {
    let env = Env::on(backend);
    env.register("a", "localhost:5000");
    env.register("b", "localhost:5001");
    let run = env.run(&cr(&["delete", "a"]));
    run.fails_with("error: refusing to delete without confirmation: standard input is not a terminal");
    assert_eq!(run.hint(), Some("hint: pass `--yes` to delete without asking"));
    // A `y` piped in is not a confirmation either.
    env.run_stdin(&cr(&["delete", "a"]), "y\n").failure();
    assert_eq!(env.names(), ["a", "b"]);

    let run = env.ok(&cr(&["delete", "a", "--yes"]));
    assert_eq!(run.stderr, "Deleted container registry `a`.\n");
    assert_eq!(run.stdout, "");
    let id = env.describe("b")["id"].as_str().unwrap().to_string();
    env.ok(&cr(&["delete", "-y", &id[..8]]));
    assert!(env.names().is_empty());

    let run = env.run(&cr(&["delete", "a", "--yes"]));
    run.fails_with("error: container registry `a` does not exist");
    assert_eq!(run.code, Some(1));
}

// ---- usage -------------------------------------------------------------------------------

#[test]
fn usage_errors_exit_2() {
    let env = Env::new();
    // Without a subcommand: one usage error naming the commands, and where the help is.
    env.run(&["container-registry"]).usage_fails_with(
        "error: `zenreg container-registry` needs a command: flavor, register, update, remove-attribute, rename, \
         copy, list, describe, delete, push",
    );
    for args in [
        &["container-registry", "bogus"][..],
        &["container-registry", "register"],
        &["container-registry", "delete"],
        &["container-registry", "describe"],
        &["container-registry", "rename", "only-one"],
        &["container-registry", "copy", "only-one"],
        &["container-registry", "update"],
        &["container-registry", "remove-attribute"],
        &["container-registry", "list", "--output", "yaml"],
        &["container-registry", "list", "--bogus"],
        &["container-registry", "describe", "x", "--output", "xml"],
        &["secret", "create"],
        &["secret", "describe"],
        &["secret", "bogus"],
        &["secret", "list", "extra"],
    ] {
        env.run(args).usage_error();
    }
    assert!(!env.store().exists(), "a usage error opens no store");
    let help = env.ok(&["container-registry", "--help"]);
    for command in ["register", "update", "remove-attribute", "rename", "copy", "list", "describe", "delete", "flavor"]
    {
        assert!(help.stdout.contains(command), "{command} missing from help");
    }
}

#[test]
fn the_store_comes_from_zenreg_store_or_zenreg_home() {
    let env = Env::new();
    let by_env = env.dir().join("by-env.db");
    let run = |command: &mut std::process::Command| {
        let output = command.stdin(std::process::Stdio::null()).output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    let zenreg = || {
        let mut command = std::process::Command::new(common::ZENREG);
        command.env_remove("ZENREG_STORE").env_remove("ZENREG_HOME");
        command
    };
    run(zenreg()
        .args(["container-registry", "register", "a", "--flavor", "default", "--uri=localhost:5000"])
        .env("ZENREG_STORE", &by_env)
        .env("ZENREG_HOME", env.dir().join("unused")));
    assert!(by_env.is_file());
    assert!(!env.dir().join("unused").exists(), "ZENREG_STORE wins over ZENREG_HOME");
    let home = env.dir().join("home");
    run(zenreg()
        .args(["container-registry", "register", "b", "--flavor", "default", "--uri=localhost:5000"])
        .env("ZENREG_HOME", &home));
    assert!(home.join("zenreg.db").is_file());
    // --store wins over both.
    let by_flag = env.dir().join("by-flag.db");
    run(zenreg()
        .arg("--store")
        .arg(&by_flag)
        .args(["container-registry", "register", "c", "--flavor", "default", "--uri=localhost:5000"])
        .env("ZENREG_STORE", &by_env));
    let by_flag_env = Env::with_store(common::TempDir::new(), by_flag);
    assert_eq!(by_flag_env.names(), ["c"]);
    let by_env_env = Env::with_store(common::TempDir::new(), by_env);
    assert_eq!(by_env_env.names(), ["a"]);
}

on_both_backends!(
    register_stores_a_validated_normalised_config_with_labels,
    register_takes_the_flavor_after_the_attributes,
    register_reads_file_values_up_to_one_mebibyte_and_unescapes_double_at,
    register_refuses_keys_that_are_not_identifiers,
    register_names_unknown_keys_and_reports_every_problem_at_once,
    register_names_an_unknown_flavor_with_the_known_list,
    register_without_flavor_is_refused,
    names_refuse_tab_newline_carriage_return_vertical_tab_and_form_feed,
    a_name_is_unique_and_free_again_after_delete,
    aws_registers_without_its_implementation_and_shows_the_flavor_note,
    update_merges_revalidates_and_keeps_the_store_unchanged_when_invalid,
    update_revalidates_with_the_flavor_of_the_component,
    remove_attribute_refuses_required_ones_and_removes_optional_ones_and_labels,
    rename_keeps_the_id_and_refuses_a_taken_name,
    copy_makes_a_new_component_with_the_same_config_and_labels,
    list_json_has_stable_fields_and_filters_by_flavor,
    describe_finds_by_name_full_id_or_an_id_prefix_of_eight_or_more,
    an_id_prefix_shared_by_two_components_is_ambiguous,
    delete_needs_yes_off_a_terminal,
);

/// clap's suggested spelling is the hint (it writes it as its first tip, ahead of any other).
#[test]
fn a_misspelled_command_or_option_gets_clap_suggestion_as_the_hint() {
    let env = Env::new();
    let run = env.run(&cr(&["registr"]));
    run.usage_error();
    assert_eq!(run.hint(), Some("hint: some similar subcommands exist: 'list', 'register'"), "{}", run.stderr);
    let run = env.run(&cr(&["list", "--outpt", "json"]));
    run.usage_fails_with("error: unexpected argument '--outpt' found");
    assert_eq!(run.hint(), Some("hint: a similar argument exists: '--output'"), "{}", run.stderr);
}
