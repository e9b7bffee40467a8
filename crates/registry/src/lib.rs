//! A client for the OCI distribution API (Docker registry HTTP API v2).
//!
//! It owns every network decision: scheme, TLS, mirrors, retries, redirects and auth
//! headers, and resolves multi-platform indexes to one image.
