//! The errors of the OCI engine, as data. The push flow turns the authentication and
//! availability cases into its own errors (which know the credential source); the rest are
//! wrapped as they are.
//!
//! Failures keep their causes as typed sources (reqwest's error and, below it, hyper's, rustls'
//! and the OS's), and are classified by those types and by the registry's error codes as parsed
//! from its JSON, never by searching a message's text.

use reqwest::StatusCode;
use std::error::Error as StdError;
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
    #[error("{host}: {what} failed: {cause}")]
    Unavailable {
        /// The registry host.
        host: String,
        /// The request.
        what: String,
        /// The last failure.
        #[source]
        cause: Cause,
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
        /// The codes of the registry's error answer (distribution's `errors[].code`), empty
        /// when it gave none.
        codes: Vec<ErrorCode>,
    },
    /// The registry's TLS certificate could not be verified (or TLS failed otherwise): rustls
    /// refused the peer.
    #[error("TLS to {host} failed: {}", one_line(.source))]
    Tls {
        /// The registry host.
        host: String,
        /// The failed request, with rustls' error among its causes (its URL without query or
        /// user info).
        #[source]
        source: reqwest::Error,
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
    /// A `ZENREG_HTTP_*` setting is not a number, or `ZENREG_LAYER_STORE` not a choice.
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

/// Why a request failed, as data: the transport's error (kept as the source), an answer that
/// may pass, a wait that ran out, or a step of zenreg's own.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Cause {
    /// The connection or the exchange failed; reqwest's error with its causes (hyper's, the
    /// OS's), its URL without query or user info.
    #[error("{}", transport_text(.0))]
    Transport(#[source] reqwest::Error),
    /// The registry kept answering with a status that may pass (5xx, 429, 408), and, when its
    /// body was read, what it said.
    #[error("HTTP {status}{}", .message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        /// The status.
        status: StatusCode,
        /// The registry's message (`None` when the body was not read).
        message: Option<String>,
    },
    /// No answer came in time (said with the deadline).
    #[error("{waited}")]
    Waited {
        /// What zenreg waited for, and how long.
        waited: String,
    },
    /// The HTTP client could not be set up (its TLS roots, its settings), or a URL not built.
    #[error("{}", one_line(.0.as_ref()))]
    Setup(#[source] Box<dyn StdError + Send + Sync>),
    /// `SSL_CERT_FILE` could not be read, or holds no PEM certificates.
    #[error("SSL_CERT_FILE {}: {}", .path.display(), one_line(.source.as_ref()))]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// The producer of a streamed layer stopped before its end (it reports why itself).
    #[error("the layer's producer stopped before its end")]
    ProducerStopped,
}

impl From<reqwest::Error> for Cause {
    fn from(error: reqwest::Error) -> Self {
        Cause::Transport(error)
    }
}

/// A code of distribution's error answers (`{"errors": [{"code": …}]}`), as far as zenreg acts
/// on it; any other is kept as given.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `BLOB_UPLOAD_INVALID`: the registry will not go on with the upload.
    BlobUploadInvalid,
    /// `BLOB_UPLOAD_UNKNOWN`: the registry does not know the upload (any more).
    BlobUploadUnknown,
    /// `DIGEST_INVALID`: the bytes received do not hash to the digest given.
    DigestInvalid,
    /// Any other code.
    Other(String),
}

impl ErrorCode {
    /// The code as a registry writes it (compared whole: codes are identifiers).
    pub fn parse(code: &str) -> ErrorCode {
        match code {
            "BLOB_UPLOAD_INVALID" => ErrorCode::BlobUploadInvalid,
            "BLOB_UPLOAD_UNKNOWN" => ErrorCode::BlobUploadUnknown,
            "DIGEST_INVALID" => ErrorCode::DigestInvalid,
            other => ErrorCode::Other(other.to_string()),
        }
    }
}

/// An error and its causes on one line (each cause added when its text is not already there).
fn one_line(error: &(dyn StdError + 'static)) -> String {
    zenreg_core::error::one_line(error)
}

/// Every error in `error`'s chain, itself first. `std::io::Error::source` skips the error an
/// I/O error wraps (it returns that error's source): the wrapped one is visited instead, so a
/// rustls error inside the I/O error of a TLS stream is found.
pub fn causes<'a>(error: &'a (dyn StdError + 'static)) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&cause| match cause.downcast_ref::<std::io::Error>() {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn StdError + 'static)),
        None => cause.source(),
    })
}

/// Whether a request failed because nothing accepts connections at its address (by the OS
/// error's kind).
pub fn is_refused(error: &(dyn StdError + 'static)) -> bool {
    causes(error).any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
    })
}

/// Whether a request failed in TLS: rustls refused the peer (a certificate not trusted, a
/// handshake alert, an answer that is not TLS), found by its type among the causes.
pub fn is_tls_failure(error: &(dyn StdError + 'static)) -> bool {
    causes(error).any(|cause| cause.is::<rustls::Error>())
}

/// A failed request in words: a refused connection said plainly, anything else with its
/// causes.
fn transport_text(error: &reqwest::Error) -> String {
    if is_refused(error) {
        let url = error.url().map(|u| format!(" ({u})")).unwrap_or_default();
        return format!("connection refused{url}");
    }
    one_line(error)
}

impl OciError {
    /// Whether another attempt of the whole push could succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, OciError::Unavailable { .. })
    }

    /// Whether the registry no longer knows an upload, or refuses to go on with it (it lost
    /// its state, or holds part of a request that broke): a new upload can succeed.
    pub fn is_upload_lost(&self) -> bool {
        matches!(self, OciError::Rejected { status: 404 | 416, codes, .. }
            if codes.iter().any(|c| matches!(c, ErrorCode::BlobUploadUnknown | ErrorCode::BlobUploadInvalid)))
    }

    /// Whether the registry refused a blob because its bytes do not hash to its digest.
    pub fn is_digest_invalid(&self) -> bool {
        matches!(self, OciError::Rejected { codes, .. } if codes.contains(&ErrorCode::DigestInvalid))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejected(status: u16, codes: &[&str], message: &str) -> OciError {
        OciError::Rejected {
            host: "r".into(),
            what: "upload".into(),
            status,
            message: message.into(),
            codes: codes.iter().map(|c| ErrorCode::parse(c)).collect(),
        }
    }

    #[test]
    fn tells_a_lost_upload_and_an_invalid_digest_by_their_codes() {
        assert!(rejected(404, &["BLOB_UPLOAD_INVALID"], "blob upload invalid").is_upload_lost());
        assert!(rejected(404, &["BLOB_UNKNOWN", "BLOB_UPLOAD_UNKNOWN"], "").is_upload_lost());
        assert!(!rejected(400, &["DIGEST_INVALID"], "").is_upload_lost());
        assert!(rejected(400, &["DIGEST_INVALID"], "provided digest did not match").is_digest_invalid());
        assert!(!rejected(404, &["BLOB_UNKNOWN"], "").is_digest_invalid());
        // A message that merely mentions a code (a proxy's page, a name) is not that code.
        assert!(!rejected(400, &[], "DIGEST_INVALID: said by a proxy").is_digest_invalid());
        assert!(!rejected(404, &["NAME_UNKNOWN"], "repo BLOB_UPLOAD_UNKNOWN-tests unknown").is_upload_lost());
        let unavailable = OciError::Unavailable {
            host: "r".into(),
            what: "x".into(),
            cause: Cause::Waited { waited: "DIGEST_INVALID".into() },
        };
        assert!(!unavailable.is_digest_invalid() && !unavailable.is_upload_lost());
    }

    #[derive(Debug)]
    struct Worded(&'static str);

    impl std::fmt::Display for Worded {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Worded {}

    #[test]
    fn tells_tls_failures_by_the_type_of_a_cause_not_by_words() {
        // rustls' error inside the I/O error of the TLS stream, as tokio-rustls reports it.
        let untrusted = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        assert!(is_tls_failure(&untrusted));
        assert!(is_tls_failure(&rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType)));
        // Words alone are not TLS: a host named `tls-registry`, a message about certificates.
        let worded = std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            Worded("tls handshake: certificate corrupt message"),
        );
        assert!(!is_tls_failure(&worded));
        assert!(!is_tls_failure(&Worded("error sending request for url (https://tls.example/v2/)")));
        // Refused connections by the OS error's kind, inside or outside an I/O error's wrapping.
        assert!(is_refused(&std::io::Error::from(std::io::ErrorKind::ConnectionRefused)));
        assert!(!is_refused(&Worded("connection refused")));
    }
}
