//! TLS for PostgreSQL connections through rustls (ring provider), with libpq's `sslmode`
//! meanings: `prefer`/`require` encrypt without checking the certificate, `verify-ca` checks
//! the chain against the trusted CAs, `verify-full` also checks that the certificate names the
//! host. The trusted CAs come from `sslrootcert`, `PGSSLROOTCERT` or `~/.postgresql/root.crt`,
//! as with libpq; there is no silent fallback to the system's CAs for a database server.

use super::url::{PgEnv, SslMode};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres_rustls::MakeRustlsConnect;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The connector for `mode`, or `None` for plain TCP.
pub(super) fn connector(
    mode: SslMode,
    rootcert: Option<&Path>,
    env: &PgEnv,
) -> Result<Option<MakeRustlsConnect>, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        SslMode::Disable => return Ok(None),
        SslMode::Prefer | SslMode::Require => Arc::new(HostNameNotChecked { provider, chain: None }),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = Arc::new(load_roots(mode, rootcert, env)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("TLS setup: {e}"))?;
            match mode {
                SslMode::VerifyCa => Arc::new(HostNameNotChecked { provider, chain: Some(webpki) }),
                _ => webpki,
            }
        }
    };
    let config = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
    Ok(Some(MakeRustlsConnect::new(config)))
}

fn load_roots(mode: SslMode, rootcert: Option<&Path>, env: &PgEnv) -> Result<RootCertStore, String> {
    let path: PathBuf = match rootcert {
        Some(path) => path.to_path_buf(),
        None => {
            let default = env.home.as_ref().map(|home| home.join(".postgresql").join("root.crt"));
            match default.filter(|p| p.exists()) {
                Some(path) => path,
                None => {
                    return Err(format!(
                        "sslmode={} needs the CA certificate: add sslrootcert=PATH to the URL, set PGSSLROOTCERT, \
                         or put it in ~/.postgresql/root.crt",
                        mode.as_str()
                    ));
                }
            }
        }
    };
    let certificates: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&path)
        .map_err(|e| format!("cannot read CA certificates from `{}`: {e}", path.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot read CA certificates from `{}`: {e}", path.display()))?;
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(certificates);
    if added == 0 {
        return Err(format!("`{}` holds no usable CA certificate", path.display()));
    }
    Ok(roots)
}

/// The certificate check of the modes that do not compare the host name. `prefer` and
/// `require` (no `chain`): encryption against passive eavesdroppers, no authentication of the
/// server (libpq's meaning). `verify-ca`: the chain must lead to a trusted CA; the name is not
/// compared. The handshake signature is checked in every mode, so the session key belongs to
/// whoever holds the certificate's key.
#[derive(Debug)]
struct HostNameNotChecked {
    provider: Arc<CryptoProvider>,
    chain: Option<Arc<WebPkiServerVerifier>>,
}

impl ServerCertVerifier for HostNameNotChecked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else { return Ok(ServerCertVerified::assertion()) };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
