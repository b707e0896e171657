//! `zenreg flavor init NAME`: writes a ready cargo workspace for a new flavor, laid out like
//! `zenreg-aws-example` (a light config crate, an implementation crate, a binary that links the
//! implementation behind a feature), with tests and a README. It is the compile-time counterpart
//! of ZenML's `flavor register`: the flavor is registered by building that binary.
//!
//! The files are templates under `templates/flavor/`, kept as real code with `{{placeholder}}`s
//! and filled by plain substitution, so what they say can be read (and diffed) as the code it
//! becomes. The workspace is written into a temporary sibling directory and renamed into place
//! at the end: a failure never leaves half a workspace behind.

use crate::error::Error;
use crate::program;
use clap::Args;
use std::path::{Path, PathBuf};
use zenreg_core::{Catalog, ComponentType};

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// Name of the new flavor: lowercase letters, digits and `_`, starting with a letter.
    name: String,
    /// Directory to write the workspace into; it must not exist or be empty [default: ./NAME]
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Depend on the zenreg crates of the zenreg checkout at PATH (path dependencies; its
    /// Cargo.lock is the new workspace's starting lockfile)
    #[arg(long, value_name = "PATH", conflicts_with = "zenreg_version")]
    zenreg_path: Option<PathBuf>,
    /// Depend on this version of the zenreg crates, from a cargo registry [default: the version
    /// of this binary]
    #[arg(long, value_name = "VERSION")]
    zenreg_version: Option<String>,
}

/// The longest flavor name `flavor init` accepts. `#[derive(Flavor)]` takes names of up to 255
/// characters, but the workspace written here turns the name into file names longer than it:
/// the staging folder `.NAME.flavor-init-PID`, crates `NAME-config`, the binary `zenreg-NAME`,
/// and rustc's object files, which hold the crate name twice
/// (`NAME_config-HASH.NAME_config.HASH-cgu.N.rcgu.o`, about twice the name plus 64). File names
/// have at most 255 bytes on Linux and macOS: 64 leaves room for all of them (issue 22: names
/// of 241–255 characters failed with `File name too long` after the checks).
const MAX_NAME: usize = 64;

/// zenreg's own crates: a generated crate with one of these names would shadow the dependency.
const ZENREG_CRATES: &[&str] =
    &["zenreg-derive", "zenreg-core", "zenreg-aws-config", "zenreg-aws", "zenreg-store", "zenreg-push", "zenreg-cli"];

/// One file of the workspace: where it goes and its template.
struct Template {
    path: &'static str,
    text: &'static str,
}

/// Manifests are stored as `Cargo.toml.tmpl`: a `Cargo.toml` inside zenreg-cli's folder would
/// make cargo treat `templates/…` as a package of its own and leave it out of zenreg-cli's.
const TEMPLATES: &[Template] = &[
    Template { path: "Cargo.toml", text: include_str!("../templates/flavor/Cargo.toml.tmpl") },
    Template { path: ".gitignore", text: include_str!("../templates/flavor/gitignore.tmpl") },
    Template { path: "rustfmt.toml", text: include_str!("../templates/flavor/rustfmt.toml") },
    Template { path: "README.md", text: include_str!("../templates/flavor/README.md") },
    Template { path: "src/main.rs", text: include_str!("../templates/flavor/src/main.rs") },
    Template { path: "tests/cli.rs", text: include_str!("../templates/flavor/tests/cli.rs") },
    Template { path: "config/Cargo.toml", text: include_str!("../templates/flavor/config/Cargo.toml.tmpl") },
    Template { path: "config/src/lib.rs", text: include_str!("../templates/flavor/config/src/lib.rs") },
    Template {
        path: "config/tests/validation.rs",
        text: include_str!("../templates/flavor/config/tests/validation.rs"),
    },
    Template {
        path: "config/tests/crate_split.rs",
        text: include_str!("../templates/flavor/config/tests/crate_split.rs"),
    },
    Template { path: "impl/Cargo.toml", text: include_str!("../templates/flavor/impl/Cargo.toml.tmpl") },
    Template { path: "impl/src/lib.rs", text: include_str!("../templates/flavor/impl/src/lib.rs") },
];

/// Where the generated workspace takes the zenreg crates from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ZenregSource {
    /// A zenreg checkout (absolute path), as path dependencies.
    Path(PathBuf),
    /// A version requirement, resolved from a cargo registry.
    Version(String),
}

/// Everything the templates are filled with.
#[derive(Debug)]
struct Plan {
    name: String,
    source: ZenregSource,
}

impl Plan {
    /// The names with `-` that cargo packages conventionally use (`my_reg` → `my-reg`).
    fn kebab(&self) -> String {
        self.name.replace('_', "-")
    }

    /// The type-name prefix (`my_reg` → `MyReg`).
    fn camel(&self) -> String {
        self.name
            .split('_')
            .filter(|part| !part.is_empty())
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map(|first| first.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
            })
            .collect()
    }

    /// The crates the workspace defines.
    fn crates(&self) -> [String; 3] {
        let kebab = self.kebab();
        [format!("{kebab}-config"), format!("{kebab}-impl"), format!("{kebab}-cli")]
    }

    fn placeholders(&self) -> Result<Vec<(&'static str, String)>, Error> {
        let (core, cli, source) = match &self.source {
            ZenregSource::Path(root) => {
                let path = |krate: &str| -> Result<String, Error> {
                    let path = root.join(krate);
                    // The path is also written in comments, where a line break would end the comment.
                    path.to_str().filter(|text| !text.contains(char::is_control)).map(toml_string).ok_or_else(|| {
                        Error::invalid(
                            format!(
                                "the path `{}` is not UTF-8 or holds control characters: it cannot be written \
                                 in Cargo.toml",
                                path.display()
                            ),
                            Some("move the zenreg checkout to a path without such characters".into()),
                        )
                    })
                };
                (
                    format!("{{ path = {}, default-features = false }}", path("zenreg-core")?),
                    format!("{{ path = {} }}", path("zenreg-cli")?),
                    format!("the zenreg checkout at `{}` (path dependencies)", root.display()),
                )
            }
            ZenregSource::Version(version) => (
                format!("{{ version = {}, default-features = false }}", toml_string(version)),
                format!("{{ version = {} }}", toml_string(version)),
                format!(
                    "version `{version}` of the zenreg crates (`zenreg-core`, `zenreg-cli`) from a cargo registry: \
                     they must be reachable from one (crates.io, or a registry of your own named in \
                     `.cargo/config.toml`); `flavor init --zenreg-path PATH` depends on a zenreg checkout instead"
                ),
            ),
        };
        Ok(vec![
            ("name", self.name.clone()),
            ("kebab", self.kebab()),
            ("Camel", self.camel()),
            ("zenreg_core", core),
            ("zenreg_cli", cli),
            ("zenreg_source", source),
        ])
    }

    /// Every file of the workspace, filled in: (relative path, contents).
    fn render(&self) -> Result<Vec<(&'static str, String)>, Error> {
        let placeholders = self.placeholders()?;
        Ok(TEMPLATES.iter().map(|template| (template.path, fill(template.text, &placeholders))).collect())
    }
}

/// Replaces each `{{key}}` with its value.
fn fill(text: &str, placeholders: &[(&str, String)]) -> String {
    placeholders.iter().fold(text.to_string(), |text, (key, value)| text.replace(&format!("{{{{{key}}}}}"), value))
}

/// A TOML basic string.
fn toml_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Checks a flavor name as `#[derive(Flavor)]` would, before anything is written.
fn check_name(name: &str) -> Result<(), Error> {
    let hint = || {
        // Offer the name the user probably meant, when there is one.
        let guess: String =
            name.trim().chars().map(|c| if c == '-' || c == ' ' { '_' } else { c.to_ascii_lowercase() }).collect();
        let guess = guess.trim_start_matches(|c: char| !c.is_ascii_lowercase());
        if is_flavor_name(guess) && guess != name {
            Some(format!("e.g. `{} flavor init {guess}`", program()))
        } else {
            Some("e.g. `my_registry`".to_string())
        }
    };
    if name.is_empty() {
        return Err(Error::usage("the flavor name is empty", hint()));
    }
    if name.len() > MAX_NAME {
        return Err(Error::usage(
            format!("the flavor name is {} characters long; at most {MAX_NAME} are allowed", name.len()),
            Some(format!(
                "the name becomes the names of crates, a binary and their build files; give one of at most \
                 {MAX_NAME} characters"
            )),
        ));
    }
    if !is_flavor_name(name) {
        return Err(Error::usage(
            format!("invalid flavor name `{name}`: use lowercase letters, digits and `_`, starting with a letter"),
            hint(),
        ));
    }
    Ok(())
}

fn is_flavor_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && name.len() <= MAX_NAME
}

/// Checks a `--zenreg-version` requirement enough to keep the manifest well-formed; cargo
/// judges the rest.
fn check_version(version: &str) -> Result<(), Error> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || ".^~=<>*, +-".contains(c);
    if version.trim().is_empty() || !version.chars().all(allowed) || !version.contains(|c: char| c.is_ascii_digit()) {
        return Err(Error::usage(
            format!("invalid `--zenreg-version {version}`: expected a cargo version requirement"),
            Some("e.g. `--zenreg-version 0.1.0` or `--zenreg-version '^0.1'`".into()),
        ));
    }
    Ok(())
}

/// The root of a zenreg checkout, made absolute: the generated workspace lives elsewhere.
fn check_zenreg_path(path: &Path) -> Result<PathBuf, Error> {
    let hint = || {
        Some(
            "point `--zenreg-path` at the root of a zenreg checkout (the folder with zenreg-core/ and zenreg-cli/)"
                .into(),
        )
    };
    let root = std::fs::canonicalize(path)
        .map_err(|error| Error::invalid(format!("cannot use `--zenreg-path {}`: {error}", path.display()), hint()))?;
    for krate in ["zenreg-core", "zenreg-cli"] {
        if !root.join(krate).join("Cargo.toml").is_file() {
            return Err(Error::invalid(
                format!("`{}` is not a zenreg checkout: it has no `{krate}/Cargo.toml`", root.display()),
                hint(),
            ));
        }
    }
    Ok(root)
}

/// A target that is a symbolic link to a directory is that directory (the workspace is written
/// where the link points); a link to anything else, or to nothing, is refused.
fn resolve_link(target: PathBuf) -> Result<PathBuf, Error> {
    let is_link = std::fs::symlink_metadata(&target).is_ok_and(|m| m.file_type().is_symlink());
    if !is_link {
        return Ok(target);
    }
    let hint = || Some("pick another `--dir`, or remove it first".to_string());
    match std::fs::metadata(&target) {
        Ok(metadata) if metadata.is_dir() => std::fs::canonicalize(&target)
            .map_err(|error| Error::invalid(format!("cannot use `{}`: {error}", target.display()), None)),
        Ok(_) => Err(Error::invalid(format!("`{}` already exists and is not a directory", target.display()), hint())),
        Err(error) => Err(Error::invalid(
            format!("`{}` is a symbolic link that leads nowhere usable: {error}", target.display()),
            hint(),
        )),
    }
}

/// Refuses a target that holds anything; an empty directory is fine (it is replaced).
fn check_target(dir: &Path) -> Result<(), Error> {
    let hint = || Some("pick another `--dir`, or remove it first".to_string());
    match std::fs::symlink_metadata(dir) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(Error::invalid(format!("cannot use `{}`: {error}", dir.display()), None)),
        Ok(metadata) if !metadata.is_dir() => {
            Err(Error::invalid(format!("`{}` already exists and is not a directory", dir.display()), hint()))
        }
        Ok(_) => match std::fs::read_dir(dir).map(|mut entries| entries.next().is_none()) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::invalid(format!("`{}` already exists and is not empty", dir.display()), hint())),
            Err(error) => Err(Error::invalid(format!("cannot read `{}`: {error}", dir.display()), None)),
        },
    }
}

/// Refuses a name that would clash once linked: with a flavor this binary already links (the
/// catalog refuses two flavors with one name), or with zenreg's own crates.
fn check_clashes(plan: &Plan) -> Result<(), Error> {
    if let Ok(entry) = Catalog::global().flavor(ComponentType::ContainerRegistry, &plan.name) {
        return Err(Error::invalid(
            format!(
                "a flavor named `{}` already exists (`{}`, from crate `{}`): a binary cannot link two flavors \
                 with one name",
                plan.name, entry.descriptor.source, entry.descriptor.integration
            ),
            Some(format!("pick another name; `{} flavor list` shows the taken ones", program())),
        ));
    }
    if let Some(krate) = plan.crates().into_iter().find(|krate| ZENREG_CRATES.contains(&krate.as_str())) {
        return Err(Error::invalid(
            format!("flavor `{}` would need a crate named `{krate}`, which is one of zenreg's own", plan.name),
            Some("pick another name".into()),
        ));
    }
    Ok(())
}

pub(crate) fn run(args: InitArgs) -> Result<(), Error> {
    check_name(&args.name)?;
    let source = match (&args.zenreg_path, &args.zenreg_version) {
        (Some(path), _) => ZenregSource::Path(check_zenreg_path(path)?),
        (None, Some(version)) => {
            check_version(version)?;
            ZenregSource::Version(version.trim().to_string())
        }
        (None, None) => ZenregSource::Version(env!("CARGO_PKG_VERSION").to_string()),
    };
    let plan = Plan { name: args.name, source };
    check_clashes(&plan)?;
    let target = resolve_link(args.dir.unwrap_or_else(|| PathBuf::from(&plan.name)))?;
    check_target(&target)?;
    let mut files = plan.render()?;
    if let ZenregSource::Path(root) = &plan.source {
        // zenreg's lockfile pins the versions zenreg is tested with, all of them in the local
        // crate cache once zenreg has been built: the new workspace then builds offline, and a
        // shared target directory reuses zenreg's compiled dependencies. Cargo drops the entries
        // it does not need on the first build.
        match std::fs::read_to_string(root.join("Cargo.lock")) {
            Ok(lockfile) => files.push(("Cargo.lock", lockfile)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(Error::invalid(
                    format!("cannot read `{}`: {error}", root.join("Cargo.lock").display()),
                    None,
                ));
            }
        }
    }
    write_atomically(&target, &files)?;
    let [config, implementation, _] = plan.crates();
    say!(
        "Created flavor `{}` in `{}`: crates `{config}` and `{implementation}`, and the binary `zenreg-{}` \
         (feature `{}` links the implementation).",
        plan.name,
        target.display(),
        plan.kebab(),
        plan.name
    );
    say!("Next: `cd {} && cargo test`, then read its README.md.", target.display());
    Ok(())
}

/// Writes every file under a temporary sibling of `target`, then renames it into place.
fn write_atomically(target: &Path, files: &[(&str, String)]) -> Result<(), Error> {
    let name =
        target.file_name().and_then(|n| n.to_str()).filter(|n| !n.is_empty() && *n != "..").ok_or_else(|| {
            Error::usage(
                format!("`{}` does not end in a directory name", target.display()),
                Some("give `--dir` a path such as `./my_flavor`".into()),
            )
        })?;
    let parent = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let write_error = |path: &Path, error: std::io::Error| {
        Error::invalid(
            format!("cannot write `{}`: {error}", path.display()),
            Some("check the directory's permissions and free space, or pick another `--dir`".into()),
        )
    };
    std::fs::create_dir_all(&parent).map_err(|error| write_error(&parent, error))?;
    // In the same directory as the target, so that the final rename stays on one file system.
    let staging = parent.join(format!(".{name}.flavor-init-{}", std::process::id()));
    std::fs::create_dir(&staging).map_err(|error| write_error(&staging, error))?;
    let result = files
        .iter()
        .try_for_each(|(relative, contents)| {
            let path = staging.join(relative);
            if let Some(folder) = path.parent() {
                std::fs::create_dir_all(folder).map_err(|error| write_error(folder, error))?;
            }
            std::fs::write(&path, contents).map_err(|error| write_error(&target.join(relative), error))
        })
        .and_then(|()| {
            // The target was checked to be absent or empty; an empty one makes way, and the
            // workspace takes its mode (a folder made private stays private).
            if let Some(metadata) = std::fs::metadata(target).ok().filter(|m| m.is_dir()) {
                std::fs::set_permissions(&staging, metadata.permissions())
                    .map_err(|error| write_error(&staging, error))?;
                std::fs::remove_dir(target).map_err(|error| write_error(target, error))?;
            }
            std::fs::rename(&staging, target).map_err(|error| write_error(target, error))
        });
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(name: &str) -> Plan {
        Plan { name: name.to_string(), source: ZenregSource::Version("0.1.0".into()) }
    }

    /// Every `{{word}}` left in a text.
    fn leftovers(text: &str) -> Vec<String> {
        let mut found = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let after = &rest[start + 2..];
            let word: String = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !word.is_empty() && after[word.len()..].starts_with("}}") {
                found.push(word);
            }
            rest = after;
        }
        found
    }

    #[test]
    fn every_placeholder_of_every_template_is_filled() {
        let plan = plan("my_reg");
        let known: Vec<&str> = plan.placeholders().unwrap().iter().map(|(key, _)| *key).collect();
        for template in TEMPLATES {
            let used = leftovers(template.text);
            assert!(used.iter().all(|key| known.contains(&key.as_str())), "{}: {used:?}", template.path);
        }
        for (path, text) in plan.render().unwrap() {
            assert_eq!(leftovers(&text), Vec::<String>::new(), "{path}");
            assert!(!text.contains("my-reg_") && !text.contains("MyReg_"), "{path}: a name joined wrongly");
        }
    }

    #[test]
    fn names_derive_crates_and_types() {
        let my_reg = plan("my_reg2");
        assert_eq!(my_reg.kebab(), "my-reg2");
        assert_eq!(my_reg.camel(), "MyReg2");
        assert_eq!(my_reg.crates(), ["my-reg2-config", "my-reg2-impl", "my-reg2-cli"]);
        assert_eq!(plan("a__b").camel(), "AB");
    }

    #[test]
    fn flavor_names_follow_the_macro_rule() {
        for good in ["acme", "a", "my_reg", "r2d2", &"a".repeat(MAX_NAME)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Acme", "my-reg", "2fast", "_x", "a.b", "ä", &"a".repeat(MAX_NAME + 1)] {
            let error = check_name(bad).unwrap_err();
            assert!(error.is_usage(), "{bad}");
        }
        assert_eq!(check_name("My-Reg").unwrap_err().hint().unwrap(), "e.g. `zenreg flavor init my_reg`");
    }

    #[test]
    fn version_requirements_are_checked_for_the_manifest() {
        for good in ["0.1.0", "^0.1", "=1.2.3-rc.1", ">=0.1, <0.3"] {
            assert!(check_version(good).is_ok(), "{good}");
        }
        for bad in ["", "latest", "0.1\"", "0.1\n[x]"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn manifest_values_are_toml_strings() {
        assert_eq!(toml_string(r#"C:\zen "reg""#), r#""C:\\zen \"reg\"""#);
        assert_eq!(toml_string("a\nb"), r#""a\u000Ab""#);
    }

    #[test]
    fn clashing_names_are_refused() {
        // The built-in flavors are linked into every binary of zenreg-cli.
        assert!(check_clashes(&plan("dockerhub")).is_err());
        // `zenreg` would need a crate called `zenreg-cli`.
        assert!(check_clashes(&plan("zenreg")).is_err());
        assert!(check_clashes(&plan("my_reg")).is_ok());
    }
}
