//! The errors of the OCI engine, as data. The push flow turns the authentication and
//! availability cases into its own errors (which know the credential source); the rest are
//! wrapped as they are.

use std::path::PathBuf;

/// Everything the OCI engine can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// The registry refused the credentials (or their absence).
    #[error("{host} answered {status} to {what}{}", detail(.message))]
    Unauthorized {
        /// The registry (or token service) host.
        host: String,
        /// The request refused.
        what: String,
        /// The HTTP status (401 or 403).
        status: u16,
        /// The registry's own message, if any.
        message: String,
    },
    /// The registry could not be reached, or kept failing, after every retry.
    #[error("{host}: {what} failed: {message}")]
    Unavailable {
        /// The registry host.
        host: String,
        /// The request.
        what: String,
        /// The last failure.
        message: String,
    },
    /// The registry refused a request in a way retrying cannot fix.
    #[error("{host} answered {status} to {what}{}", detail(.message))]
    Rejected {
        /// The registry host.
        host: String,
        /// The request.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The registry's error code and message.
        message: String,
    },
    /// The registry's TLS certificate could not be verified (or TLS failed otherwise).
    #[error("TLS to {host} failed: {message}")]
    Tls {
        /// The registry host.
        host: String,
        /// Why.
        message: String,
    },
    /// The registry asked for something zenreg does not do with credentials or data it was
    /// given: a redirect, `Location` or token realm that steps down to plain HTTP or carries
    /// user info, a challenge zenreg does not answer, an answer larger than its kind allows.
    #[error("{host}: {what}: {message}")]
    Untrusted {
        /// The registry host.
        host: String,
        /// The request.
        what: String,
        /// What was refused, and that nothing was sent.
        message: String,
    },
    /// A request got no answer within its deadline (twice), or a blob transfer moved no byte
    /// for the progress timeout.
    #[error("{host}: {what}: {waited}")]
    TimedOut {
        /// The registry host.
        host: String,
        /// The request.
        what: String,
        /// What zenreg waited for, and how long.
        waited: String,
    },
    /// A `ZENREG_HTTP_*` setting is not a number.
    #[error("{message}")]
    Settings {
        /// Which variable, and its value.
        message: String,
    },
    /// The image source is not what it claims to be (a broken layout or archive).
    #[error("{source_name}: {message}")]
    Source {
        /// The source, as given (`oci:DIR`, `docker-archive:FILE`, the image name).
        source_name: String,
        /// What is wrong.
        message: String,
    },
    /// A layer's content does not match the diff id its image config records.
    #[error(
        "{source_name}: layer {layer} has content {actual}, but the image config lists no such diff id (expected one of {expected})"
    )]
    DiffIdMismatch {
        /// The source.
        source_name: String,
        /// The layer's name in the source.
        layer: String,
        /// The digest of its uncompressed content.
        actual: String,
        /// The diff ids the config lists.
        expected: String,
    },
    /// A file of the source could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Compressing a layer failed.
    #[error("compressing layer {layer}: {message}")]
    Compress {
        /// The layer.
        layer: String,
        /// Why.
        message: String,
    },
    /// The Docker Engine's image export failed.
    #[error("exporting `{image}` from the Docker Engine: {message}")]
    Export {
        /// The image.
        image: String,
        /// Why.
        message: String,
    },
}

fn detail(message: &str) -> String {
    if message.is_empty() { String::new() } else { format!(": {message}") }
}

impl OciError {
    /// Whether another attempt of the whole push could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, OciError::Unavailable { .. })
    }

    /// Whether the registry no longer knows an upload, or refuses to go on with it (it lost
    /// its state, or holds part of a request that broke): a new upload can succeed.
    pub fn is_upload_lost(&self) -> bool {
        matches!(self, OciError::Rejected { status: 404 | 416, message, .. }
            if message.contains("BLOB_UPLOAD_UNKNOWN") || message.contains("BLOB_UPLOAD_INVALID"))
    }

    /// Whether the registry refused a blob because its bytes do not hash to its digest.
    pub fn is_digest_invalid(&self) -> bool {
        matches!(self, OciError::Rejected { message, .. } if message.contains("DIGEST_INVALID"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(status: u16, message: &str) -> OciError {
        OciError::Rejected { host: "r".into(), what: "upload".into(), status, message: message.into() }
    }

    #[test]
    fn tells_a_lost_upload_and_an_invalid_digest() {
        assert!(rejected(404, "BLOB_UPLOAD_INVALID: blob upload invalid").is_upload_lost());
        assert!(rejected(404, "BLOB_UPLOAD_UNKNOWN: blob upload unknown to registry").is_upload_lost());
        assert!(!rejected(400, "DIGEST_INVALID: provided digest did not match uploaded content").is_upload_lost());
        assert!(rejected(400, "DIGEST_INVALID: provided digest did not match uploaded content").is_digest_invalid());
        assert!(!rejected(404, "BLOB_UNKNOWN").is_digest_invalid());
        let unavailable =
            OciError::Unavailable { host: "r".into(), what: "x".into(), message: "DIGEST_INVALID".into() };
        assert!(!unavailable.is_digest_invalid() && !unavailable.is_upload_lost());
    }
}
