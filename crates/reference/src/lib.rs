//! Image references, digests and platforms: parsing and normalisation as docker does it.
//!
//! This crate has no I/O and no async code; every other imgpull crate names images,
//! digests and platforms with its types, never with plain strings.
