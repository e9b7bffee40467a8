//! Registry authentication: `WWW-Authenticate` challenges, bearer tokens and credentials.
//!
//! The protocol logic is plain functions over bytes and strings so that it can be tested
//! without sockets; the HTTP requests themselves are made by `imgpull-registry`:
//!
//! 1. A registry answers `401` with `WWW-Authenticate`; [`parse_challenges`] reads it and
//!    [`BearerChallenge::find`] picks the bearer challenge (a `Basic` challenge means sending
//!    [`basic_authorization`] to the registry itself).
//! 2. [`Keychain::resolve`] finds the [`Credential`] for the registry (the explicit and the
//!    environment's credentials belong to one registry only, see [`Keychain`]).
//! 3. [`token_request`] says which request to send to the realm; the registry crate sends it,
//!    reads at most [`MAX_TOKEN_RESPONSE_BYTES`], and [`parse_token_response`] reads the body.
//! 4. The [`Token`] goes into the [`TokenCache`], keyed by registry and scope set, and is sent
//!    as [`bearer_authorization`] until it is no longer [`Token::is_fresh`].
//! 5. When the registry itself refuses a request, [`should_reauthenticate`] decides whether to
//!    fetch a new token, once, with [`scopes_after_challenge`] adding any scope the registry
//!    asked for.
//!
//! ```
//! use std::time::SystemTime;
//! use imgpull_auth::{
//!     BearerChallenge, Credential, Scope, TokenCache, TokenMethod, parse_challenges,
//!     parse_token_response, token_request,
//! };
//!
//! # fn main() -> Result<(), imgpull_auth::AuthError> {
//! let header = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#;
//! let challenges = parse_challenges([header])?;
//! let bearer = BearerChallenge::find(&challenges).expect("a Bearer challenge")?;
//!
//! let scopes = [Scope::pull("library/nginx")];
//! let request = token_request(&bearer, &scopes, &Credential::Anonymous, "imgpull");
//! assert_eq!(request.method, TokenMethod::Get);
//! assert_eq!(
//!     request.url.as_str(),
//!     "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fnginx%3Apull"
//! );
//!
//! // The registry crate sends `request` and reads the body:
//! let now = SystemTime::now();
//! let token = parse_token_response(br#"{"token":"abc","expires_in":300}"#, now)?;
//! let cache = TokenCache::new();
//! cache.insert("registry-1.docker.io", &scopes, token);
//! assert!(cache.get("registry-1.docker.io", &scopes, now).is_some());
//! # Ok(())
//! # }
//! ```

mod cache;
mod challenge;
mod error;
mod keychain;
mod rfc3339;
mod scope;
mod secret;
mod token;

pub use cache::{TokenCache, is_ecr_host, scopes_after_challenge, should_reauthenticate};
pub use challenge::{BearerChallenge, Challenge, Scheme, parse_challenges};
pub use error::AuthError;
pub use keychain::{
    CredentialSource, Keychain, LoginStorage, PASSWORD_ENV, REGISTRY_ENV, USERNAME_ENV,
    remove_login, store_login,
};
pub use scope::{Scope, merge_scopes};
pub use secret::{Credential, Secret, basic_authorization, bearer_authorization};
pub use token::{
    FORM_CONTENT_TYPE, MAX_ISSUED_AT_SKEW, MAX_TOKEN_RESPONSE_BYTES, MIN_TOKEN_LIFETIME, Token,
    TokenMethod, TokenRequest, parse_token_response, token_request, token_request_oauth2,
};
