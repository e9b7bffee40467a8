//! Bearer token requests and responses (the Docker token spec and its OAuth2 variant).

use std::time::{Duration, SystemTime};

use serde_json::Value;
use url::Url;

use crate::{
    AuthError, BearerChallenge, Credential, Scope, Secret, basic_authorization, merge_scopes,
    rfc3339,
};

/// The largest token response body accepted. Real ones are a few kilobytes; read at most
/// this many bytes (plus one, to detect an oversized body) before calling
/// [`parse_token_response`].
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 1024 * 1024;

/// The shortest token lifetime assumed. The Docker token spec says a token's `expires_in`
/// defaults to 60 seconds and that a client should treat smaller values as 60 seconds.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// How far a token response's `issued_at` may be from this machine's clock and still start
/// the token's lifetime: a response is read moments after it is issued, so a larger gap is a
/// clock set wrong (here or at the realm), and the lifetime then counts from receipt instead.
pub const MAX_ISSUED_AT_SKEW: Duration = Duration::from_secs(10);

/// The `Content-Type` of an OAuth2 token request body ([`TokenRequest::form_body`]).
pub const FORM_CONTENT_TYPE: &str = "application/x-www-form-urlencoded";

/// The HTTP method of a token request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenMethod {
    /// `GET` the realm with `service`, `scope` and `account` query parameters.
    Get,
    /// `POST` an OAuth2 form to the realm.
    Post,
}

/// A token request to perform: the caller sends it and hands the body to
/// [`parse_token_response`].
///
/// `Debug` is safe to log: [`Secret`]s are redacted and the URL holds no secret.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: TokenMethod,
    /// The realm; for `GET` with the query parameters appended.
    pub url: Url,
    /// The `Authorization` header value (`Basic …`) to send to the realm: only for a `GET`
    /// with [`Credential::Basic`]. Send it only to this URL, never to a redirect target on
    /// another host.
    pub basic_auth: Option<Secret>,
    /// The OAuth2 form fields, in order, for a `POST` (values are secrets because the
    /// `password` and `refresh_token` fields are); see [`TokenRequest::form_body`].
    pub form: Option<Vec<(String, Secret)>>,
}

impl TokenRequest {
    /// The `application/x-www-form-urlencoded` body of a `POST` request (`None` for a `GET`).
    pub fn form_body(&self) -> Option<Secret> {
        self.form.as_ref().map(|fields| {
            let mut body = url::form_urlencoded::Serializer::new(String::new());
            for (name, value) in fields {
                body.append_pair(name, value.expose());
            }
            Secret::new(body.finish())
        })
    }

    /// The value of a form field, if this is a `POST` and the field is present.
    pub fn form_field(&self, name: &str) -> Option<&Secret> {
        self.form
            .as_ref()?
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value)
    }
}

/// Builds the token request for a `Bearer` challenge, as docker does for pulls.
///
/// The scopes asked for are the challenge's scopes merged with `scopes` (see
/// [`merge_scopes`]); no `scope` parameter is sent when both are empty.
///
/// - [`Credential::Anonymous`]: `GET realm?service=…&scope=…` (one `scope=` per scope).
/// - [`Credential::Basic`]: the same `GET` plus `account=<username>`, with `basic_auth` set.
/// - [`Credential::IdentityToken`]: an OAuth2 `POST` with `grant_type=refresh_token`
///   (an identity token is a refresh token and cannot be used any other way).
/// - [`Credential::RegistryToken`]: an anonymous `GET`. A registry token is meant to be sent
///   to the registry directly (see [`crate::bearer_authorization`]); this is only a fallback
///   for a registry that refuses it.
///
/// `client_id` identifies the client to OAuth2 realms (e.g. `imgpull`); it is only sent in
/// `POST` forms. When a realm does not support the `GET` form (it answers `404` or `405`),
/// retry with [`token_request_oauth2`], which docker also uses.
pub fn token_request(
    challenge: &BearerChallenge,
    scopes: &[Scope],
    credential: &Credential,
    client_id: &str,
) -> TokenRequest {
    let scopes = merge_scopes(&challenge.scopes, scopes);
    match credential {
        Credential::Basic { username, .. } => get_request(
            challenge,
            &scopes,
            Some(username),
            basic_authorization(credential),
        ),
        Credential::IdentityToken(refresh_token) => post_request(
            challenge,
            &scopes,
            client_id,
            [
                ("grant_type", Secret::new("refresh_token")),
                ("refresh_token", refresh_token.clone()),
            ],
        ),
        Credential::Anonymous | Credential::RegistryToken(_) => {
            get_request(challenge, &scopes, None, None)
        }
    }
}

/// Builds the OAuth2 `POST` form of a token request: `grant_type=password` with `username`
/// and `password` for [`Credential::Basic`], `grant_type=refresh_token` for
/// [`Credential::IdentityToken`], plus `service`, `scope` (space-separated) and `client_id`.
///
/// Anonymous and registry-token credentials have no OAuth2 form; for them this returns the
/// same `GET` as [`token_request`].
pub fn token_request_oauth2(
    challenge: &BearerChallenge,
    scopes: &[Scope],
    credential: &Credential,
    client_id: &str,
) -> TokenRequest {
    match credential {
        Credential::Basic { username, password } => post_request(
            challenge,
            &merge_scopes(&challenge.scopes, scopes),
            client_id,
            [
                ("grant_type", Secret::new("password")),
                ("username", Secret::new(username.as_str())),
                ("password", password.clone()),
            ],
        ),
        _ => token_request(challenge, scopes, credential, client_id),
    }
}

fn get_request(
    challenge: &BearerChallenge,
    scopes: &[Scope],
    account: Option<&str>,
    basic_auth: Option<Secret>,
) -> TokenRequest {
    let mut url = challenge.realm.clone();
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = &challenge.service {
            query.append_pair("service", service);
        }
        for scope in scopes {
            query.append_pair("scope", &scope.to_string());
        }
        if let Some(account) = account {
            query.append_pair("account", account);
        }
    }
    if url.query() == Some("") {
        url.set_query(None);
    }
    TokenRequest {
        method: TokenMethod::Get,
        url,
        basic_auth,
        form: None,
    }
}

fn post_request<const N: usize>(
    challenge: &BearerChallenge,
    scopes: &[Scope],
    client_id: &str,
    grant: [(&str, Secret); N],
) -> TokenRequest {
    let mut form: Vec<(String, Secret)> = grant
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
    if let Some(service) = &challenge.service {
        form.push(("service".to_owned(), Secret::new(service.as_str())));
    }
    if !scopes.is_empty() {
        let joined = scopes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        form.push(("scope".to_owned(), Secret::new(joined)));
    }
    form.push(("client_id".to_owned(), Secret::new(client_id)));
    TokenRequest {
        method: TokenMethod::Post,
        url: challenge.realm.clone(),
        basic_auth: None,
        form: Some(form),
    }
}

/// A bearer token and when it stops being usable.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Token {
    /// The token, sent as `Authorization: Bearer <value>` (see [`crate::bearer_authorization`]).
    pub value: Secret,
    /// When the token was issued (`issued_at`, or the time the response was read).
    pub issued_at: SystemTime,
    /// When the token expires.
    pub expires_at: SystemTime,
    /// An OAuth2 refresh token, when the realm returned one (OAuth2 realms may, for `POST`
    /// requests); it can be used as a [`Credential::IdentityToken`].
    pub refresh_token: Option<Secret>,
}

impl Token {
    /// How long before `expires_at` the token is treated as stale: a tenth of its lifetime,
    /// at least 5 seconds and at most 60, so that a request never starts with a token that
    /// expires on the way.
    pub fn refresh_margin(&self) -> Duration {
        let lifetime = self
            .expires_at
            .duration_since(self.issued_at)
            .unwrap_or(Duration::ZERO);
        (lifetime / 10).clamp(Duration::from_secs(5), Duration::from_secs(60))
    }

    /// Whether the token can still be used at `now` (it is not within
    /// [`Token::refresh_margin`] of its expiry).
    pub fn is_fresh(&self, now: SystemTime) -> bool {
        now.checked_add(self.refresh_margin())
            .is_some_and(|deadline| deadline < self.expires_at)
    }
}

/// Reads a token response body (`{"token": …, "access_token": …, "expires_in": …,
/// "issued_at": …, "refresh_token": …}`) received at `now`.
///
/// - The token is `token`, or `access_token` when `token` is absent or empty.
/// - `expires_in` (seconds) defaults to 60 and is raised to 60 when smaller
///   ([`MIN_TOKEN_LIFETIME`]).
/// - The lifetime counts from `now`, the local time the response was received, or from
///   `issued_at` (RFC 3339) when it is at most [`MAX_ISSUED_AT_SKEW`] before `now`. An
///   `issued_at` further off (a clock set wrong here or at the realm, which would otherwise
///   make every token stale on arrival or outlive its expiry), in the future, or not RFC 3339
///   is ignored rather than failing a pull over an optional field.
/// - A body over [`MAX_TOKEN_RESPONSE_BYTES`] is rejected.
///
/// Errors never quote the body.
pub fn parse_token_response(body: &[u8], now: SystemTime) -> Result<Token, AuthError> {
    if body.len() > MAX_TOKEN_RESPONSE_BYTES {
        return Err(AuthError::TokenResponseTooLarge {
            size: body.len(),
            limit: MAX_TOKEN_RESPONSE_BYTES,
        });
    }
    let invalid = |reason: &str| AuthError::InvalidTokenResponse {
        reason: reason.to_owned(),
        source: None,
    };
    // Parse into a `Value` first: its errors are syntax errors with a line and column, while
    // typed deserialisation errors may quote a (secret) field value.
    let json: Value =
        serde_json::from_slice(body).map_err(|source| AuthError::InvalidTokenResponse {
            reason: "the body is not JSON".to_owned(),
            source: Some(source),
        })?;
    let Value::Object(fields) = json else {
        return Err(invalid("the body is not a JSON object"));
    };
    let string_field = |name: &str| -> Result<Option<&str>, AuthError> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(invalid(&format!("field {name} is not a string"))),
        }
    };

    let value = match string_field("token")? {
        Some(token) => token,
        None => string_field("access_token")?
            .ok_or_else(|| invalid("neither token nor access_token is present"))?,
    };
    let lifetime = match fields.get("expires_in") {
        None | Some(Value::Null) => MIN_TOKEN_LIFETIME,
        Some(Value::Number(seconds)) => {
            // Integers, floats and negative numbers all occur in the wild; anything below the
            // minimum (zero and negative values included) means the minimum.
            let seconds = seconds.as_f64().unwrap_or(0.0).max(0.0);
            Duration::try_from_secs_f64(seconds)
                .map_err(|_| invalid("field expires_in is out of range"))?
                .max(MIN_TOKEN_LIFETIME)
        }
        Some(_) => return Err(invalid("field expires_in is not a number")),
    };
    let issued_at = string_field("issued_at")?
        .and_then(rfc3339::parse)
        .filter(|issued_at| {
            now.duration_since(*issued_at)
                .is_ok_and(|age| age <= MAX_ISSUED_AT_SKEW)
        })
        .unwrap_or(now);
    let expires_at = issued_at
        .checked_add(lifetime)
        .ok_or_else(|| invalid("field expires_in is out of range"))?;
    let refresh_token = string_field("refresh_token")?.map(Secret::new);

    Ok(Token {
        value: Secret::new(value),
        issued_at,
        expires_at,
        refresh_token,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;
    use crate::parse_challenges;

    const PASSWORD: &str = "s3cr3t-pa55";
    const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.payload.signature";

    fn hub_challenge() -> BearerChallenge {
        let challenges = parse_challenges([
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull""#,
        ])
        .unwrap();
        BearerChallenge::from_challenge(&challenges[0]).unwrap()
    }

    fn query(request: &TokenRequest) -> Vec<(String, String)> {
        request.url.query_pairs().into_owned().collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn anonymous_get_has_service_and_one_scope_per_scope() {
        let request = token_request(
            &hub_challenge(),
            &[Scope::pull("library/redis")],
            &Credential::Anonymous,
            "imgpull",
        );
        assert_eq!(request.method, TokenMethod::Get);
        assert_eq!(request.url.path(), "/token");
        assert_eq!(
            query(&request),
            pairs(&[
                ("service", "registry.docker.io"),
                ("scope", "repository:library/nginx:pull"),
                ("scope", "repository:library/redis:pull"),
            ])
        );
        assert_eq!(request.basic_auth, None);
        assert_eq!(request.form, None);
        assert_eq!(request.form_body(), None);
    }

    #[test]
    fn basic_get_adds_account_and_basic_auth() {
        let credential = Credential::basic("alice", PASSWORD);
        let request = token_request(&hub_challenge(), &[], &credential, "imgpull");
        assert_eq!(request.method, TokenMethod::Get);
        assert_eq!(
            query(&request),
            pairs(&[
                ("service", "registry.docker.io"),
                ("scope", "repository:library/nginx:pull"),
                ("account", "alice"),
            ])
        );
        assert_eq!(request.basic_auth, basic_authorization(&credential));
        assert!(!request.url.as_str().contains(PASSWORD));
    }

    #[test]
    fn identity_token_posts_a_refresh_token_grant() {
        let credential = Credential::IdentityToken(Secret::new(PASSWORD));
        let request = token_request(
            &hub_challenge(),
            &[Scope::new("repository", "library/nginx", ["push"])],
            &credential,
            "imgpull",
        );
        assert_eq!(request.method, TokenMethod::Post);
        assert_eq!(request.url.as_str(), "https://auth.docker.io/token");
        assert_eq!(request.basic_auth, None);
        let form: Vec<(String, String)> = request
            .form
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.expose().to_owned()))
            .collect();
        assert_eq!(
            form,
            pairs(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", PASSWORD),
                ("service", "registry.docker.io"),
                ("scope", "repository:library/nginx:pull,push"),
                ("client_id", "imgpull"),
            ])
        );
        assert_eq!(
            request.form_body().unwrap().expose(),
            "grant_type=refresh_token&refresh_token=s3cr3t-pa55&service=registry.docker.io\
             &scope=repository%3Alibrary%2Fnginx%3Apull%2Cpush&client_id=imgpull"
        );
    }

    #[test]
    fn oauth2_fallback_posts_a_password_grant() {
        let request = token_request_oauth2(
            &hub_challenge(),
            &[Scope::pull("library/redis")],
            &Credential::basic("alice", PASSWORD),
            "imgpull",
        );
        assert_eq!(request.method, TokenMethod::Post);
        assert_eq!(request.basic_auth, None);
        let field = |name| request.form_field(name).map(Secret::expose);
        assert_eq!(field("grant_type"), Some("password"));
        assert_eq!(field("username"), Some("alice"));
        assert_eq!(field("password"), Some(PASSWORD));
        assert_eq!(field("service"), Some("registry.docker.io"));
        assert_eq!(
            field("scope"),
            Some("repository:library/nginx:pull repository:library/redis:pull")
        );
        assert_eq!(field("client_id"), Some("imgpull"));
    }

    #[test]
    fn oauth2_fallback_without_password_is_the_get_request() {
        let challenge = hub_challenge();
        for credential in [
            Credential::Anonymous,
            Credential::RegistryToken(Secret::new(PASSWORD)),
            Credential::IdentityToken(Secret::new(PASSWORD)),
        ] {
            assert_eq!(
                token_request_oauth2(&challenge, &[], &credential, "c"),
                token_request(&challenge, &[], &credential, "c")
            );
        }
    }

    #[test]
    fn registry_token_falls_back_to_anonymous_get() {
        let request = token_request(
            &hub_challenge(),
            &[],
            &Credential::RegistryToken(Secret::new(PASSWORD)),
            "imgpull",
        );
        assert_eq!(request.method, TokenMethod::Get);
        assert_eq!(request.basic_auth, None);
        assert!(!request.url.as_str().contains(PASSWORD));
    }

    #[test]
    fn realm_query_is_kept_and_empty_query_dropped() {
        let challenges =
            parse_challenges([r#"Bearer realm="https://r.example/token?tenant=7""#]).unwrap();
        let challenge = BearerChallenge::from_challenge(&challenges[0]).unwrap();
        let request = token_request(&challenge, &[Scope::pull("a")], &Credential::Anonymous, "c");
        assert_eq!(
            request.url.as_str(),
            "https://r.example/token?tenant=7&scope=repository%3Aa%3Apull"
        );
        let challenges = parse_challenges([r#"Bearer realm="https://r.example/token""#]).unwrap();
        let challenge = BearerChallenge::from_challenge(&challenges[0]).unwrap();
        let request = token_request(&challenge, &[], &Credential::Anonymous, "c");
        assert_eq!(request.url.as_str(), "https://r.example/token");
    }

    #[test]
    fn token_request_debug_hides_secrets() {
        let challenge = hub_challenge();
        for credential in [
            Credential::basic("alice", PASSWORD),
            Credential::IdentityToken(Secret::new(PASSWORD)),
        ] {
            for request in [
                token_request(&challenge, &[], &credential, "c"),
                token_request_oauth2(&challenge, &[], &credential, "c"),
            ] {
                let debug = format!("{request:?}");
                assert!(!debug.contains(PASSWORD), "{debug}");
                // base64 of "alice:s3cr3t-pa55" must not leak either.
                assert!(!debug.contains("YWxpY2U6czNjcjN0LXBhNTU="), "{debug}");
            }
        }
    }

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn token_field_and_default_lifetime() {
        let now = at(1_700_000_000);
        let token =
            parse_token_response(format!(r#"{{"token":"{TOKEN}"}}"#).as_bytes(), now).unwrap();
        assert_eq!(token.value.expose(), TOKEN);
        assert_eq!(token.issued_at, now);
        assert_eq!(token.expires_at, now + Duration::from_secs(60));
        assert_eq!(token.refresh_token, None);
    }

    #[test]
    fn access_token_is_used_when_token_is_missing_or_empty() {
        let now = at(1_700_000_000);
        for body in [
            r#"{"access_token":"a1","expires_in":300}"#,
            r#"{"token":"","access_token":"a1","expires_in":300}"#,
            r#"{"token":null,"access_token":"a1","expires_in":300}"#,
        ] {
            let token = parse_token_response(body.as_bytes(), now).unwrap();
            assert_eq!(token.value.expose(), "a1", "{body}");
            assert_eq!(token.expires_at, now + Duration::from_secs(300));
        }
        let both = parse_token_response(br#"{"token":"t1","access_token":"a1"}"#, now).unwrap();
        assert_eq!(both.value.expose(), "t1");
    }

    #[test]
    fn short_zero_negative_and_float_lifetimes() {
        let now = at(1_700_000_000);
        for (expires_in, seconds) in [
            ("10", 60),
            ("0", 60),
            ("-5", 60),
            ("60", 60),
            ("61", 61),
            ("299.5", 299),
            ("null", 60),
        ] {
            let body = format!(r#"{{"token":"t","expires_in":{expires_in}}}"#);
            let token = parse_token_response(body.as_bytes(), now).unwrap();
            let lifetime = token.expires_at.duration_since(now).unwrap().as_secs();
            assert_eq!(lifetime, seconds, "{expires_in}");
        }
    }

    #[test]
    fn issued_at_starts_the_lifetime() {
        // issued_at = 2023-11-14T22:13:20Z = 1_700_000_000.
        let now = at(1_700_000_004);
        let token = parse_token_response(
            br#"{"token":"t","expires_in":300,"issued_at":"2023-11-14T22:13:20Z","refresh_token":"r1"}"#,
            now,
        )
        .unwrap();
        assert_eq!(token.issued_at, at(1_700_000_000));
        assert_eq!(token.expires_at, at(1_700_000_300));
        assert_eq!(token.refresh_token.as_ref().map(Secret::expose), Some("r1"));
    }

    #[test]
    fn future_or_unparsable_issued_at_counts_from_now() {
        let now = at(1_600_000_000);
        for issued_at in ["2023-11-14T22:13:20Z", "yesterday", "2023-11-14"] {
            let body = format!(r#"{{"token":"t","expires_in":120,"issued_at":"{issued_at}"}}"#);
            let token = parse_token_response(body.as_bytes(), now).unwrap();
            assert_eq!(token.issued_at, now, "{issued_at}");
            assert_eq!(token.expires_at, at(1_600_000_120), "{issued_at}");
        }
    }

    #[test]
    fn an_issued_at_far_behind_the_local_clock_counts_from_receipt() {
        // The realm's clock is ten minutes behind this machine's (or this one is ahead): the
        // token is fresh for its whole lifetime from now, not stale on arrival.
        let now = at(1_700_000_600);
        let body = br#"{"token":"t","expires_in":300,"issued_at":"2023-11-14T22:13:20Z"}"#;
        let token = parse_token_response(body, now).unwrap();
        assert_eq!(token.issued_at, now);
        assert_eq!(token.expires_at, at(1_700_000_900));
        assert!(token.is_fresh(now));
        // Within the allowed skew, issued_at still starts the lifetime.
        let skew = MAX_ISSUED_AT_SKEW.as_secs();
        let token = parse_token_response(body, at(1_700_000_000 + skew)).unwrap();
        assert_eq!(token.issued_at, at(1_700_000_000));
        let token = parse_token_response(body, at(1_700_000_001 + skew)).unwrap();
        assert_eq!(token.issued_at, at(1_700_000_001 + skew));
    }

    #[test]
    fn oversized_body_is_rejected_before_parsing() {
        let body = vec![b' '; MAX_TOKEN_RESPONSE_BYTES + 1];
        let error = parse_token_response(&body, at(0)).unwrap_err();
        assert!(matches!(
            error,
            AuthError::TokenResponseTooLarge { size, limit }
                if size == MAX_TOKEN_RESPONSE_BYTES + 1 && limit == MAX_TOKEN_RESPONSE_BYTES
        ));
    }

    #[test]
    fn garbage_bodies_are_errors_that_do_not_quote_the_body() {
        for body in [
            "",
            "<html>502 Bad Gateway</html>",
            "[]",
            r#""s3cr3t-pa55""#,
            "{}",
            r#"{"token":""}"#,
            r#"{"token":42}"#,
            r#"{"access_token":["s3cr3t-pa55"]}"#,
            r#"{"token":"s3cr3t-pa55","expires_in":"300"}"#,
            r#"{"token":"s3cr3t-pa55","refresh_token":7}"#,
            r#"{"token":"s3cr3t-pa55","expires_in":1e300}"#,
            r#"{"token":"s3cr3t-pa55","expires_in":18446744073709551615}"#,
            r#"{"token":"s3cr3t-pa55","expires_in":9300000000000000000}"#,
            r#"{"token":"s3cr3t-pa55""#,
        ] {
            let error = parse_token_response(body.as_bytes(), at(0)).unwrap_err();
            assert!(
                matches!(error, AuthError::InvalidTokenResponse { .. }),
                "{body}"
            );
            let message = format!("{error} {error:?}");
            assert!(!message.contains(PASSWORD), "{message}");
        }
    }

    #[test]
    fn freshness_keeps_a_margin_before_expiry() {
        let token = Token {
            value: Secret::new("t"),
            issued_at: at(1000),
            expires_at: at(1300),
            refresh_token: None,
        };
        assert_eq!(token.refresh_margin(), Duration::from_secs(30));
        assert!(token.is_fresh(at(1000)));
        assert!(token.is_fresh(at(1269)));
        assert!(!token.is_fresh(at(1270)));
        assert!(!token.is_fresh(at(1400)));

        let short = Token {
            expires_at: at(1060),
            ..token.clone()
        };
        assert_eq!(short.refresh_margin(), Duration::from_secs(6));
        let long = Token {
            expires_at: at(1000 + 86_400),
            ..token
        };
        assert_eq!(long.refresh_margin(), Duration::from_secs(60));
    }
}
