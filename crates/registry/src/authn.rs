//! Attaching credentials to registry requests: Basic headers, bearer tokens fetched from
//! the challenge's realm and cached per (registry, scopes), and the single re-authentication
//! allowed after a refusal. The protocol decisions themselves live in `imgpull-auth`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use imgpull_auth::{
    AuthError, BearerChallenge, Challenge, Credential, Keychain, Scheme, Scope, Secret, TokenCache,
    TokenMethod, TokenRequest,
};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Response};
use tokio::sync::OnceCell;

use crate::body::read_capped;
use crate::client::{Client, Ping, Request, same_origin};
use crate::error::RegistryError;

/// The OAuth2 `client_id` sent with token `POST` requests.
const CLIENT_ID: &str = "imgpull";

/// Which bearer tokens a request may use.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TokenUse<'a> {
    /// A fresh cached token, else a new one.
    Cached,
    /// Anything but the token in this refused `Authorization` header.
    Replacing(Option<&'a HeaderValue>),
    /// Only a token fetched now (checking credentials).
    Fresh,
}

impl TokenUse<'_> {
    /// Whether a cached token (found after waiting for the token lock) may be used.
    fn accepts(self, token: &Secret) -> bool {
        match self {
            Self::Cached => true,
            Self::Replacing(refused) => refused.is_none_or(|refused| {
                imgpull_auth::bearer_authorization(token)
                    .expose()
                    .as_bytes()
                    != refused.as_bytes()
            }),
            Self::Fresh => false,
        }
    }
}

/// Credentials and tokens shared by every request of a client.
#[derive(Debug)]
pub(crate) struct AuthState {
    keychain: Keychain,
    tokens: TokenCache,
    /// The credential per registry host, looked up once (single-flight: concurrent requests
    /// wait for the one lookup, so a credential helper runs once per host).
    credentials: Mutex<HashMap<String, HostCredential>>,
    /// Scopes a registry asked for with `insufficient_scope`, per (registry, repository),
    /// so that later requests ask for them at once instead of being refused again.
    learned_scopes: Mutex<HashMap<(String, String), Vec<Scope>>>,
    token_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A registry host's credential and the headers built from it.
#[derive(Debug, Default)]
struct HostCredential {
    /// The credential, or its lookup under way.
    cell: Arc<OnceCell<Credential>>,
    /// How many times the host's credential was forgotten: a refusal forgets only the
    /// generation it was sent with.
    generation: u64,
    /// The `Authorization` headers built from this generation's credential (Basic, or
    /// bearer tokens obtained with it; a few per pull).
    issued: HashSet<HeaderValue>,
}

/// The challenges of a response's `WWW-Authenticate` headers.
pub(crate) fn challenges_of(
    headers: &HeaderMap,
    registry: &str,
) -> Result<Vec<Challenge>, RegistryError> {
    let values: Vec<&str> = headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    imgpull_auth::parse_challenges(values).map_err(|source| auth_error(registry, source))
}

/// The challenge to answer: `Bearer` when offered, else `Basic`.
pub(crate) fn preferred_challenge(challenges: Vec<Challenge>) -> Option<Challenge> {
    let mut basic = None;
    for challenge in challenges {
        match challenge.scheme {
            Scheme::Bearer => return Some(challenge),
            Scheme::Basic => {
                basic.get_or_insert(challenge);
            }
            Scheme::Other(_) => {}
        }
    }
    basic
}

fn auth_error(registry: &str, source: AuthError) -> RegistryError {
    RegistryError::AuthProtocol {
        registry: registry.to_owned(),
        source,
    }
}

/// An `Authorization` header value that the HTTP client keeps out of its debug output.
fn header_value(registry: &str, secret: &Secret) -> Result<HeaderValue, RegistryError> {
    let mut value = HeaderValue::from_str(secret.expose()).map_err(|_| RegistryError::Auth {
        registry: registry.to_owned(),
        reason: "the credential contains characters not allowed in an HTTP header".to_owned(),
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// A bearer challenge without the scopes it names: scopes are tracked per request, so a
/// scope learnt from one repository's 401 is never asked for on behalf of another.
fn bearer_of(registry: &str, challenge: &Challenge) -> Result<BearerChallenge, RegistryError> {
    let mut bearer =
        BearerChallenge::from_challenge(challenge).map_err(|e| auth_error(registry, e))?;
    bearer.scopes.clear();
    Ok(bearer)
}

impl AuthState {
    pub(crate) fn new(keychain: Keychain) -> Self {
        Self {
            keychain,
            tokens: TokenCache::new(),
            credentials: Mutex::new(HashMap::new()),
            learned_scopes: Mutex::new(HashMap::new()),
            token_locks: Mutex::new(HashMap::new()),
        }
    }

    /// The credential for a registry host, looked up once per client however many requests
    /// ask at the same time (a credential helper is a process to start, and may prompt), off
    /// the async threads. A failed lookup is not kept: the next request tries again. Returns
    /// the credential's generation too, for [`AuthState::note_issued`].
    async fn credential(&self, registry: &str) -> Result<(Credential, u64), RegistryError> {
        let (cell, generation) = {
            let mut credentials = self
                .credentials
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let host = credentials.entry(registry.to_owned()).or_default();
            (host.cell.clone(), host.generation)
        };
        let credential = cell.get_or_try_init(|| async {
            let keychain = self.keychain.clone();
            let host = registry.to_owned();
            tokio::task::spawn_blocking(move || keychain.resolve(&host))
                .await
                .map_err(|e| RegistryError::Auth {
                    registry: registry.to_owned(),
                    reason: format!("the credential lookup did not finish: {e}"),
                })?
                .map_err(|e| auth_error(registry, e))
        });
        Ok((credential.await?.clone(), generation))
    }

    /// Remembers that `header` was built from the credential of `generation`, if that is
    /// still the host's current one: a refusal of it may then forget that credential.
    fn note_issued(&self, registry: &str, generation: u64, header: &HeaderValue) {
        let mut credentials = self
            .credentials
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(host) = credentials.get_mut(registry)
            && host.generation == generation
        {
            host.issued.insert(header.clone());
        }
    }

    /// The scopes to ask for when accessing `repository` on `registry`: `pull`, plus any
    /// the registry asked for before.
    pub(crate) fn scopes_for(&self, registry: &str, repository: Option<&str>) -> Vec<Scope> {
        let Some(repository) = repository else {
            return Vec::new();
        };
        self.learned_scopes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(registry.to_owned(), repository.to_owned()))
            .cloned()
            .unwrap_or_else(|| vec![Scope::pull(repository)])
    }

    /// Whether requests to `registry` carry the user's credentials (not anonymous access).
    pub(crate) fn uses_credentials(&self, registry: &str) -> bool {
        self.credentials
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(registry)
            .and_then(|host| host.cell.get())
            .is_some_and(|credential| !credential.is_anonymous())
    }

    /// Forgets the credential of `registry` after the registry refused it as expired (ECR's
    /// 403 to the `refused` header), so that it is looked up again; only when `refused` was
    /// built from the current generation's credential, and that lookup is done: requests
    /// refused together (with a header of an older generation, or while the new lookup is
    /// under way) share one new lookup, whatever the kind of credential.
    fn forget_credential(&self, registry: &str, refused: Option<&HeaderValue>) {
        let mut credentials = self
            .credentials
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(host) = credentials.get_mut(registry) else {
            return;
        };
        let current = refused.is_some_and(|refused| host.issued.contains(refused));
        if current && host.cell.initialized() {
            *host = HostCredential {
                generation: host.generation.saturating_add(1),
                ..HostCredential::default()
            };
        }
    }

    /// The `Authorization` header for a request to `ping`'s endpoint with `scopes`, from
    /// what the endpoint's challenge asks for; `None` for anonymous access.
    pub(crate) async fn authorization(
        &self,
        client: &Client,
        ping: &Ping,
        scopes: &[Scope],
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let Some(challenge) = ping.challenge() else {
            return Ok(None);
        };
        self.answer(client, ping, &challenge, scopes, TokenUse::Cached)
            .await
    }

    /// The `Authorization` header answering `challenge` with the registry's credential.
    pub(crate) async fn answer(
        &self,
        client: &Client,
        ping: &Ping,
        challenge: &Challenge,
        scopes: &[Scope],
        token_use: TokenUse<'_>,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let registry = ping.host.as_str();
        let (credential, generation) = self.credential(registry).await?;
        let secret = match challenge.scheme {
            Scheme::Basic => imgpull_auth::basic_authorization(&credential),
            Scheme::Bearer => {
                if let Credential::RegistryToken(token) = &credential {
                    Some(imgpull_auth::bearer_authorization(token))
                } else {
                    let bearer = bearer_of(registry, challenge)?;
                    let token = self
                        .token(client, registry, &bearer, scopes, &credential, token_use)
                        .await?;
                    Some(imgpull_auth::bearer_authorization(&token))
                }
            }
            Scheme::Other(_) => None,
        };
        let Some(secret) = secret else {
            return Ok(None);
        };
        let header = header_value(registry, &secret)?;
        self.note_issued(registry, generation, &header);
        Ok(Some(header))
    }

    /// A token for (registry, scopes), from the cache or the realm as `token_use` says.
    /// Concurrent requests for the same key wait for one token request, and requests whose
    /// token was refused at the same time share the one replacement.
    async fn token(
        &self,
        client: &Client,
        registry: &str,
        bearer: &BearerChallenge,
        scopes: &[Scope],
        credential: &Credential,
        token_use: TokenUse<'_>,
    ) -> Result<Secret, RegistryError> {
        if matches!(token_use, TokenUse::Cached)
            && let Some(token) = self.tokens.get(registry, scopes, SystemTime::now())
        {
            return Ok(token.value);
        }
        let lock = {
            // Sorted like the token cache's keys, so equal scope sets share one lock.
            let key = format!(
                "{registry} {}",
                imgpull_auth::merge_scopes(scopes, &[])
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            self.token_locks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(key)
                .or_default()
                .clone()
        };
        let _guard = lock.lock().await;
        if let Some(token) = self.tokens.get(registry, scopes, SystemTime::now())
            && token_use.accepts(&token.value)
        {
            return Ok(token.value);
        }
        let request = imgpull_auth::token_request(bearer, scopes, credential, CLIENT_ID);
        refuse_cleartext_credentials(client, registry, &request)?;
        let body = match self.fetch_token(client, &request).await {
            // A realm without the GET form answers 404 or 405: use the OAuth2 POST form.
            Err(error)
                if request.method == TokenMethod::Get
                    && matches!(credential, Credential::Basic { .. })
                    && matches!(error.status(), Some(404 | 405)) =>
            {
                let oauth =
                    imgpull_auth::token_request_oauth2(bearer, scopes, credential, CLIENT_ID);
                refuse_cleartext_credentials(client, registry, &oauth)?;
                self.fetch_token(client, &oauth).await?
            }
            other => other?,
        };
        let token = imgpull_auth::parse_token_response(&body, SystemTime::now())
            .map_err(|e| auth_error(registry, e))?;
        let value = token.value.clone();
        self.tokens.insert(registry, scopes, token);
        Ok(value)
    }

    /// Sends a token request (redirects followed, credentials kept to the realm's origin:
    /// see `Client::send_token_request`) and reads its body up to the auth crate's cap.
    async fn fetch_token(
        &self,
        client: &Client,
        request: &TokenRequest,
    ) -> Result<Vec<u8>, RegistryError> {
        let method = match request.method {
            TokenMethod::Get => Method::GET,
            TokenMethod::Post => Method::POST,
        };
        let host = crate::client::host_port(&request.url);
        let mut headers = HeaderMap::new();
        if let Some(basic) = &request.basic_auth {
            headers.insert(header::AUTHORIZATION, header_value(&host, basic)?);
        }
        let body = request.form_body();
        if body.is_some() {
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(imgpull_auth::FORM_CONTENT_TYPE),
            );
        }
        let (method, headers, body) = (&method, &headers, body.as_ref());
        let authenticated = request.basic_auth.is_some() || body.is_some();
        let policy = client.inner.retry;
        client
            .with_retries_for(method, &policy, move || async move {
                let response = client
                    .send_token_request(
                        method,
                        &request.url,
                        headers.clone(),
                        body.map(|b| b.expose().to_owned()),
                    )
                    .await?;
                if !response.status().is_success() {
                    return Err(client
                        .status_error(method, &request.url, None, response, authenticated)
                        .await);
                }
                read_capped(response, imgpull_auth::MAX_TOKEN_RESPONSE_BYTES).await
            })
            .await
            .map_err(|error| RegistryError::TokenRequest(Box::new(error)))
    }

    /// After the registry's own refusal (`response`: a 401, or ECR's 403, see
    /// [`imgpull_auth::should_reauthenticate`]), learns its challenge and returns a new
    /// `Authorization` header, or `None` when sending the request again could not change the
    /// answer (e.g. a rejected password). Never call it with a redirect target's answer: its
    /// challenge would steer the credentials to another realm.
    pub(crate) async fn reauthorize(
        &self,
        client: &Client,
        ping: &Ping,
        repository: Option<&str>,
        scopes: &mut Vec<Scope>,
        response: &Response,
        previous: Option<&HeaderValue>,
    ) -> Result<Option<HeaderValue>, RegistryError> {
        let registry = ping.host.as_str();
        let expired = response.status().as_u16() == 403;
        if expired {
            // ECR: the credential (a 12-hour token from a helper) expired; look it up again.
            self.forget_credential(registry, previous);
            self.tokens.invalidate_registry(registry);
        }
        if let Some(challenge) = preferred_challenge(challenges_of(response.headers(), registry)?) {
            if challenge.scheme == Scheme::Bearer {
                let bearer = BearerChallenge::from_challenge(&challenge)
                    .map_err(|e| auth_error(registry, e))?;
                let merged = imgpull_auth::scopes_after_challenge(scopes, &bearer);
                if let (Some(repository), true) = (repository, merged != *scopes) {
                    self.learned_scopes
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert((registry.to_owned(), repository.to_owned()), merged.clone());
                }
                *scopes = merged;
            }
            ping.set_challenge(challenge);
        }
        let Some(challenge) = ping.challenge() else {
            return Ok(None);
        };
        let renewed = self
            .answer(
                client,
                ping,
                &challenge,
                scopes,
                TokenUse::Replacing(previous),
            )
            .await?;
        // Basic credentials that were already refused would be refused again.
        if challenge.scheme == Scheme::Basic && !expired && renewed.as_ref() == previous {
            return Ok(None);
        }
        Ok(renewed)
    }
}

impl Client {
    /// Checks that the keychain's credential for `registry` (`docker.io`, `ghcr.io`,
    /// `localhost:5000`) is accepted, as `docker login` does before storing it: `/v2/` is
    /// requested with Basic credentials, or with a fresh bearer token obtained from the
    /// realm with them. A registry without authentication accepts anything.
    ///
    /// Fails with [`crate::ErrorKind::Auth`] when there is no credential or it is refused. A
    /// 401 or 403 from a redirect target on another origin, which never saw the credentials,
    /// is [`RegistryError::RedirectRefused`] instead, as for any other request.
    pub async fn check_credentials(&self, registry: &str) -> Result<(), RegistryError> {
        let registry = crate::builder::normalize_registry(registry);
        let api_host = if registry == imgpull_reference::DOCKER_HUB {
            imgpull_reference::DOCKER_HUB_API_HOST
        } else {
            registry.as_str()
        };
        let endpoint = self.registry_endpoint(&registry, api_host);
        let ping = self.ping(&endpoint).await?;
        let (credential, _) = self.inner.auth.credential(&ping.host).await?;
        if credential.is_anonymous() {
            return Err(RegistryError::Auth {
                registry,
                reason: "no credentials are configured for this registry".to_owned(),
            });
        }
        let Some(challenge) = ping.challenge() else {
            return Ok(());
        };
        let request = Request {
            method: Method::GET,
            url: ping.url("/v2/")?,
            headers: HeaderMap::new(),
            repository: None,
        };
        let (ping, challenge, request) = (&ping, &challenge, &request);
        let policy = self.inner.retry;
        self.with_retries(&policy, move || async move {
            let authorization = self
                .inner
                .auth
                .answer(self, ping, challenge, &[], TokenUse::Fresh)
                .await?;
            let response = self
                .send_once(
                    ping,
                    &request.method,
                    request.url.clone(),
                    &request.headers,
                    authorization.as_ref(),
                )
                .await?;
            if response.status().is_success() {
                return Ok(());
            }
            if !same_origin(response.url(), &ping.base) {
                return Err(self.redirect_target_error(ping, request, response).await);
            }
            Err(self
                .status_error(&request.method, &request.url, None, response, true)
                .await)
        })
        .await
    }
}

/// Refuses to send credentials (Basic auth or an OAuth2 form) to a plain-http token realm,
/// unless the realm is on a loopback address or the realm or registry was named insecure:
/// an https registry naming an http realm must not get the password sent in cleartext.
fn refuse_cleartext_credentials(
    client: &Client,
    registry: &str,
    request: &TokenRequest,
) -> Result<(), RegistryError> {
    let carries_credentials = request.basic_auth.is_some() || request.form.is_some();
    if !carries_credentials || request.url.scheme() != "http" {
        return Ok(());
    }
    let realm_host = crate::client::host_port(&request.url);
    let allowed = client.is_local(&realm_host)
        || client.is_named_insecure(&realm_host)
        || client.is_named_insecure(registry);
    if allowed {
        return Ok(());
    }
    Err(RegistryError::Auth {
        registry: registry.to_owned(),
        reason: format!(
            "its token realm {} is plain http; refusing to send credentials in cleartext \
             (name the host with --insecure-registry {realm_host} to allow it)",
            crate::redact::redact_url(&request.url)
        ),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn challenges(header: &str) -> Vec<Challenge> {
        imgpull_auth::parse_challenges([header]).unwrap()
    }

    #[test]
    fn bearer_is_preferred_over_basic_and_unknown_schemes_ignored() {
        let chosen = preferred_challenge(challenges(
            r#"Basic realm="r", Bearer realm="https://a/token""#,
        ))
        .unwrap();
        assert_eq!(chosen.scheme, Scheme::Bearer);
        let chosen = preferred_challenge(challenges(r#"Negotiate abc, Basic realm="r""#)).unwrap();
        assert_eq!(chosen.scheme, Scheme::Basic);
        assert!(preferred_challenge(challenges("Negotiate abc")).is_none());
    }

    #[test]
    fn bearer_scopes_from_a_challenge_are_not_kept() {
        let challenge = &challenges(
            r#"Bearer realm="https://a/token",service="s",scope="repository:x/y:pull""#,
        )[0];
        let bearer = bearer_of("h", challenge).unwrap();
        assert!(bearer.scopes.is_empty());
        assert_eq!(bearer.service.as_deref(), Some("s"));
        let file_realm = &challenges(r#"Bearer realm="file:///etc/passwd""#)[0];
        assert!(matches!(
            bearer_of("h", file_realm),
            Err(RegistryError::AuthProtocol { .. })
        ));
    }

    #[test]
    fn token_use_decides_which_cached_tokens_are_acceptable() {
        let token = Secret::new("t1");
        let same = HeaderValue::from_static("Bearer t1");
        let other = HeaderValue::from_static("Bearer t0");
        assert!(TokenUse::Cached.accepts(&token));
        assert!(!TokenUse::Fresh.accepts(&token));
        assert!(!TokenUse::Replacing(Some(&same)).accepts(&token));
        assert!(TokenUse::Replacing(Some(&other)).accepts(&token));
        assert!(TokenUse::Replacing(None).accepts(&token));
    }

    /// The credential known for `h` (`None` while it is looked up), and its generation.
    fn known(auth: &AuthState) -> (Option<Credential>, u64) {
        let credentials = auth.credentials.lock().unwrap();
        let host = &credentials["h"];
        (host.cell.get().cloned(), host.generation)
    }

    #[tokio::test]
    async fn an_expired_credential_is_forgotten_once_by_requests_refused_together() {
        let (old, new) = (Credential::basic("u", "old"), Credential::basic("u", "new"));
        let header = |credential: &Credential| {
            header_value("h", &imgpull_auth::basic_authorization(credential).unwrap()).unwrap()
        };
        let auth = AuthState::new(Keychain::new().with_explicit("h", new.clone()));
        auth.credentials.lock().unwrap().insert(
            "h".into(),
            HostCredential {
                cell: Arc::new(OnceCell::new_with(Some(old.clone()))),
                generation: 0,
                issued: HashSet::from([header(&old)]),
            },
        );
        // The first request refused with the old credential forgets it …
        auth.forget_credential("h", Some(&header(&old)));
        assert_eq!(known(&auth), (None, 1));
        // … a request refused at the same time keeps the lookup under way …
        auth.forget_credential("h", Some(&header(&old)));
        assert_eq!(known(&auth), (None, 1));
        // … and the credential it found, once a header was built from it.
        assert_eq!(auth.credential("h").await.unwrap(), (new.clone(), 1));
        auth.note_issued("h", 1, &header(&new));
        auth.forget_credential("h", Some(&header(&old)));
        assert_eq!(known(&auth), (Some(new.clone()), 1));
        // Refused itself, it is forgotten too; a header of its generation built late is not
        // taken for one of the next.
        auth.forget_credential("h", Some(&header(&new)));
        assert_eq!(known(&auth), (None, 2));
        assert_eq!(auth.credential("h").await.unwrap(), (new.clone(), 2));
        auth.note_issued("h", 1, &header(&new));
        auth.forget_credential("h", Some(&header(&new)));
        assert_eq!(known(&auth), (Some(new), 2));
    }

    /// Many requests refused at once with bearer tokens obtained from an identity token (not a
    /// Basic credential, so no header bytes to compare with it) run the helper once more, not
    /// once per refusal, even when some refusals arrive after the new lookup finished.
    #[cfg(unix)]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn refusals_of_an_identity_token_run_the_credential_helper_once() {
        use std::os::unix::fs::PermissionsExt as _;

        let dir = tempfile::tempdir().unwrap();
        let program = dir.path().join("docker-credential-counting");
        std::fs::write(
            &program,
            "#!/bin/sh\necho \"$1\" >> \"$(dirname \"$0\")/calls\"\nsleep 0.2\n\
             printf '{\"ServerURL\":\"h\",\"Username\":\"<token>\",\"Secret\":\"refresh\"}'\n",
        )
        .unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(&config, r#"{"credsStore":"counting"}"#).unwrap();
        let auth = Arc::new(AuthState::new(
            Keychain::new()
                .with_docker_config(&config)
                .with_helper_search_path(dir.path()),
        ));
        let calls = || std::fs::read_to_string(dir.path().join("calls")).unwrap();

        let (credential, generation) = auth.credential("h").await.unwrap();
        assert!(matches!(credential, Credential::IdentityToken(_)));
        let refused = HeaderValue::from_static("Bearer from-the-expired-credential");
        auth.note_issued("h", generation, &refused);
        let mut requests = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (auth, refused) = (auth.clone(), refused.clone());
            requests.spawn(async move {
                auth.forget_credential("h", Some(&refused));
                let renewed = auth.credential("h").await.unwrap();
                // A refusal of the old token that arrives after the new lookup.
                auth.forget_credential("h", Some(&refused));
                renewed
            });
        }
        while let Some(renewed) = requests.join_next().await {
            assert_eq!(renewed.unwrap(), (credential.clone(), generation + 1));
        }
        assert_eq!(calls(), "get\nget\n");
        assert_eq!(known(&auth), (Some(credential), generation + 1));
    }

    #[test]
    fn header_values_are_sensitive() {
        let value = header_value("h", &Secret::new("Bearer abc")).unwrap();
        assert!(value.is_sensitive());
        assert!(header_value("h", &Secret::new("bad\nvalue")).is_err());
    }
}
