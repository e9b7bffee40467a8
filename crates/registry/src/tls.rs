//! TLS configurations for the HTTP clients, always with the `ring` crypto provider.
//!
//! The verifying configuration trusts the operating system's roots (through
//! `rustls-platform-verifier`), the Mozilla roots bundled in the binary (`webpki-root-certs`,
//! so that a static binary works on a minimal host or container without a CA bundle), and
//! the PEM files the user names with `--ca-file`. The non-verifying one exists only for
//! registries the user names insecure.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use crate::error::RegistryError;

/// ALPN protocols offered: HTTP/2 when the server has it, else HTTP/1.1.
fn alpn(http2: bool) -> Vec<Vec<u8>> {
    if http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads every certificate of the PEM files in `paths`.
pub fn load_ca_files(paths: &[PathBuf]) -> Result<Vec<CertificateDer<'static>>, RegistryError> {
    let mut certs = Vec::new();
    for path in paths {
        let before = certs.len();
        let iter = CertificateDer::pem_file_iter(path).map_err(|e| ca_error(path, &e))?;
        for cert in iter {
            certs.push(cert.map_err(|e| ca_error(path, &e))?);
        }
        if certs.len() == before {
            return Err(RegistryError::CaFile {
                path: path.clone(),
                reason: "no PEM certificate in the file".to_owned(),
            });
        }
    }
    Ok(certs)
}

fn ca_error(path: &Path, error: &rustls::pki_types::pem::Error) -> RegistryError {
    RegistryError::CaFile {
        path: path.to_path_buf(),
        reason: error.to_string(),
    }
}

/// A configuration verifying servers against the platform's roots, the bundled Mozilla
/// roots and `extra_roots`.
pub fn verifying_config(
    mut extra_roots: Vec<CertificateDer<'static>>,
    http2: bool,
) -> Result<ClientConfig, RegistryError> {
    let provider = provider();
    extra_roots.extend(webpki_root_certs::TLS_SERVER_ROOT_CERTS.iter().cloned());
    // With the bundled roots there is always a trust anchor, so a host without a CA bundle
    // (a minimal container) still verifies public registries.
    let verifier =
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra_roots, provider.clone())
            .map_err(|error| RegistryError::Tls {
                reason: error.to_string(),
            })?;
    config_with(provider, Arc::new(verifier), http2)
}

/// A configuration that accepts any server certificate, for registries named insecure.
/// Handshake signatures are still checked, so the connection is encrypted to whoever
/// holds the presented key; only the identity is not verified.
pub fn insecure_config(http2: bool) -> Result<ClientConfig, RegistryError> {
    let provider = provider();
    let verifier = AcceptAnyCertificate {
        algorithms: provider.signature_verification_algorithms,
    };
    config_with(provider, Arc::new(verifier), http2)
}

/// A client configuration with `verifier` deciding about server certificates.
fn config_with(
    provider: Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
    http2: bool,
) -> Result<ClientConfig, RegistryError> {
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RegistryError::Tls {
            reason: e.to_string(),
        })?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn(http2);
    Ok(config)
}

/// A verifier that accepts every certificate, for registries named insecure. Handshake
/// signatures are still checked.
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_insecure_verifier_accepts_any_certificate() {
        let verifier = AcceptAnyCertificate {
            algorithms: provider().signature_verification_algorithms,
        };
        let verdict = verifier.verify_server_cert(
            &CertificateDer::from(b"not a certificate".to_vec()),
            &[],
            &ServerName::try_from("registry.example").unwrap(),
            &[],
            UnixTime::now(),
        );
        assert!(verdict.is_ok());
    }

    #[test]
    fn the_verifying_config_has_trust_anchors_without_a_system_bundle() {
        // The bundled roots alone are enough to build a verifier (a host without a CA bundle).
        assert!(!webpki_root_certs::TLS_SERVER_ROOT_CERTS.is_empty());
        assert!(verifying_config(Vec::new(), false).is_ok());
    }
}
