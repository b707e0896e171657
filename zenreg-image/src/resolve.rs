//! From a reference to a registry connection: the registered container registry whose `uri` is
//! the longest prefix of the reference (or the one named), its credentials chain, and the
//! connection of zenreg-push's registry client.

use crate::error::ImageError;
use serde_json::Value;
use zenreg_core::{ComponentType, Diagnostics, Reference};
use zenreg_push::oci::OciError;
use zenreg_push::oci::registry::Registry;
use zenreg_push::{RegistryAccess, registry_access};
use zenreg_store::{Client, Component};

/// A reference resolved to a registered registry, with the access to its repository.
#[derive(Debug, Clone)]
pub struct Located {
    /// The component's name.
    pub component: String,
    /// The reference, parsed.
    pub reference: Reference,
    /// Where its API is, and the credentials.
    pub access: RegistryAccess,
}

impl Located {
    /// The reference as the user wrote it (normalised by the parser).
    pub fn shown(&self) -> String {
        self.reference.to_string()
    }

    /// The tag or digest the reference names, `latest` when it names neither.
    pub fn tag_or_digest(&self) -> String {
        match (self.reference.digest(), self.reference.tag()) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.to_string(),
            (None, None) => "latest".to_string(),
        }
    }

    /// A request's failure, with the component and credentials it concerns.
    pub fn error(&self, error: OciError) -> ImageError {
        match error {
            OciError::Settings { .. } => ImageError::Oci(error),
            error => ImageError::Registry {
                registry: self.component.clone(),
                credentials: self.access.source.clone(),
                error: Box::new(error),
            },
        }
    }
}

/// A `uri` as a name prefix: no scheme, no trailing `/`.
fn prefix_of(uri: &str) -> &str {
    uri.trim_start_matches("https://").trim_start_matches("http://").trim_end_matches('/')
}

/// The name a reference is matched with: `docker.io/…` for a name without a domain.
fn matched_name(reference: &Reference) -> String {
    match reference.domain() {
        Some(_) => reference.name(),
        None => format!("docker.io/{}", reference.path()),
    }
}

fn covers(uri: &str, name: &str) -> bool {
    let prefix = prefix_of(uri);
    !prefix.is_empty() && (name == prefix || name.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/')))
}

fn stored_uri(component: &Component) -> String {
    component.config.get("uri").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// The component for `reference`: the one named, which must cover it, or the one whose `uri`
/// is the longest prefix of it.
pub fn component_for(client: &Client, reference: &Reference, named: Option<&str>) -> Result<Component, ImageError> {
    let name = matched_name(reference);
    if let Some(named) = named {
        let component = client.component(ComponentType::ContainerRegistry, named)?;
        let uri = stored_uri(&component);
        if !covers(&uri, &name) {
            return Err(ImageError::NotCovered { reference: reference.to_string(), registry: component.name, uri });
        }
        return Ok(component);
    }
    let components = client.components(ComponentType::ContainerRegistry, None)?;
    let best = components
        .iter()
        .filter(|c| covers(&stored_uri(c), &name))
        .max_by_key(|c| prefix_of(&stored_uri(c)).len())
        .cloned();
    best.ok_or_else(|| {
        let mut scored: Vec<(f64, String, String)> = components
            .iter()
            .map(|c| {
                let uri = stored_uri(c);
                let score = strsim::normalized_levenshtein(prefix_of(&uri), &name);
                (score, c.name.clone(), uri)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        ImageError::NoComponent {
            reference: reference.to_string(),
            closest: scored.into_iter().take(3).map(|(_, name, uri)| (name, uri)).collect(),
        }
    })
}

/// Resolves `text` to its registry (`named`, or by the longest `uri` prefix) and the access to
/// its repository; `for_push` when the operation writes there (the flavor prepares the push).
pub async fn locate(
    client: &Client,
    text: &str,
    named: Option<&str>,
    for_push: bool,
    diagnostics: &Diagnostics,
) -> Result<Located, ImageError> {
    let reference = Reference::parse(text)?;
    let component = component_for(client, &reference, named)?;
    let access = registry_access(client, &component, &reference, for_push, diagnostics).await?;
    Ok(Located { component: component.name, reference, access })
}

/// Connects to the located repository (and for pulls from `also_pull`, the sources of
/// cross-repository mounts).
pub async fn connect(located: &Located, also_pull: &[String]) -> Result<Registry, ImageError> {
    Registry::connect(&located.access.host, &located.access.repository, located.access.credentials.clone(), also_pull)
        .await
        .map_err(|e| located.error(e))
}

/// Connects to the located repository with a token that may delete there.
pub async fn connect_to_delete(located: &Located) -> Result<Registry, ImageError> {
    Registry::connect_to_delete(&located.access.host, &located.access.repository, located.access.credentials.clone())
        .await
        .map_err(|e| located.error(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_covers_names_under_it_only() {
        assert!(covers("127.0.0.1:5000", "127.0.0.1:5000/app"));
        assert!(covers("127.0.0.1:5000/", "127.0.0.1:5000/team/app"));
        assert!(covers("ghcr.io/org", "ghcr.io/org/app"));
        assert!(!covers("ghcr.io/org", "ghcr.io/organisation/app"));
        assert!(!covers("127.0.0.1:500", "127.0.0.1:5000/app"));
        assert!(covers("https://ghcr.io", "ghcr.io/x"));
        assert_eq!(matched_name(&Reference::parse("me/app:1").unwrap()), "docker.io/me/app");
    }
}
