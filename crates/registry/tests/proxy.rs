//! The environment's proxy is used for other hosts but never for this machine's: a proxy
//! cannot reach the user's own registry and would see its plain-http credentials.
//!
//! The proxy variables are read from the environment, which a test cannot change in its
//! own process (safely), so the test runs itself again as a child with them set.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::TcpListener;
use std::process::Command;

use common::open_registry;
use imgpull_reference::Reference;
use imgpull_registry::{ClientBuilder, ErrorKind, RetryPolicy};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

const CHILD: &str = "IMGPULL_PROXY_TEST_CHILD";
const TEST: &str = "loopback_registries_bypass_the_environment_proxy";

#[test]
fn loopback_registries_bypass_the_environment_proxy() {
    if std::env::var_os(CHILD).is_some() {
        child();
        return;
    }
    // A proxy that refuses every connection: whatever goes through it fails.
    let closed = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let proxy = format!("http://{closed}");
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", TEST, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1");
    for variable in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
    ] {
        command.env(variable, &proxy);
    }
    for variable in ["NO_PROXY", "no_proxy", "all_proxy"] {
        command.env_remove(variable);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Runs with the proxy variables set.
fn child() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let registry = open_registry().await;
        Mock::given(method("GET"))
            .and(path("/v2/lib/app/tags/list"))
            .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"tags":["1"]}"#))
            .mount(&registry)
            .await;
        let port = registry.address().port();

        // This machine's address: reached directly.
        let client = ClientBuilder::new()
            .retry_policy(RetryPolicy::none())
            .build()
            .unwrap();
        let local = Reference::parse(&format!("127.0.0.1:{port}/lib/app")).unwrap();
        assert_eq!(client.tags(&local).await.unwrap(), ["1"]);

        // Another name (pinned to the same server, named insecure so that plain http is
        // allowed): it goes through the proxy, which refuses.
        let client = ClientBuilder::new()
            .retry_policy(RetryPolicy::none())
            .resolve("registry.test", *registry.address())
            .insecure_registry(format!("registry.test:{port}"))
            .build()
            .unwrap();
        let remote = Reference::parse(&format!("registry.test:{port}/lib/app")).unwrap();
        let error = client.tags(&remote).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Network, "{error}");
        assert!(registry.received_requests().await.unwrap().len() == 2);
    });
}
