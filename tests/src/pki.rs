//! A throw-away public key infrastructure generated at test time with rcgen.
//!
//! [`TestPki::generate`] creates, in a fresh temporary directory:
//!
//! | file | what |
//! | --- | --- |
//! | `ca.pem` | a self-signed CA certificate (ECDSA P-256) |
//! | `server.pem`, `server-key.pem` | a server certificate for `127.0.0.1`, `::1` and `localhost`, signed by the CA |
//! | `token.pem`, `token-key.pem` | a token-signing certificate (a leaf, *not* a CA, as distribution requires for `x5c`) and its PKCS#8 key, signed by the CA |
//! | `certs.d/ca.crt` | a copy of the CA, so that `certs.d` can be passed to skopeo's `--src-cert-dir`/`--dest-cert-dir` (or `--cert-dir`) |

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use tempfile::TempDir;

use crate::error::{HarnessError, Result, io_context};

/// A CA, a server certificate and a token-signing certificate, written as PEM files.
///
/// The directory is deleted when the value is dropped.
#[derive(Debug)]
pub struct TestPki {
    dir: TempDir,
    ca_der: Vec<u8>,
    server_cert_der: Vec<u8>,
    server_key_pkcs8: Vec<u8>,
    token_cert_der: Vec<u8>,
    token_key_pkcs8: Vec<u8>,
}

impl TestPki {
    /// Generates fresh keys and certificates into a new temporary directory.
    pub fn generate() -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("imgpull-pki-")
            .tempdir()
            .map_err(io_context(
                "creating a temporary directory for the test PKI",
            ))?;

        let ca_key = KeyPair::generate().map_err(cert_error("CA key"))?;
        let mut ca_params = CertificateParams::default();
        ca_params.distinguished_name = distinguished_name("imgpull test CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(cert_error("CA certificate"))?;
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().map_err(cert_error("server key"))?;
        let mut server_params = CertificateParams::new(vec![
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
            "localhost".to_owned(),
        ])
        .map_err(cert_error("server certificate parameters"))?;
        server_params.distinguished_name = distinguished_name("127.0.0.1");
        server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .map_err(cert_error("server certificate"))?;

        let token_key = KeyPair::generate().map_err(cert_error("token-signing key"))?;
        let mut token_params = CertificateParams::default();
        token_params.distinguished_name = distinguished_name("imgpull test token signer");
        token_params.is_ca = IsCa::ExplicitNoCa;
        token_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let token_cert = token_params
            .signed_by(&token_key, &issuer)
            .map_err(cert_error("token-signing certificate"))?;

        let root = dir.path();
        write(&root.join("ca.pem"), ca_cert.pem().as_bytes())?;
        write(&root.join("server.pem"), server_cert.pem().as_bytes())?;
        write(
            &root.join("server-key.pem"),
            server_key.serialize_pem().as_bytes(),
        )?;
        write(&root.join("token.pem"), token_cert.pem().as_bytes())?;
        write(
            &root.join("token-key.pem"),
            token_key.serialize_pem().as_bytes(),
        )?;
        let cert_dir = root.join("certs.d");
        fs::create_dir(&cert_dir).map_err(io_context(format!(
            "creating the certificate directory {}",
            cert_dir.display()
        )))?;
        write(&cert_dir.join("ca.crt"), ca_cert.pem().as_bytes())?;

        Ok(Self {
            ca_der: ca_cert.der().to_vec(),
            server_cert_der: server_cert.der().to_vec(),
            server_key_pkcs8: server_key.serialize_der(),
            token_cert_der: token_cert.der().to_vec(),
            token_key_pkcs8: token_key.serialize_der(),
            dir,
        })
    }

    /// The directory holding every file of this PKI.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA certificate (PEM); pass it to `--ca-file` or use it as distribution's `rootcertbundle`.
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// A directory containing only `ca.crt`, for skopeo's `--*cert-dir` options.
    pub fn cert_dir(&self) -> PathBuf {
        self.dir.path().join("certs.d")
    }

    /// The server certificate (PEM) for `127.0.0.1`, `::1` and `localhost`.
    pub fn server_cert_path(&self) -> PathBuf {
        self.dir.path().join("server.pem")
    }

    /// The server certificate's private key (PEM).
    pub fn server_key_path(&self) -> PathBuf {
        self.dir.path().join("server-key.pem")
    }

    /// The token-signing certificate (PEM), a leaf signed by the CA.
    pub fn token_cert_path(&self) -> PathBuf {
        self.dir.path().join("token.pem")
    }

    /// The token-signing private key (PKCS#8 PEM).
    pub fn token_key_path(&self) -> PathBuf {
        self.dir.path().join("token-key.pem")
    }

    /// The CA certificate in DER form.
    pub fn ca_der(&self) -> &[u8] {
        &self.ca_der
    }

    /// The server certificate in DER form.
    pub fn server_cert_der(&self) -> &[u8] {
        &self.server_cert_der
    }

    /// The server certificate's key as PKCS#8 DER.
    pub fn server_key_pkcs8(&self) -> &[u8] {
        &self.server_key_pkcs8
    }

    /// A rustls server configuration presenting the server certificate (ring provider).
    pub fn rustls_server_config(&self) -> Result<rustls::ServerConfig> {
        use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
        let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(self.server_cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key_pkcs8.clone())),
        )?;
        Ok(config)
    }

    /// The token-signing certificate in DER form (what goes into a JWT's `x5c` header).
    pub fn token_cert_der(&self) -> &[u8] {
        &self.token_cert_der
    }

    /// The token-signing key as PKCS#8 DER (what `ring` loads).
    pub fn token_key_pkcs8(&self) -> &[u8] {
        &self.token_key_pkcs8
    }
}

fn distinguished_name(common_name: &str) -> rcgen::DistinguishedName {
    let mut name = rcgen::DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name.push(DnType::OrganizationName, "imgpull tests");
    name
}

fn cert_error(what: &'static str) -> impl FnOnce(rcgen::Error) -> HarnessError {
    move |source| HarnessError::Certificate { what, source }
}

fn write(path: &Path, contents: &[u8]) -> Result<()> {
    fs::write(path, contents).map_err(io_context(format!("writing {}", path.display())))
}
