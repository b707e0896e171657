//! `zenreg flavor register SOURCE`: ZenML's verb, answered the compile-time way.
//!
//! ZenML imports a flavor class from a source path at run time. zenreg registers a flavor by
//! linking its crate into the binary, so there is nothing to do at run time; instead of failing
//! obscurely the command says so in two lines (`error:` and `hint:`, exit code 2 like every
//! command that cannot be run as written) and points at the next step: the flavor is already
//! linked, or which feature or crate links it, or `flavor init` to start a new one.

use crate::error::{Error, catalog_hint};
use crate::program;
use clap::Args;
use std::path::Path;
use zenreg_core::{Catalog, CatalogError, ComponentType, FlavorEntry};

#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// The flavor's Rust path (`acme_config::AcmeFlavor`; ZenML's dotted form works too), its
    /// crate (`acme-config`), or the folder of its crate.
    source: String,
}

/// What SOURCE names, read as far as it can be without building anything.
#[derive(Debug, PartialEq, Eq)]
struct Source {
    /// The crate as Rust names it (`acme_config`).
    krate: String,
    /// The whole path with `::` separators (`acme_config::AcmeFlavor`), or the crate alone.
    path: String,
}

/// Reads SOURCE as a crate folder, a Rust path or a crate name.
fn parse(source: &str) -> Result<Source, Error> {
    let text = source.trim();
    let folder = Path::new(text);
    if !text.is_empty() && folder.join("Cargo.toml").is_file() {
        let krate = package_name(&folder.join("Cargo.toml")).ok_or_else(|| {
            Error::usage(
                format!("`{text}/Cargo.toml` has no `[package]` name"),
                Some("give the flavor's Rust path instead, e.g. `acme_config::AcmeFlavor`".into()),
            )
        })?;
        let krate = krate.replace('-', "_");
        return Ok(Source { path: krate.clone(), krate });
    }
    let not_a_source = || {
        Error::usage(
            format!("`{text}` is neither a flavor's Rust path nor a crate"),
            Some(format!(
                "flavors are registered by linking their crate into the binary, not at run time: give a path such \
                 as `acme_config::AcmeFlavor` to see how, or start a new flavor with `{} flavor init NAME`",
                program()
            )),
        )
    };
    if text.contains(['/', '\\']) {
        return Err(Error::usage(
            format!("`{text}` is not a crate folder: it has no Cargo.toml"),
            Some("give the folder of the flavor's crate, or its Rust path such as `acme_config::AcmeFlavor`".into()),
        ));
    }
    let text = text.strip_prefix("::").unwrap_or(text);
    // ZenML's sources are dotted Python paths; the same path in Rust has `::`.
    let separator = if text.contains("::") { "::" } else { "." };
    let segments: Vec<&str> = text.split(separator).collect();
    let identifier = |s: &str, dashes: bool| {
        s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || (dashes && c == '-'))
    };
    let Some((&first, rest)) = segments.split_first() else { return Err(not_a_source()) };
    if !identifier(first, true) || !rest.iter().all(|s| identifier(s, false)) {
        return Err(not_a_source());
    }
    if ["crate", "self", "super"].contains(&first) {
        return Err(Error::usage(
            format!("`{text}` is relative to a crate it does not name"),
            Some("start the path with the crate's name, e.g. `acme_config::AcmeFlavor`".into()),
        ));
    }
    let krate = first.replace('-', "_");
    let path = std::iter::once(krate.as_str()).chain(rest.iter().copied()).collect::<Vec<_>>().join("::");
    Ok(Source { krate, path })
}

/// The `name` of a manifest's `[package]` table, read line by line: enough for a hint, and no
/// TOML parser for one value.
fn package_name(manifest: &Path) -> Option<String> {
    let text = std::fs::read_to_string(manifest).ok()?;
    let mut in_package = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package && let Some(value) = line.strip_prefix("name").map(str::trim_start) {
            let value = value.strip_prefix('=')?.trim();
            return value.strip_prefix('"')?.split('"').next().map(String::from);
        }
    }
    None
}

/// How a linked flavor relates to SOURCE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Match {
    /// SOURCE is the flavor type.
    Flavor,
    /// SOURCE is the implementation type.
    Implementation,
    /// SOURCE is the crate that defines the flavor.
    FlavorCrate,
    /// SOURCE is the crate of the implementation.
    ImplementationCrate,
    /// SOURCE is the flavor's name.
    Name,
}

fn rust_crate(path: &str) -> String {
    path.split("::").next().unwrap_or_default().replace('-', "_")
}

fn matches(source: &Source, entry: &FlavorEntry) -> Option<Match> {
    let d = entry.descriptor;
    let implementation_crate = entry.implementation.map(|i| i.integration).or(d.implementation);
    if source.path == d.source {
        Some(Match::Flavor)
    } else if Some(source.path.as_str()) == d.implementation {
        Some(Match::Implementation)
    } else if source.path == source.krate && source.krate == rust_crate(d.integration) {
        Some(Match::FlavorCrate)
    } else if source.path == source.krate && implementation_crate.is_some_and(|c| rust_crate(c) == source.krate) {
        Some(Match::ImplementationCrate)
    } else if source.path == d.name {
        Some(Match::Name)
    } else {
        None
    }
}

pub(crate) fn run(args: RegisterArgs) -> Result<(), Error> {
    let source = parse(&args.source)?;
    let catalog = Catalog::global();
    let found = ComponentType::ALL
        .iter()
        .flat_map(|t| catalog.flavors(*t))
        .filter_map(|entry| matches(&source, &entry).map(|m| (m, entry)))
        .min_by_key(|(m, _)| *m);
    Err(explain(&args.source, &source, found))
}

/// The two lines that answer `flavor register`.
fn explain(given: &str, source: &Source, found: Option<(Match, FlavorEntry)>) -> Error {
    let zenreg = program();
    let given = given.trim();
    let registered_by_linking = "flavors are registered by linking their crate into the binary, not at run time";
    let Some((found, entry)) = found else {
        let krate = &source.krate;
        let what = if source.path == given { format!("`{given}`") } else { format!("`{}` (`{given}`)", source.path) };
        return Error::usage(
            format!("{registered_by_linking}, and no crate linked into {zenreg} provides {what}"),
            Some(format!(
                "add the crate that provides `{krate}` to your binary's [dependencies] and name it in its main.rs \
                 (`use {krate} as _;`), or start a new flavor with `{zenreg} flavor init NAME`"
            )),
        );
    };
    let d = entry.descriptor;
    let flavor = d.name;
    let wants_implementation = matches!(found, Match::Implementation | Match::ImplementationCrate);
    if wants_implementation && !entry.is_linked() {
        let not_linked = CatalogError::NotLinked {
            flavor: flavor.to_string(),
            feature: d.feature.map(String::from),
            implementation: d.implementation.map(String::from),
        };
        return Error::usage(
            format!(
                "{registered_by_linking}: `{given}` implements flavor `{flavor}`, and it is not linked into {zenreg}"
            ),
            catalog_hint(&not_linked),
        );
    }
    let what = if wants_implementation {
        format!("its implementation `{}` is linked", d.implementation.unwrap_or("?"))
    } else {
        format!("crate `{}` is linked", d.integration)
    };
    let mut hint = format!("{registered_by_linking}; `{zenreg} flavor describe {flavor}` shows it");
    if !entry.is_linked()
        && let Some(feature) = d.feature
    {
        hint.push_str(&format!(" (pushing also needs its implementation: build with `--features {feature}`)"));
    }
    Error::usage(format!("flavor `{flavor}` is already registered in {zenreg}: {what} (`{}`)", d.source), Some(hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(krate: &str, path: &str) -> Source {
        Source { krate: krate.into(), path: path.into() }
    }

    #[test]
    fn sources_are_rust_paths_crate_names_or_dotted_paths() {
        assert_eq!(parse("acme_config::AcmeFlavor").unwrap(), source("acme_config", "acme_config::AcmeFlavor"));
        assert_eq!(parse("::acme_config::AcmeFlavor").unwrap(), source("acme_config", "acme_config::AcmeFlavor"));
        assert_eq!(parse("acme-config").unwrap(), source("acme_config", "acme_config"));
        assert_eq!(parse("flavors.acme.AcmeFlavor").unwrap(), source("flavors", "flavors::acme::AcmeFlavor"));
        for bad in ["", "::", "acme::", "1acme", "acme::Acme-Flavor", "crate::AcmeFlavor", "./nowhere", "a b"] {
            assert!(parse(bad).unwrap_err().is_usage(), "{bad}");
        }
    }

    #[test]
    fn a_crate_folder_is_read_for_its_package_name() {
        let dir = std::env::temp_dir().join(format!("zenreg-flavor-register-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("Cargo.toml"),
            "[workspace]\nname = \"no\"\n\n[package]\nversion = \"0.1.0\"\nname = \"acme-config\"\n",
        )
        .unwrap();
        let parsed = parse(dir.to_str().unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(parsed.unwrap(), source("acme_config", "acme_config"));
    }

    #[test]
    fn the_linked_flavors_are_found_by_source_crate_or_name() {
        let catalog = Catalog::global();
        let entry = catalog.flavor(ComponentType::ContainerRegistry, "dockerhub").unwrap();
        let d = entry.descriptor;
        assert_eq!(matches(&parse(d.source).unwrap(), &entry), Some(Match::Flavor));
        assert_eq!(matches(&parse(d.integration).unwrap(), &entry), Some(Match::FlavorCrate));
        assert_eq!(matches(&parse("dockerhub").unwrap(), &entry), Some(Match::Name));
        assert_eq!(matches(&parse("acme_config::AcmeFlavor").unwrap(), &entry), None);
        let message = explain(d.source, &parse(d.source).unwrap(), Some((Match::Flavor, entry))).to_string();
        assert!(message.starts_with("flavor `dockerhub` is already registered in "), "{message}");
    }

    #[test]
    fn an_unknown_source_names_the_crate_to_link() {
        let error = explain("acme_config.AcmeFlavor", &parse("acme_config.AcmeFlavor").unwrap(), None);
        assert!(error.to_string().ends_with("provides `acme_config::AcmeFlavor` (`acme_config.AcmeFlavor`)"));
        assert!(error.is_usage());
        let hint = error.hint().unwrap();
        assert!(hint.contains("`use acme_config as _;`") && hint.contains("flavor init NAME"), "{hint}");
    }
}
