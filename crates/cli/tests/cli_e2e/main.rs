//! End to end: the built `imgpull` binary against real CNCF distribution registries on
//! 127.0.0.1 (TLS anonymous, htpasswd, token auth, plain HTTP) with generated images, each
//! output checked by skopeo (and `podman load` where it runs).
//!
//! Every test runs the binary in a sandbox: its own HOME, config, cache and docker config
//! directories, so nothing of the developer's machine is read or written.

mod auth;
mod cache;
mod cache_safety;
mod durability;
mod failures;
mod index_walk;
mod interrupts;
mod mirrors;
mod output_safety;
mod pull;
mod support;
