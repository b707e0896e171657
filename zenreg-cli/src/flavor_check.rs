//! `zenreg flavor check PATH`: what ZenML's `validate_flavor_source` checks at run time, checked
//! for a flavor workspace at build time.
//!
//! The compiler already refuses most mistakes (a config that is not a flavor config, an
//! implementation of another flavor's config, a misspelt attribute), spanned on the token at
//! fault; `cargo build` reports those. What it cannot see is how the pieces are linked, so the
//! check then runs the workspace's own binary (one that depends on zenreg-cli, as `flavor init`
//! writes it) with every feature on, and reads its `flavor list` and `flavor describe`:
//! duplicate flavor names across the linked crates, config fields without a doc comment (their
//! description in `flavor describe` is empty), an implementation that names no feature, or that
//! no feature links, and flavor crates that the binary does not name.
//!
//! Findings go to stdout, one a line; the command fails when there is any.

// `serde_json::Value` indexed by a key yields `Null` for anything missing: it cannot panic, and
// reading cargo's JSON that way keeps the checks readable.
#![allow(clippy::indexing_slicing)]

use crate::error::Error;
use crate::output;
use crate::program;
use clap::Args;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The flavor workspace (or crate) to check: the folder of its Cargo.toml.
    #[arg(default_value = ".")]
    path: PathBuf,
}

/// A workspace package, as far as the check needs it.
#[derive(Debug)]
struct Package {
    name: String,
    flavor_crate: bool,
    /// Its binaries, when it depends on zenreg-cli (so they take zenreg's commands).
    zenreg_binaries: Vec<String>,
    features: BTreeSet<String>,
}

/// The cargo that runs this command when there is one (`cargo run`), else the one on PATH.
fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

fn cargo_failed(what: &str, detail: impl std::fmt::Display) -> Error {
    Error::invalid(format!("`cargo {what}` failed: {detail}"), Some("check that cargo runs in that folder".into()))
}

fn packages(manifest: &Path) -> Result<Vec<Package>, Error> {
    let output = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps", "--manifest-path"])
        .arg(manifest)
        .output()
        .map_err(|error| cargo_failed("metadata", error))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(cargo_failed("metadata", stderr.lines().find(|l| l.starts_with("error")).unwrap_or(&stderr)));
    }
    let metadata: Value = serde_json::from_slice(&output.stdout).map_err(|error| cargo_failed("metadata", error))?;
    let list = metadata["packages"].as_array().map(Vec::as_slice).unwrap_or_default();
    Ok(list
        .iter()
        .map(|p| {
            let depends_on_cli = p["dependencies"]
                .as_array()
                .is_some_and(|deps| deps.iter().any(|d| d["name"] == "zenreg-cli" && d["kind"].is_null()));
            let targets = p["targets"].as_array().map(Vec::as_slice).unwrap_or_default();
            let zenreg_binaries = targets
                .iter()
                .filter(|t| depends_on_cli && t["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin")))
                .filter_map(|t| t["name"].as_str().map(String::from))
                .collect();
            Package {
                name: p["name"].as_str().unwrap_or_default().to_string(),
                flavor_crate: p["metadata"]["zenreg"]["flavor-crate"] == true,
                zenreg_binaries,
                features: p["features"].as_object().map(|f| f.keys().cloned().collect()).unwrap_or_default(),
            }
        })
        .collect())
}

/// Builds the workspace with every feature on, showing the compiler's messages on stderr as it
/// renders them; returns the executables built, by target name.
fn build(manifest: &Path) -> Result<Vec<(String, PathBuf)>, Error> {
    let mut child = cargo()
        .args(["build", "--workspace", "--all-targets", "--all-features", "--message-format", "json"])
        .arg("--manifest-path")
        .arg(manifest)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|error| cargo_failed("build", error))?;
    let stdout = child.stdout.take().ok_or_else(|| cargo_failed("build", "no output"))?;
    let mut executables = Vec::new();
    // A crate compiled twice (as a library and as its unit tests) reports the same message twice.
    let mut shown = BTreeSet::new();
    let mut errors = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        let Ok(message) = serde_json::from_str::<Value>(&line) else { continue };
        match message["reason"].as_str() {
            Some("compiler-message") => {
                let Some(rendered) = message["message"]["rendered"].as_str() else { continue };
                if shown.insert(rendered.to_string()) {
                    if message["message"]["level"] == "error" {
                        errors += 1;
                    }
                    // The compiler's own rendering, shown as it is; a failed write loses only it.
                    let _ = std::io::Write::write_all(&mut std::io::stderr(), rendered.as_bytes());
                }
            }
            // Test harnesses of binaries are executables too; only the binaries take commands.
            Some("compiler-artifact") if message["profile"]["test"] != true => {
                let is_bin = message["target"]["kind"].as_array().is_some_and(|k| k.iter().any(|k| k == "bin"));
                if let (true, Some(executable), Some(name)) =
                    (is_bin, message["executable"].as_str(), message["target"]["name"].as_str())
                {
                    executables.push((name.to_string(), PathBuf::from(executable)));
                }
            }
            _ => {}
        }
    }
    let status = child.wait()?;
    if !status.success() {
        let what = match errors {
            0 => "cargo reported why above".to_string(),
            1 => "1 compiler error (above)".to_string(),
            n => format!("{n} compiler errors (above)"),
        };
        return Err(Error::invalid(
            format!("`{}` does not build: {what}", manifest.parent().unwrap_or(manifest).display()),
            Some("fix them and check again".into()),
        ));
    }
    Ok(executables)
}

/// Runs `binary ARGS…` and returns its JSON output, or its `error:` line.
fn run_json(binary: &Path, args: &[&str]) -> Result<Result<Value, String>, Error> {
    let output = Command::new(binary).args(args).env("NO_COLOR", "1").stdin(Stdio::null()).output()?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        let line = stderr.lines().find_map(|l| l.strip_prefix("error: ")).unwrap_or("it failed without a message");
        return Ok(Err(line.to_string()));
    }
    Ok(serde_json::from_slice(&output.stdout).map_err(|error| format!("its output is not JSON: {error}")))
}

/// The findings about the flavors linked into `binary` that the workspace defines.
fn check_binary(binary: &str, path: &Path, packages: &[Package], owner: &Package) -> Result<Vec<String>, Error> {
    let mut findings = Vec::new();
    let ours: BTreeSet<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let listed = match run_json(path, &["flavor", "list", "--output", "json"])? {
        Ok(list) => list,
        // A duplicate name is reported after the listing, with both sources named.
        Err(line) => {
            findings.push(format!("{binary}: `flavor list` fails: {line}"));
            return Ok(findings);
        }
    };
    let flavors = listed.as_array().map(Vec::as_slice).unwrap_or_default();
    let mut registering = BTreeSet::new();
    for flavor in flavors {
        let name = flavor["name"].as_str().unwrap_or_default();
        let integration = flavor["integration"].as_str().unwrap_or_default();
        if let Some(implementation) = flavor["implementation_integration"].as_str() {
            registering.insert(implementation.to_string());
        }
        if !ours.contains(integration) {
            continue;
        }
        registering.insert(integration.to_string());
        let implementation = flavor["implementation"].as_str();
        match (implementation, flavor["feature"].as_str()) {
            (None, _) => findings.push(format!(
                "flavor `{name}`: no `implementation`: its components can be registered but never pushed"
            )),
            (Some(implementation), None) => findings.push(format!(
                "flavor `{name}`: implementation `{implementation}` has no `feature`: a build without it cannot \
                 say which feature links it"
            )),
            (Some(implementation), Some(feature)) => {
                if !owner.features.contains(feature) {
                    findings.push(format!(
                        "flavor `{name}`: its feature `{feature}` is not a feature of `{}`, which builds `{binary}`",
                        owner.name
                    ));
                }
                if flavor["implementation_linked"] != true {
                    findings.push(format!(
                        "flavor `{name}`: implementation `{implementation}` is not linked into `{binary}` even with \
                         every feature on: name its crate in main.rs under `#[cfg(feature = \"{feature}\")]`"
                    ));
                }
            }
        }
        match run_json(path, &["flavor", "describe", name, "--output", "json"])? {
            Ok(described) => {
                for property in described["properties"].as_array().map(Vec::as_slice).unwrap_or_default() {
                    if property["description"].as_str().is_none_or(|d| d.trim().is_empty()) {
                        findings.push(format!(
                            "flavor `{name}`: config field `{}` has no doc comment: `flavor describe` shows no \
                             description for it",
                            property["name"].as_str().unwrap_or_default()
                        ));
                    }
                }
            }
            Err(line) => findings.push(format!("flavor `{name}`: `flavor describe` fails: {line}")),
        }
    }
    for package in packages.iter().filter(|p| p.flavor_crate && !registering.contains(&p.name)) {
        findings.push(format!(
            "crate `{}` registers nothing in `{binary}`: name it in main.rs (`use {} as _;`), or drop its \
             `flavor-crate` mark",
            package.name,
            package.name.replace('-', "_")
        ));
    }
    Ok(findings)
}

pub(crate) fn run(args: CheckArgs) -> Result<(), Error> {
    let manifest = args.path.join("Cargo.toml");
    if !manifest.is_file() {
        return Err(Error::invalid(
            format!("`{}` has no Cargo.toml", args.path.display()),
            Some(format!("give the folder of a flavor workspace (`{} flavor init NAME` writes one)", program())),
        ));
    }
    let packages = packages(&manifest)?;
    let executables = build(&manifest)?;
    let mut findings = Vec::new();
    let mut checked = 0;
    for owner in &packages {
        for binary in &owner.zenreg_binaries {
            let Some((_, path)) = executables.iter().find(|(name, _)| name == binary) else { continue };
            checked += 1;
            findings.extend(check_binary(binary, path, &packages, owner)?);
        }
    }
    if checked == 0 {
        return Err(Error::invalid(
            format!(
                "`{}` builds, but has no binary that depends on zenreg-cli to check the flavors in",
                args.path.display()
            ),
            Some(format!(
                "add one whose main is `zenreg_cli::main()` (`{} flavor init NAME` writes such a workspace)",
                program()
            )),
        ));
    }
    if !findings.is_empty() {
        output::print(&findings.join("\n"))?;
        let count = if findings.len() == 1 { "1 problem".to_string() } else { format!("{} problems", findings.len()) };
        return Err(Error::invalid(
            format!("{count} in the flavors of `{}` (listed above)", args.path.display()),
            Some("fix them and check again".into()),
        ));
    }
    say!("Checked `{}`: it builds, and its flavors are linked and documented.", args.path.display());
    Ok(())
}
