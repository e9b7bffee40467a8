//! Registry authentication: `WWW-Authenticate` challenges, bearer tokens and credentials.
//!
//! The protocol logic is plain functions over bytes and strings so that it can be tested
//! without sockets; the HTTP requests themselves are made by `imgpull-registry`.
