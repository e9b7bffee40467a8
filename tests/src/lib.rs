//! Test harness shared by the workspace-level test suites: a wiremock fake registry,
//! a real CNCF distribution registry with TLS and auth, and generated images.
