//! What image operations read in manifests and indexes: the blobs a manifest names, the
//! manifests an index names with their platforms, a manifest's `subject`, and narrowed indexes.
//! Manifests are kept as the registry's bytes; these functions only look into them.

use serde_json::Value;
use zenreg_push::oci::media;

/// A platform, `os/architecture[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`, `windows`, …
    pub os: String,
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `v7`, `v8`, …
    pub variant: Option<String>,
}

impl Platform {
    /// Parses `os/arch[/variant]`.
    pub fn parse(text: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let ok = |s: &&str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        match parts.as_slice() {
            [os, architecture] if ok(os) && ok(architecture) => {
                Ok(Platform { os: os.to_string(), architecture: architecture.to_string(), variant: None })
            }
            [os, architecture, variant] if ok(os) && ok(architecture) && ok(variant) => Ok(Platform {
                os: os.to_string(),
                architecture: architecture.to_string(),
                variant: Some(variant.to_string()),
            }),
            _ => Err(format!("`{text}` is not a platform: write `os/arch[/variant]`, such as `linux/arm64`")),
        }
    }

    /// The platform of a descriptor's `platform` object (or an image config's fields).
    pub fn of(value: &Value) -> Option<Platform> {
        Some(Platform {
            os: value.get("os")?.as_str()?.to_string(),
            architecture: value.get("architecture")?.as_str()?.to_string(),
            variant: value.get("variant").and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_string),
        })
    }

    /// Whether `self`, as asked for, covers `other`: os and architecture equal, and the variant
    /// too when one is asked for.
    pub fn covers(&self, other: &Platform) -> bool {
        self.os == other.os
            && self.architecture == other.architecture
            && (self.variant.is_none() || self.variant == other.variant)
    }

    /// As JSON for a descriptor.
    pub fn to_json(&self) -> Value {
        let mut object = serde_json::json!({"architecture": self.architecture, "os": self.os});
        if let (Some(variant), Some(map)) = (&self.variant, object.as_object_mut()) {
            map.insert("variant".into(), Value::String(variant.clone()));
        }
        object
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

/// A descriptor as zenreg uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Desc {
    /// Its media type.
    pub media_type: String,
    /// `sha256:…`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
}

impl Desc {
    /// Reads a descriptor object.
    pub fn of(value: &Value) -> Option<Desc> {
        Some(Desc {
            media_type: value.get("mediaType").and_then(Value::as_str).unwrap_or_default().to_string(),
            digest: value.get("digest")?.as_str()?.to_string(),
            size: value.get("size")?.as_u64()?,
        })
    }
}

/// The JSON of a manifest's bytes.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("the manifest is not JSON: {e}"))?;
    if !value.is_object() {
        return Err("the manifest is not a JSON object".into());
    }
    Ok(value)
}

/// Whether a media type is an index (or Docker manifest list).
pub fn is_index(media_type: &str) -> bool {
    media::is_index(media_type)
}

/// The blobs an image (or artifact) manifest names: its config, layers and (artifact
/// manifests) blobs. Every one must be a valid descriptor.
pub fn blobs(manifest: &Value) -> Result<Vec<Desc>, String> {
    let mut out = Vec::new();
    if let Some(config) = manifest.get("config") {
        out.push(Desc::of(config).ok_or("its config is not a descriptor")?);
    }
    for field in ["layers", "blobs"] {
        for item in manifest.get(field).and_then(Value::as_array).into_iter().flatten() {
            out.push(Desc::of(item).ok_or_else(|| format!("an entry of its {field} is not a descriptor"))?);
        }
    }
    for desc in &out {
        if !zenreg_push::oci::digest::is_sha256(&desc.digest) {
            return Err(format!("`{}` is not a sha256 digest", desc.digest));
        }
    }
    Ok(out)
}

/// The manifests an index names, each with its descriptor object.
pub fn children(index: &Value) -> Result<Vec<(Desc, Value)>, String> {
    let mut out = Vec::new();
    for item in index.get("manifests").and_then(Value::as_array).into_iter().flatten() {
        let desc = Desc::of(item).ok_or("an entry of its manifests is not a descriptor")?;
        if !zenreg_push::oci::digest::is_sha256(&desc.digest) {
            return Err(format!("`{}` is not a sha256 digest", desc.digest));
        }
        out.push((desc, item.clone()));
    }
    Ok(out)
}

/// The platforms an index's manifests are for, in its order (`unknown/unknown` for attestation
/// manifests of BuildKit).
pub fn platforms(index: &Value) -> Vec<String> {
    index
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("platform").and_then(Platform::of))
        .map(|p| p.to_string())
        .collect()
}

/// The index narrowed to the manifests for `wanted`, as bytes (its other fields kept in their
/// order); `None` when nothing matches.
pub fn narrow(index: &Value, wanted: &[Platform]) -> Option<Vec<u8>> {
    let kept: Vec<Value> = index
        .get("manifests")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| m.get("platform").and_then(Platform::of).is_some_and(|p| wanted.iter().any(|w| w.covers(&p))))
        .cloned()
        .collect();
    if kept.is_empty() {
        return None;
    }
    let mut narrowed = index.clone();
    narrowed.as_object_mut()?.insert("manifests".into(), Value::Array(kept));
    serde_json::to_vec(&narrowed).ok()
}

/// The digest a manifest's `subject` names, if it has one.
pub fn subject(manifest: &Value) -> Option<String> {
    manifest.get("subject").and_then(|s| s.get("digest")).and_then(Value::as_str).map(str::to_string)
}

/// The tag of the OCI referrers tag schema for `digest`: `sha256-<hex>`.
pub fn fallback_tag(digest: &str) -> String {
    digest.replacen(':', "-", 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_cover() {
        let arm = Platform::parse("linux/arm64").unwrap();
        assert!(arm.covers(&Platform::parse("linux/arm64/v8").unwrap()));
        assert!(!Platform::parse("linux/arm64/v8").unwrap().covers(&Platform::parse("linux/arm64").unwrap()));
        assert!(Platform::parse("linux").is_err());
        assert!(Platform::parse("linux/").is_err());
        assert!(Platform::parse("a/b/c/d").is_err());
        assert_eq!(arm.to_string(), "linux/arm64");
    }

    #[test]
    fn narrowing_keeps_the_matching_manifests_in_order() {
        let index = serde_json::json!({"schemaVersion": 2, "mediaType": media::OCI_INDEX, "manifests": [
            {"mediaType": media::OCI_MANIFEST, "digest": "sha256:aa", "size": 1, "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": media::OCI_MANIFEST, "digest": "sha256:bb", "size": 1, "platform": {"os": "linux", "architecture": "arm64"}},
        ]});
        let narrowed: Value =
            serde_json::from_slice(&narrow(&index, &[Platform::parse("linux/arm64").unwrap()]).unwrap()).unwrap();
        assert_eq!(narrowed["manifests"].as_array().unwrap().len(), 1);
        assert_eq!(narrowed["manifests"][0]["digest"], "sha256:bb");
        assert!(narrow(&index, &[Platform::parse("linux/s390x").unwrap()]).is_none());
        assert_eq!(platforms(&index), ["linux/amd64", "linux/arm64"]);
        assert_eq!(fallback_tag("sha256:ab"), "sha256-ab");
    }
}
