//! The integration tests of imgpull-archive, in one binary: every output written and read back,
//! golden files, malicious archives, and independent validation with skopeo and podman.

#![allow(clippy::unwrap_used)]

mod common;
mod docker_archive;
mod e2e_skopeo;
mod file_output;
mod golden;
mod inflate;
mod oci;
mod output;
mod reader;
