//! Test harness shared by the workspace-level test suites and by other crates' end-to-end
//! tests (as a dev-dependency): fake and real registries, generated images, pushing and
//! validating.
//!
//! Nothing here touches the network beyond `127.0.0.1`, and nothing is downloaded: images are
//! generated from seeds, certificates at test time.
//!
//! # Modules
//!
//! | module | what |
//! | --- | --- |
//! | [`fake`] | [`fake::FakeRegistry`]: a wiremock fake registry (in-memory content, Basic or bearer auth with a fake realm, injected faults and redirects) for protocol edge cases; owned by the registry crate's engineer. |
//! | [`pki`] | [`pki::TestPki`]: a CA, a server certificate for `127.0.0.1`/`::1`/`localhost`, and a token-signing leaf certificate, as PEM files plus a skopeo `certs.d/ca.crt` directory. |
//! | [`real`] | [`real::RegistryServer`]: CNCF distribution 2.8 (`docker-registry serve`) on a free loopback port, plain HTTP or TLS, anonymous, htpasswd or token auth; `corrupt_blob` for real integrity failures; killed on drop. |
//! | [`realm`] | [`realm::TokenRealm`]: the in-process Docker token realm (HTTP, or HTTPS under the test CA for TLS registries; GET with Basic and the OAuth2 POST form; ES256 JWTs with `x5c`; public repositories; configurable lifetime) that records every [`realm::TokenRequest`]. |
//! | [`image`] | [`image::OciLayout`], [`image::ImageSpec`], [`image::IndexSpec`], [`image::LayerSpec`]: deterministic images (OCI or Docker media types), multi-platform indexes with attestations, shared layers, streamed large layers. |
//! | [`proxy`] | [`proxy::TcpProxy`]: a TCP proxy in front of a registry that throttles responses and cuts connections (interrupting downloads from a real registry). |
//! | [`push`] | [`push::push`]: `skopeo copy --all` of a layout entry to a [`real::RegistryServer`]. |
//! | [`validate`] | skopeo inspect/copy helpers for `docker-archive:`, `oci:`, `oci-archive:` and `docker://`, and [`validate::Podman`] (`podman load` with vfs storage). |
//! | [`tools`] | finding external tools, [`require_e2e!`] and the `IMGPULL_SKIP_E2E` switch. |
//!
//! # Typical end-to-end test
//!
//! ```no_run
//! use imgpull_tests::image::{Content, ImageSpec, OciLayout};
//! use imgpull_tests::push::{PushOptions, push};
//! use imgpull_tests::real::{RegistryConfig, RegistryServer};
//! use imgpull_tests::realm::TokenConfig;
//! use imgpull_tests::{require_e2e, tools};
//!
//! #[test]
//! fn pulls_a_private_image() {
//!     require_e2e!(tools::DOCKER_REGISTRY, tools::SKOPEO);
//!     let server = RegistryServer::start(RegistryConfig::tls().token_auth(
//!         TokenConfig::new().user("bob", "hunter2").public_repository("public/app"),
//!     ))
//!     .expect("registry starts");
//!     let mut layout = OciLayout::temporary().expect("layout");
//!     let image = layout
//!         .add_image(&ImageSpec::new("app").layers(3, 1 << 20, Content::Random), "app")
//!         .expect("image");
//!     push(&layout, "app", &server, "private/app:v1", &PushOptions::new()).expect("push");
//!     server.clear_token_requests();
//!     // … run imgpull against server.image_ref("private/app:v1") with
//!     // --ca-file server.ca_pem_path(), then validate the output with `validate::*` and
//!     // compare digests with `image.manifest.digest`, `image.config.digest`, … and count
//!     // `server.token_requests()`.
//!     # let _ = image;
//! }
//! ```
//!
//! # Missing tools and `IMGPULL_SKIP_E2E`
//!
//! `docker-registry` and `skopeo` are required: CI installs them, and a missing one makes the
//! end-to-end tests **fail** with the package to install ([`HarnessError::ToolMissing`]). Set
//! `IMGPULL_SKIP_E2E=1` to make tests that start with [`require_e2e!`] return early instead
//! (with a printed note). `htpasswd` (apache2-utils) is needed for htpasswd registries.
//! `podman` is optional: [`validate::Podman::detect`] says whether it runs here.
//!
//! # Debugging a failed test
//!
//! A [`real::RegistryServer`] dropped during a panic keeps its directory (config, htpasswd,
//! `registry.log`; storage removed) and prints its path. Command failures carry the command
//! line (passwords masked) and its stderr.

pub mod error;
pub mod fake;
mod http;
pub mod image;
pub mod pki;
pub mod proxy;
pub mod push;
pub mod real;
pub mod realm;
mod rng;
pub mod tools;
pub mod validate;

pub use error::{HarnessError, Result};
