//! Docker-save and OCI image archives and layouts: deterministic writers and a verifying reader.
//!
//! The crate knows tar and JSON layouts and nothing about the network: blobs are read
//! through a small trait so that any store (or memory, in tests) can feed it.
