//! A Docker token-auth realm (the Docker Hub scheme) served in-process on `127.0.0.1`, over
//! HTTP ([`TokenRealm::start`]) or HTTPS with the [`TestPki`] server certificate
//! ([`TokenRealm::start_https`]; what a TLS [`crate::real::RegistryServer`] uses).
//!
//! The realm answers `GET /token?service=…&scope=…` (credentials, if any, in a Basic
//! `Authorization` header) and the OAuth2 form `POST /token` (`grant_type=password` with
//! `username`/`password`, or `grant_type=refresh_token`). It
//! - rejects wrong credentials with `401`,
//! - grants every requested action to a known user,
//! - grants anonymous callers only `pull` on the configured public repositories (and nothing
//!   else: the token is issued with an empty `access` list, as Docker Hub does),
//! - issues ES256 JWTs with an `x5c` header holding the token-signing certificate of a
//!   [`TestPki`], signed with ring (`ECDSA_P256_SHA256_FIXED`), with claims `iss`, `aud`, `sub`,
//!   `exp`, `nbf`, `iat`, `jti` and `access`,
//! - answers `{"token", "access_token", "expires_in", "issued_at"}` (plus `refresh_token` for
//!   the password grant).
//!
//! `exp` is set to `now + lifetime − 60 s` so that, with distribution's 60 s leeway, the registry
//! really stops accepting the token `lifetime` seconds after issue, matching `expires_in`.
//! Every request is recorded as a [`TokenRequest`] so that tests can count and inspect them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use serde_json::json;

use crate::error::{HarnessError, Result, io_context};
use crate::http::{self, HttpServer, Request, Response};
use crate::pki::TestPki;

/// The leeway distribution 2.8 allows past a token's `exp` (and before its `nbf`).
pub const DISTRIBUTION_LEEWAY: Duration = Duration::from_secs(60);

/// A user name and password known to a registry or realm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The user name.
    pub username: String,
    /// The password, in clear (test data only).
    pub password: String,
}

impl User {
    /// A user with this name and password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// `username:password`, the form skopeo's `--creds` options take.
    pub fn creds(&self) -> String {
        format!("{}:{}", self.username, self.password)
    }
}

/// How the token realm decides and signs.
#[derive(Debug, Clone)]
pub struct TokenConfig {
    /// Users who get every action they ask for, on any repository.
    pub users: Vec<User>,
    /// Repositories anonymous callers may pull (e.g. `public/alpine`).
    pub public_repositories: Vec<String>,
    /// How long a token is valid (`expires_in`); at least one second.
    pub lifetime: Duration,
    /// The `service` the registry names in its challenges (the JWT `aud`).
    pub service: String,
    /// The JWT `iss`.
    pub issuer: String,
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            users: Vec::new(),
            public_repositories: Vec::new(),
            lifetime: Duration::from_secs(300),
            service: "imgpull-test-registry".to_owned(),
            issuer: "imgpull-test-realm".to_owned(),
        }
    }
}

impl TokenConfig {
    /// The defaults: no users, no public repositories, 300 s tokens.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a user who may do anything.
    #[must_use]
    pub fn user(mut self, username: &str, password: &str) -> Self {
        self.users.push(User::new(username, password));
        self
    }

    /// Lets anonymous callers pull `repository`.
    #[must_use]
    pub fn public_repository(mut self, repository: &str) -> Self {
        self.public_repositories.push(repository.to_owned());
        self
    }

    /// Sets the token lifetime (`expires_in`).
    #[must_use]
    pub fn lifetime(mut self, lifetime: Duration) -> Self {
        self.lifetime = lifetime;
        self
    }
}

/// One request the realm received, recorded for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `GET` or `POST`.
    pub method: String,
    /// The OAuth2 `grant_type` of a `POST` (`password`, `refresh_token`).
    pub grant_type: Option<String>,
    /// The `service` parameter.
    pub service: Option<String>,
    /// Every `scope` asked for (`repository:NAME:ACTIONS`), split on spaces.
    pub scopes: Vec<String>,
    /// The user name presented (Basic header, form, or refresh token's owner).
    pub username: Option<String>,
    /// Whether a Basic `Authorization` header was sent.
    pub basic_auth: bool,
    /// The status the realm answered.
    pub status: u16,
    /// The access granted, as scopes (`repository:NAME:pull,push`); empty when denied.
    pub granted: Vec<String>,
}

/// A running token realm. Stopped on drop.
#[derive(Debug)]
pub struct TokenRealm {
    state: Arc<RealmState>,
    server: HttpServer,
    https: bool,
}

impl TokenRealm {
    /// Starts a plain-HTTP realm that signs with `pki`'s token-signing key.
    pub fn start(config: TokenConfig, pki: &TestPki) -> Result<Self> {
        Self::start_with(config, pki, false)
    }

    /// Starts an HTTPS realm (presenting `pki`'s server certificate, so clients must trust
    /// its CA for the realm too, as with a private-CA Harbor) that signs with `pki`'s
    /// token-signing key.
    pub fn start_https(config: TokenConfig, pki: &TestPki) -> Result<Self> {
        Self::start_with(config, pki, true)
    }

    fn start_with(config: TokenConfig, pki: &TestPki, https: bool) -> Result<Self> {
        if config.lifetime < Duration::from_secs(1) {
            return Err(HarnessError::InvalidSpec(format!(
                "token lifetime {:?} is shorter than one second",
                config.lifetime
            )));
        }
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pki.token_key_pkcs8(),
            &rng,
        )
        .map_err(|_| HarnessError::Signing("loading the PKCS#8 token key"))?;
        let state = Arc::new(RealmState {
            config,
            key,
            rng,
            x5c: STANDARD.encode(pki.token_cert_der()),
            requests: Mutex::new(Vec::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            counter: AtomicU64::new(0),
        });
        let tls = if https {
            Some(Arc::new(pki.rustls_server_config()?))
        } else {
            None
        };
        let handler_state = Arc::clone(&state);
        let server = HttpServer::start(
            Arc::new(move |request: &Request| handler_state.handle(request)),
            tls,
        )
        .map_err(io_context("starting the token realm on 127.0.0.1"))?;
        Ok(Self {
            state,
            server,
            https,
        })
    }

    /// The address the realm listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// The realm URL to configure in the registry (`http(s)://127.0.0.1:PORT/token`).
    pub fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}/token", self.server.addr())
    }

    /// The realm's configuration.
    pub fn config(&self) -> &TokenConfig {
        &self.state.config
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<TokenRequest> {
        self.state.requests().clone()
    }

    /// Forgets the recorded requests (e.g. after a set-up push).
    pub fn clear_requests(&self) {
        self.state.requests().clear();
    }

    /// Signs a token for `subject` granting `access` (`(repository, actions)` pairs), exactly as
    /// the realm would; useful to hand-craft tokens in tests.
    pub fn sign_token(&self, subject: &str, access: &[(String, Vec<String>)]) -> Result<String> {
        self.state.sign(subject, access)
    }
}

#[derive(Debug)]
struct RealmState {
    config: TokenConfig,
    key: EcdsaKeyPair,
    rng: SystemRandom,
    x5c: String,
    requests: Mutex<Vec<TokenRequest>>,
    refresh_tokens: Mutex<HashMap<String, String>>,
    counter: AtomicU64,
}

/// Who is asking, once credentials are checked.
enum Caller {
    Anonymous,
    User(String),
    Rejected(&'static str),
}

impl RealmState {
    fn requests(&self) -> std::sync::MutexGuard<'_, Vec<TokenRequest>> {
        self.requests.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn handle(&self, request: &Request) -> Response {
        let mut record = TokenRequest {
            method: request.method.clone(),
            grant_type: None,
            service: None,
            scopes: Vec::new(),
            username: None,
            basic_auth: false,
            status: 0,
            granted: Vec::new(),
        };
        let response = self.answer(request, &mut record);
        record.status = response.status;
        self.requests().push(record);
        response
    }

    fn answer(&self, request: &Request, record: &mut TokenRequest) -> Response {
        if request.path() != "/token" {
            return error_response(404, "NOT_FOUND", "the realm only serves /token");
        }
        let params = match request.method.as_str() {
            "GET" => request.query_pairs(),
            "POST" => http::parse_form(&String::from_utf8_lossy(&request.body)),
            _ => return error_response(405, "UNSUPPORTED", "use GET or POST"),
        };
        let param = |name: &str| {
            params
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        record.service = param("service");
        record.grant_type = param("grant_type");
        record.scopes = params
            .iter()
            .filter(|(key, _)| key == "scope")
            .flat_map(|(_, value)| value.split(' ').map(str::to_owned).collect::<Vec<_>>())
            .filter(|scope| !scope.is_empty())
            .collect();

        let caller = self.caller(request, record, &param);
        let user = match caller {
            Caller::Rejected(reason) => return error_response(401, "UNAUTHORIZED", reason),
            Caller::Anonymous => None,
            Caller::User(name) => Some(name),
        };
        if record
            .service
            .as_deref()
            .is_some_and(|service| service != self.config.service)
        {
            return error_response(400, "INVALID_SERVICE", "unknown service");
        }

        let access = self.grant(user.as_deref(), &record.scopes);
        record.granted = access
            .iter()
            .filter(|(_, actions)| !actions.is_empty())
            .map(|(name, actions)| format!("repository:{name}:{}", actions.join(",")))
            .collect();
        let Ok(token) = self.sign(user.as_deref().unwrap_or(""), &access) else {
            return error_response(500, "SIGNING", "could not sign the token");
        };
        let mut body = json!({
            "token": token,
            "access_token": token,
            "expires_in": self.config.lifetime.as_secs(),
            "issued_at": rfc3339(now_secs()),
        });
        if record.grant_type.as_deref() == Some("password")
            && let Some(user) = &user
        {
            let refresh = format!(
                "refresh-{}-{}",
                user,
                self.counter.fetch_add(1, Ordering::SeqCst)
            );
            self.refresh_tokens
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(refresh.clone(), user.clone());
            body["refresh_token"] = json!(refresh);
        }
        Response::json(200, &body)
    }

    fn caller(
        &self,
        request: &Request,
        record: &mut TokenRequest,
        param: &dyn Fn(&str) -> Option<String>,
    ) -> Caller {
        let basic = request
            .header("authorization")
            .and_then(|value| {
                value
                    .strip_prefix("Basic ")
                    .or_else(|| value.strip_prefix("basic "))
            })
            .map(|encoded| {
                STANDARD
                    .decode(encoded.trim())
                    .ok()
                    .and_then(|bytes| String::from_utf8(bytes).ok())
                    .and_then(|text| {
                        text.split_once(':')
                            .map(|(user, password)| (user.to_owned(), password.to_owned()))
                    })
            });
        record.basic_auth = basic.is_some();
        let presented = match (basic, record.grant_type.as_deref()) {
            (Some(None), _) => return Caller::Rejected("malformed Basic credentials"),
            (Some(Some(pair)), _) => Some(pair),
            (None, Some("password")) => match (param("username"), param("password")) {
                (Some(user), Some(password)) => Some((user, password)),
                _ => return Caller::Rejected("the password grant needs username and password"),
            },
            (None, Some("refresh_token")) => {
                let owner = param("refresh_token").and_then(|token| {
                    self.refresh_tokens
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .get(&token)
                        .cloned()
                });
                return match owner {
                    Some(user) => {
                        record.username = Some(user.clone());
                        Caller::User(user)
                    }
                    None => Caller::Rejected("unknown refresh token"),
                };
            }
            (None, _) => None,
        };
        let Some((username, password)) = presented else {
            return Caller::Anonymous;
        };
        record.username = Some(username.clone());
        let known = self
            .config
            .users
            .iter()
            .any(|user| user.username == username && user.password == password);
        if known {
            Caller::User(username)
        } else {
            Caller::Rejected("incorrect username or password")
        }
    }

    /// The actions granted per requested repository scope.
    fn grant(&self, user: Option<&str>, scopes: &[String]) -> Vec<(String, Vec<String>)> {
        scopes
            .iter()
            .filter_map(|scope| {
                let (kind, rest) = scope.split_once(':')?;
                let (name, actions) = rest.rsplit_once(':')?;
                if kind != "repository" {
                    return None;
                }
                let requested = actions.split(',').filter(|action| !action.is_empty());
                let granted: Vec<String> = if user.is_some() {
                    requested.map(str::to_owned).collect()
                } else if self
                    .config
                    .public_repositories
                    .iter()
                    .any(|repo| repo == name)
                {
                    requested
                        .filter(|action| *action == "pull")
                        .map(str::to_owned)
                        .collect()
                } else {
                    Vec::new()
                };
                Some((name.to_owned(), granted))
            })
            .collect()
    }

    fn sign(&self, subject: &str, access: &[(String, Vec<String>)]) -> Result<String> {
        let now = now_secs();
        let lifetime = i64::try_from(self.config.lifetime.as_secs()).unwrap_or(i64::MAX / 2);
        let leeway = i64::try_from(DISTRIBUTION_LEEWAY.as_secs()).unwrap_or(0);
        let header = json!({"typ": "JWT", "alg": "ES256", "x5c": [self.x5c]});
        let claims = json!({
            "iss": self.config.issuer,
            "aud": self.config.service,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime - leeway,
            "jti": format!("imgpull-test-{}-{now}", self.counter.fetch_add(1, Ordering::SeqCst)),
            "access": access
                .iter()
                .filter(|(_, actions)| !actions.is_empty())
                .map(|(name, actions)| json!({"type": "repository", "name": name, "actions": actions}))
                .collect::<Vec<_>>(),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .key
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| HarnessError::Signing("signing a JWT"))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

fn error_response(status: u16, code: &str, message: &str) -> Response {
    Response::json(
        status,
        &json!({"errors": [{"code": code, "message": message}], "details": message}),
    )
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|elapsed| i64::try_from(elapsed.as_secs()).ok())
        .unwrap_or(0)
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp (`2024-01-02T03:04:05Z`).
pub(crate) fn rfc3339(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs_of_day = unix_secs.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), after Howard Hinnant's algorithm.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;

    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    use serde_json::Value;

    use super::{TokenConfig, TokenRealm, rfc3339};
    use crate::pki::TestPki;

    /// Sends one raw HTTP/1.1 request and returns the status and the JSON body.
    fn send(addr: SocketAddr, head: &str, body: &str) -> (u16, Value) {
        let mut stream = TcpStream::connect(addr).expect("connect to the realm");
        let request = format!(
            "{head}\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("receive");
        let status = response[9..12].parse().expect("status code");
        let (_, json) = response.split_once("\r\n\r\n").expect("head and body");
        (status, serde_json::from_str(json).expect("JSON body"))
    }

    fn decode_jwt(token: &str) -> (Value, Value) {
        let mut parts = token.split('.');
        let mut decode = || -> Value {
            let part = parts.next().expect("JWT part");
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).expect("base64url")).expect("JSON")
        };
        (decode(), decode())
    }

    #[test]
    fn grants_tokens_by_credentials_and_public_repositories() {
        let pki = TestPki::generate().expect("pki");
        let realm = TokenRealm::start(
            TokenConfig::new()
                .user("dave", "pw")
                .public_repository("pub/app")
                .lifetime(Duration::from_secs(120)),
            &pki,
        )
        .expect("realm starts");
        let basic = STANDARD.encode("dave:pw");
        let query = "service=imgpull-test-registry&scope=repository%3Apriv%2Fapp%3Apull%2Cpush";

        let (status, body) = send(
            realm.addr(),
            &format!("GET /token?{query} HTTP/1.1\r\nAuthorization: Basic {basic}"),
            "",
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["expires_in"], 120);
        let (header, claims) = decode_jwt(body["token"].as_str().expect("token"));
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["x5c"][0], STANDARD.encode(pki.token_cert_der()));
        assert_eq!(claims["sub"], "dave");
        assert_eq!(claims["aud"], "imgpull-test-registry");
        assert_eq!(claims["iss"], "imgpull-test-realm");
        let issued = claims["iat"].as_i64().expect("iat");
        assert_eq!(claims["exp"].as_i64(), Some(issued + 120 - 60));
        assert_eq!(
            claims["access"],
            serde_json::json!([{"type": "repository", "name": "priv/app", "actions": ["pull", "push"]}])
        );

        // Anonymous: pull only, and only on the public repository.
        let (status, body) = send(
            realm.addr(),
            "GET /token?service=imgpull-test-registry&scope=repository:pub/app:pull,push&scope=repository:priv/app:pull HTTP/1.1",
            "",
        );
        assert_eq!(status, 200);
        let (_, anonymous) = decode_jwt(body["token"].as_str().expect("token"));
        assert_eq!(
            anonymous["access"],
            serde_json::json!([{"type": "repository", "name": "pub/app", "actions": ["pull"]}])
        );

        let wrong = STANDARD.encode("dave:nope");
        let (status, _) = send(
            realm.addr(),
            &format!("GET /token?{query} HTTP/1.1\r\nAuthorization: Basic {wrong}"),
            "",
        );
        assert_eq!(status, 401);

        // The OAuth2 form: a password grant returns a refresh token that works once more.
        let (status, body) = send(
            realm.addr(),
            "POST /token HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded",
            "grant_type=password&username=dave&password=pw&service=imgpull-test-registry&scope=repository%3Apriv%2Fapp%3Apull&client_id=imgpull",
        );
        assert_eq!(status, 200, "{body}");
        let refresh = body["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_owned();
        let (status, body) = send(
            realm.addr(),
            "POST /token HTTP/1.1",
            &format!(
                "grant_type=refresh_token&refresh_token={refresh}&service=imgpull-test-registry&scope=repository%3Apriv%2Fapp%3Apull"
            ),
        );
        assert_eq!(status, 200, "{body}");
        assert_eq!(
            decode_jwt(body["access_token"].as_str().expect("token")).1["sub"],
            "dave"
        );

        let requests = realm.requests();
        let summary: Vec<(&str, Option<&str>, u16)> = requests
            .iter()
            .map(|request| {
                (
                    request.method.as_str(),
                    request.username.as_deref(),
                    request.status,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("GET", Some("dave"), 200),
                ("GET", None, 200),
                ("GET", Some("dave"), 401),
                ("POST", Some("dave"), 200),
                ("POST", Some("dave"), 200),
            ]
        );
        assert_eq!(
            requests[1].scopes,
            ["repository:pub/app:pull,push", "repository:priv/app:pull"]
        );
        assert_eq!(requests[1].granted, ["repository:pub/app:pull"]);
        realm.clear_requests();
        assert!(realm.requests().is_empty());
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
