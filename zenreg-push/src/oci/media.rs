//! Media types and the JSON documents of the distribution API: manifests (Docker schema 2 and
//! OCI), indexes, and the few fields of an image config the push reads. Documents read from a
//! source are kept as bytes and pushed byte-exact; these types only look inside.

use serde::{Deserialize, Serialize};

/// Docker schema 2 manifest.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer.
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image config.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

/// Whether a media type names a manifest list or index (whose children are manifests).
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// A content descriptor.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Its media type.
    pub media_type: String,
    /// `sha256:…`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Annotations (e.g. `org.opencontainers.image.ref.name` in a layout's index).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<std::collections::BTreeMap<String, String>>,
}

/// A manifest (either schema), as far as the push reads it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// The manifest's own media type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config.
    pub config: Descriptor,
    /// The layers, base first.
    pub layers: Vec<Descriptor>,
}

/// An index or manifest list, as far as the push reads it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// The index's own media type.
    #[serde(default)]
    pub media_type: Option<String>,
    /// Its manifests.
    pub manifests: Vec<Descriptor>,
}

/// The fields of an image config the push checks.
#[derive(Debug, Clone, Deserialize)]
pub struct ImageConfig {
    /// The layers' diff ids.
    pub rootfs: RootFs,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Deserialize)]
pub struct RootFs {
    /// Digests of the uncompressed layers, base first.
    pub diff_ids: Vec<String>,
}

/// Whether a manifest's own bytes say which media type they are (the `mediaType` field), else
/// what their shape says.
pub fn manifest_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
        manifests: Option<serde_json::Value>,
        config: Option<Descriptor>,
    }
    let probe: Probe = serde_json::from_slice(bytes).ok()?;
    if let Some(media_type) = probe.media_type {
        return Some(media_type);
    }
    if probe.manifests.is_some() {
        return Some(OCI_INDEX.to_string());
    }
    // An OCI manifest may omit its mediaType; its config's type tells the schema.
    probe.config.map(|c| if c.media_type == DOCKER_CONFIG { DOCKER_MANIFEST } else { OCI_MANIFEST }.to_string())
}
