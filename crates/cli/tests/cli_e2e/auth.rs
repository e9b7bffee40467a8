//! Authentication: htpasswd, token realms, credentials from stdin and the environment, login and logout.

use std::fs;
use std::net::TcpListener;

use imgpull_tests::image::{Content, Flavor, ImageSpec};
use imgpull_tests::push::PushOptions;
use imgpull_tests::real::{RegistryConfig, RegistryServer};
use imgpull_tests::realm::TokenConfig;
use imgpull_tests::require_e2e;
use imgpull_tests::tools::{DOCKER_REGISTRY, HTPASSWD, SKOPEO};
use imgpull_tests::validate;
use serde_json::Value;

use crate::support::*;

#[test]
fn htpasswd_docker_schema2_many_layers_with_password_stdin() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO, HTPASSWD);
    let server =
        RegistryServer::start(RegistryConfig::tls().htpasswd("alice", "s3cret")).expect("registry");
    let spec = ImageSpec::new("many")
        .flavor(Flavor::Docker)
        .layers(12, 20 << 10, Content::Text);
    let image = push_image(&server, &spec, &["team/many:2"], &PushOptions::new().v2s2());
    let sandbox = Sandbox::new();
    let reference = server.image_ref("team/many:2");

    let anonymous = sandbox.run(&["pull", "--ca-file", &ca(&server), &reference]);
    expect_error(&anonymous, 3, None, &["401"]);

    let args = [
        "pull",
        "--json",
        "-o",
        "many.tar",
        "--max-concurrent-downloads",
        "4",
        "--ca-file",
        &ca(&server),
        "--username",
        "alice",
        "--password-stdin",
        &reference,
    ];
    let output = sandbox.run_with_stdin(&args, "s3cret\n");
    assert_success(&output, &args);
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(u64_at(&report, "/images/0/layers"), 12);
    assert_eq!(
        str_at(&report, "/images/0/manifest_digest"),
        image.manifest.digest
    );
    let path = sandbox.out().join("many.tar");
    assert_docker_archive(&path, &image);
    podman_load(&path, &image, &reference);

    // The same schema 2 image as an OCI archive: converted to OCI media types (skopeo's `oci:`
    // transports ignore Docker ones), the config and so the image ID unchanged.
    let oci_args = [
        "pull",
        "-o",
        "many.oci.tar",
        "--format",
        "oci-archive",
        "--ca-file",
        &ca(&server),
        "--username",
        "alice",
        "--password-stdin",
        &reference,
    ];
    let output = sandbox.run_with_stdin(&oci_args, "s3cret\n");
    assert_success(&output, &oci_args);
    let archive = sandbox.out().join("many.oci.tar");
    let inspected = validate::inspect_oci_archive(&archive).expect("skopeo reads the OCI archive");
    assert_eq!(inspected["Layers"].as_array().map(Vec::len), Some(12));
    let copy = tempfile::tempdir().expect("tempdir");
    validate::skopeo_copy(
        &format!("oci-archive:{}", archive.display()),
        &format!("oci:{}:copy", copy.path().display()),
    )
    .expect("every blob re-hashes");
}

#[test]
fn token_auth_private_repository_needs_the_right_credentials() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO);
    let server = RegistryServer::start(
        RegistryConfig::tls().token_auth(
            TokenConfig::new()
                .user("bob", "hunter2")
                .public_repository("public/app"),
        ),
    )
    .expect("registry");
    let spec = ImageSpec::new("tokened").layers(2, 64 << 10, Content::Random);
    let image = push_image(
        &server,
        &spec,
        &["private/app:v1", "public/app:v1"],
        &PushOptions::new(),
    );
    let sandbox = Sandbox::new();
    let ca = ca(&server);

    // Anonymous pull of the public repository works with a token.
    let public = sandbox.json(&[
        "pull",
        "--json",
        "-q",
        "--ca-file",
        &ca,
        &server.image_ref("public/app:v1"),
    ]);
    assert_pulled(&public, &image);

    // The private one refuses anonymous users and a wrong password, with exit 3.
    let private = server.image_ref("private/app:v1");
    assert_exit(&sandbox.run(&["pull", "--ca-file", &ca, &private]), 3);
    let wrong = sandbox.run_with_stdin(
        &[
            "pull",
            "--ca-file",
            &ca,
            "--username",
            "bob",
            "--password-stdin",
            &private,
        ],
        "wrong",
    );
    assert_exit(&wrong, 3);

    // With the right credentials (from the environment) it works; `-v` logs the requests
    // and the token request, never the password or a token.
    let output = output_of(
        sandbox
            .command(&[
                "pull",
                "-v",
                "--json",
                "-o",
                "private.tar",
                "--ca-file",
                &ca,
                &private,
            ])
            .env("IMGPULL_USERNAME", "bob")
            .env("IMGPULL_PASSWORD", "hunter2"),
        "imgpull pull with IMGPULL_USERNAME/IMGPULL_PASSWORD",
    );
    assert_success(&output, &["pull", &private]);
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(
        log.contains("registry request") && log.contains("token request"),
        "{log}"
    );
    assert!(log.contains("/v2/private/app/manifests/v1"), "{log}");
    assert!(
        !log.contains("hunter2") && !log.contains("Ym9iOmh1bnRlcjI"),
        "secrets in the log: {log}"
    );
    assert!(!log.contains("eyJ"), "a JWT in the log: {log}");
    assert_docker_archive(&sandbox.out().join("private.tar"), &image);
}

#[test]
fn login_stores_credentials_that_pull_reads_back_and_logout_removes_them() {
    require_e2e!(DOCKER_REGISTRY, SKOPEO, HTPASSWD);
    let server =
        RegistryServer::start(RegistryConfig::tls().htpasswd("carol", "pa55")).expect("registry");
    let spec = ImageSpec::new("login-test");
    push_image(&server, &spec, &["team/login:1"], &PushOptions::new());
    let sandbox = Sandbox::new();
    let ca = ca(&server);
    let host = server.host();
    let reference = server.image_ref("team/login:1");

    let login_args = [
        "login",
        &host,
        "--ca-file",
        &ca,
        "--username",
        "carol",
        "--password-stdin",
    ];
    // A wrong password is refused by the registry and nothing is stored.
    let refused = sandbox.run_with_stdin(&login_args, "wrong\n");
    assert_exit(&refused, 3);
    assert!(!sandbox.path("docker").join("config.json").exists());

    let login = sandbox.run_with_stdin(&login_args, "pa55\n");
    assert_success(&login, &login_args);
    let config: Value = serde_json::from_slice(
        &fs::read(sandbox.path("docker").join("config.json")).expect("docker config"),
    )
    .expect("json");
    assert!(config["auths"][&host]["auth"].is_string(), "{config}");

    assert_success(
        &sandbox.run(&["pull", "-q", "--ca-file", &ca, &reference]),
        &["pull"],
    );

    assert_success(&sandbox.run(&["logout", &host]), &["logout"]);
    assert_exit(
        &sandbox.run(&[
            "pull",
            "-q",
            "--ca-file",
            &ca,
            "-o",
            "again.tar",
            &reference,
        ]),
        3,
    );
}

#[test]
fn credentials_with_images_on_several_registries_are_refused_before_any_request() {
    // Two registries that would see a connection (the kernel accepts it for the listener).
    let listeners: Vec<TcpListener> = (0..2)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("listener"))
        .collect();
    let images: Vec<String> = listeners
        .iter()
        .map(|l| format!("{}/team/app:1", l.local_addr().expect("address")))
        .collect();
    let sandbox = Sandbox::new();

    let explicit = sandbox.run_with_stdin(
        &[
            "pull",
            "-u",
            "bob",
            "--password-stdin",
            &images[0],
            &images[1],
        ],
        "hunter2",
    );
    expect_error(
        &explicit,
        2,
        None,
        &["--username", "imgpull login REGISTRY"],
    );
    let environment = output_of(
        sandbox
            .command(&["pull", &images[0], &images[1]])
            .env("IMGPULL_USERNAME", "bob")
            .env("IMGPULL_PASSWORD", "hunter2"),
        "imgpull pull of two registries with IMGPULL_USERNAME/IMGPULL_PASSWORD",
    );
    expect_error(&environment, 2, None, &["IMGPULL_REGISTRY"]);

    for listener in &listeners {
        listener.set_nonblocking(true).expect("non-blocking");
        assert!(listener.accept().is_err(), "a request was sent");
    }
}
