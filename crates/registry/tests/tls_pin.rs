//! Against a TLS server: a `resolve()` pin changes where a host name's connections go, never
//! what certificate is accepted for it (TLS still checks the certificate against the name in
//! the URL); and a request to a registry or foreign layer URL on https is never followed to
//! plain http elsewhere.
//!
//! The test CA and server certificate are made with the `openssl` command at test time.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use imgpull_reference::{Descriptor, Digest, Reference, media_types};
use imgpull_registry::{ClientBuilder, ErrorKind, RegistryError, RetryPolicy};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use wiremock::matchers::{any, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`) and a certificate for `localhost` it signed (`leaf.pem`, `leaf.key`).
fn certificates(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut ca = vec![
        "req", "-x509", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
    ];
    ca.extend(ec);
    ca.extend([
        "-subj",
        "/CN=imgpull test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
    ]);
    openssl(dir, &ca);
    let mut csr = vec![
        "req",
        "-keyout",
        "leaf.key",
        "-out",
        "leaf.csr",
        "-subj",
        "/CN=localhost",
    ];
    csr.extend(ec);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("leaf.ext"),
        "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "leaf.pem",
            "-days",
            "1",
            "-extfile",
            "leaf.ext",
        ],
    );
}

/// A TLS server with the `localhost` certificate that answers every request with `answer`
/// (a whole HTTP/1.1 response).
fn tls_server(dir: &Path, answer: String) -> SocketAddr {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("leaf.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("leaf.key")).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let config = Arc::new(config);
    let answer = Arc::new(answer);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { return };
            let connection = rustls::ServerConnection::new(Arc::clone(&config)).unwrap();
            let answer = Arc::clone(&answer);
            std::thread::spawn(move || {
                let mut stream = BufReader::new(rustls::StreamOwned::new(connection, tcp));
                loop {
                    let mut line = String::new();
                    match stream.read_line(&mut line) {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line == "\r\n" => {
                            if stream.get_mut().write_all(answer.as_bytes()).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                    }
                }
            });
        }
    });
    address
}

#[tokio::test]
async fn a_pinned_name_is_still_checked_against_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let body = r#"{"tags":["ok"]}"#;
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let address = tls_server(dir.path(), answer);
    let port = address.port();
    let client = ClientBuilder::new()
        .retry_policy(RetryPolicy::none())
        .ca_file(dir.path().join("ca.pem"))
        .resolve("localhost", address)
        .resolve("registry.test", address)
        .build()
        .unwrap();

    // The name on the certificate: trusted through the CA file.
    let named = Reference::parse(&format!("localhost:{port}/lib/app")).unwrap();
    assert_eq!(client.tags(&named).await.unwrap(), ["ok"]);

    // Another name pinned to the same server: the certificate is not valid for it.
    let pinned = Reference::parse(&format!("registry.test:{port}/lib/app")).unwrap();
    let error = client.tags(&pinned).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Network, "{error}");
    assert!(error.to_string().contains("certificate"), "{error}");
}

#[tokio::test]
async fn a_foreign_url_on_https_is_not_followed_to_plain_http_on_another_machine() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let bytes = b"foreign layer".to_vec();
    // `cdn.test` is another machine by name (pinned here to a plain-http server that would
    // serve the layer, so that following the redirect would be seen).
    let cdn = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes.clone()))
        .mount(&cdn)
        .await;
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nlocation: http://cdn.test:{}/layer\r\ncontent-length: 0\r\n\r\n",
        cdn.address().port()
    );
    let foreign = tls_server(dir.path(), redirect);
    let registry = common::open_registry().await;
    let mut descriptor = Descriptor::new(
        media_types::DOCKER_FOREIGN_LAYER_TAR_GZIP,
        Digest::sha256(&bytes),
        bytes.len() as u64,
    );
    descriptor.urls = vec![format!("https://localhost:{}/layer", foreign.port())];
    let blob_path = format!("/v2/lib/app/blobs/{}", descriptor.digest);
    Mock::given(path(blob_path.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes.clone()))
        .mount(&registry)
        .await;
    let client = ClientBuilder::new()
        .retry_policy(RetryPolicy::none())
        .ca_file(dir.path().join("ca.pem"))
        .resolve("localhost", foreign)
        .resolve("cdn.test", *cdn.address())
        .build()
        .unwrap();
    let reference = Reference::parse(&format!("{}/lib/app", registry.address())).unwrap();

    let received = client
        .blob_bytes(&reference, &descriptor, 1 << 20)
        .await
        .unwrap();

    assert_eq!(received, bytes);
    assert!(cdn.received_requests().await.unwrap().is_empty());
    assert_eq!(common::requests_at(&registry, &blob_path).await.len(), 1);
}

#[tokio::test]
async fn a_registry_on_https_is_not_followed_to_plain_http_on_another_machine() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    // A plain-http server that would answer every registry request (ping and tag list).
    let plain = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"tags":["ok"]}"#))
        .mount(&plain)
        .await;
    let redirect_to = |host: &str| {
        format!(
            "HTTP/1.1 302 Found\r\nlocation: http://{host}:{}/v2/\r\ncontent-length: 0\r\n\r\n",
            plain.address().port()
        )
    };
    // `cdn.test` is another machine by name (pinned here to the plain-http server).
    let to_another_machine = tls_server(dir.path(), redirect_to("cdn.test"));
    let to_this_machine = tls_server(dir.path(), redirect_to("127.0.0.1"));
    let client = ClientBuilder::new()
        .retry_policy(RetryPolicy::none())
        .ca_file(dir.path().join("ca.pem"))
        .resolve("localhost", to_this_machine)
        .resolve("cdn.test", *plain.address())
        .build()
        .unwrap();
    let on = |server: SocketAddr| {
        Reference::parse(&format!("localhost:{}/lib/app", server.port())).unwrap()
    };

    let error = client.tags(&on(to_another_machine)).await.unwrap_err();
    // A refusal by policy, not a network failure worth trying again.
    assert!(matches!(error, RegistryError::Redirect { .. }), "{error}");
    assert_eq!(error.kind(), ErrorKind::Invalid, "{error}");
    let message = error.to_string();
    assert!(message.contains("plain http"), "{message}");
    let cdn = format!("cdn.test:{}", plain.address().port());
    assert!(
        message.contains(&format!("--insecure-registry {cdn}")),
        "{message}"
    );
    assert!(plain.received_requests().await.unwrap().is_empty());

    // To this machine, plain http stays on it: the redirect is followed.
    assert_eq!(client.tags(&on(to_this_machine)).await.unwrap(), ["ok"]);
    assert!(!plain.received_requests().await.unwrap().is_empty());
}

/// Review 3 finding 2: a foreign layer URL of a registry that is neither on this machine nor
/// named insecure is never redirected to plain http, not even to this machine (a local
/// service); with the registry named insecure, the redirect to this machine is followed.
#[tokio::test]
async fn a_foreign_url_of_a_remote_registry_is_never_redirected_to_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    certificates(dir.path());
    let bytes = b"foreign layer".to_vec();
    let local = MockServer::start().await;
    Mock::given(any())
        .respond_with(ResponseTemplate::new(200).set_body_bytes(bytes.clone()))
        .mount(&local)
        .await;
    let redirect = format!(
        "HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:{}/admin\r\ncontent-length: 0\r\n\r\n",
        local.address().port()
    );
    let foreign = tls_server(dir.path(), redirect);
    let mut descriptor = Descriptor::new(
        media_types::DOCKER_FOREIGN_LAYER_TAR_GZIP,
        Digest::sha256(&bytes),
        bytes.len() as u64,
    );
    descriptor.urls = vec![format!("https://localhost:{}/layer", foreign.port())];
    // `registry.test` is another machine by name; nothing listens where it is pinned.
    let reference = Reference::parse("registry.test:1/win/app").unwrap();
    let client = |insecure: bool| {
        let builder = ClientBuilder::new()
            .retry_policy(RetryPolicy::none())
            .ca_file(dir.path().join("ca.pem"))
            .resolve("localhost", foreign)
            .resolve("registry.test", "127.0.0.1:1".parse().unwrap());
        let builder = if insecure {
            builder.insecure_registry("registry.test:1")
        } else {
            builder
        };
        builder.build().unwrap()
    };

    let error = client(false)
        .blob_bytes(&reference, &descriptor, 1 << 20)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("registry.test"), "{error}");
    assert!(local.received_requests().await.unwrap().is_empty());

    let received = client(true)
        .blob_bytes(&reference, &descriptor, 1 << 20)
        .await
        .unwrap();
    assert_eq!(received, bytes);
    assert_eq!(local.received_requests().await.unwrap().len(), 1);
}
