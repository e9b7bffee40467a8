//! A verified, resumable, content-addressed SHA-256 blob cache.
//!
//! The cache directory is itself an OCI image layout. Nothing that does not match its
//! digest is ever visible under `blobs/`.
