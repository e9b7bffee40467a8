//! The [`Client`] and its request engine: endpoints (mirrors, scheme), the `/v2/` ping,
//! manual redirects that never carry credentials to another origin, and retries.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use imgpull_auth::{Challenge, Keychain};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, Response};
use tokio::sync::OnceCell;
use url::Url;

use crate::authn::AuthState;
use crate::error::{RegistryError, Retry, StatusError, parse_error_body};
use crate::redact::redact_url;
use crate::retry::{RetryPolicy, parse_retry_after};

/// How many redirects one request follows.
const MAX_REDIRECTS: usize = 10;

/// How much of an error response's body is read to find the registry's error entries.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// A registry client, cheap to clone and shared by every concurrent request of a pull:
/// one connection pool, one ping per registry, one token cache.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

/// Two HTTP clients with one TLS configuration: one that goes through the environment's
/// proxy (`HTTPS_PROXY`, …) and one that never does, for this machine's hosts. As Go's
/// `ProxyFromEnvironment` does, loopback hosts are never proxied: a proxy cannot reach the
/// user's own registry, and would see its plain-http credentials.
#[derive(Debug)]
pub(crate) struct HttpClients {
    pub proxied: reqwest::Client,
    pub direct: reqwest::Client,
}

/// The validated options handed from the builder to the client.
pub(crate) struct Settings {
    pub http: HttpClients,
    pub insecure_http: Option<HttpClients>,
    pub insecure: HashSet<String>,
    pub mirrors: HashMap<String, Vec<Url>>,
    /// Host names pinned to an address ([`crate::ClientBuilder::resolve`]), lowercase.
    pub pinned: HashMap<String, IpAddr>,
    pub retry: RetryPolicy,
    pub keychain: Keychain,
}

/// The shared state behind a [`Client`].
#[derive(Debug)]
pub(crate) struct Inner {
    http: HttpClients,
    insecure_http: Option<HttpClients>,
    insecure: HashSet<String>,
    mirrors: HashMap<String, Vec<Url>>,
    pinned: HashMap<String, IpAddr>,
    pub(crate) retry: RetryPolicy,
    pub(crate) auth: AuthState,
    pings: Mutex<HashMap<String, Arc<OnceCell<Arc<Ping>>>>>,
    /// Mirrors whose ping failed (by base URL) and origins (`scheme://host:port`) of mirrors
    /// and foreign URLs that could not be connected to: skipped from then on.
    unreachable: Mutex<HashSet<String>>,
}

/// One place a repository's requests can go: a mirror or the registry itself.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// `host[:port]` that credentials, tokens and the `Authorization` header belong to.
    pub host: String,
    /// Base URLs to try in order when pinging (scheme fallbacks).
    candidates: Vec<Url>,
    /// Whether this endpoint is a mirror (failures fall through to the next endpoint).
    pub mirror: bool,
    /// Whether TLS verification is off for this endpoint.
    insecure: bool,
}

impl Endpoint {
    /// The first base URL to try.
    pub(crate) fn first_candidate(&self) -> Option<&Url> {
        self.candidates.first()
    }

    fn key(&self) -> String {
        self.candidates
            .first()
            .map_or_else(|| self.host.clone(), |url| url.as_str().to_owned())
    }
}

/// The result of pinging an endpoint: the base URL that answered and how it authenticates.
#[derive(Debug)]
pub(crate) struct Ping {
    /// The base URL (scheme, host, port, optional mirror path prefix).
    pub base: Url,
    /// The endpoint's `host[:port]`.
    pub host: String,
    /// Whether requests to this base skip TLS verification.
    insecure: bool,
    /// Whether a redirect from https may go to plain http at all (then only to this machine
    /// or a host named insecure): always for a registry or mirror; for a foreign layer URL
    /// only when the registry itself may be spoken to over plain http.
    plain_http: bool,
    /// The challenge of the endpoint, learnt from the ping or a later 401.
    challenge: Mutex<Option<Challenge>>,
}

impl Ping {
    /// The challenge currently known for this endpoint.
    pub fn challenge(&self) -> Option<Challenge> {
        self.challenge
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Records a challenge learnt from a 401.
    pub fn set_challenge(&self, challenge: Challenge) {
        *self
            .challenge
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(challenge);
    }

    /// Builds the URL of an API path (`/v2/...`) under this base.
    pub fn url(&self, path: &str) -> Result<Url, RegistryError> {
        let text = format!("{}{path}", self.base.as_str().trim_end_matches('/'));
        Url::parse(&text).map_err(|e| RegistryError::InvalidUrl {
            url: crate::redact::redact_url_str(&text),
            reason: e.to_string(),
        })
    }
}

/// What one registry request is: method, where, headers, and the repository it is about.
#[derive(Debug, Clone)]
pub(crate) struct Request<'a> {
    pub method: Method,
    pub url: Url,
    pub headers: HeaderMap,
    pub repository: Option<&'a str>,
}

impl Client {
    pub(crate) fn from_settings(settings: Settings) -> Self {
        Self {
            inner: Arc::new(Inner {
                http: settings.http,
                insecure_http: settings.insecure_http,
                insecure: settings.insecure,
                mirrors: settings.mirrors,
                pinned: settings.pinned,
                retry: settings.retry,
                auth: AuthState::new(settings.keychain),
                pings: Mutex::new(HashMap::new()),
                unreachable: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// A client with every default option (see [`crate::ClientBuilder::new`]).
    pub fn new() -> Result<Self, RegistryError> {
        crate::ClientBuilder::new().build()
    }

    /// The retry policy in force.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// The endpoints to try for a registry, in order: its mirrors, then the registry.
    pub(crate) fn endpoints(&self, registry: &str, api_host: &str) -> Vec<Endpoint> {
        let mut endpoints: Vec<Endpoint> = self
            .inner
            .mirrors
            .get(registry)
            .into_iter()
            .flatten()
            .filter(|base| !self.mirror_unreachable(base))
            .map(|base| {
                let host = host_port(base);
                Endpoint {
                    insecure: self.inner.insecure.contains(&host),
                    host,
                    candidates: vec![base.clone()],
                    mirror: true,
                }
            })
            .collect();
        endpoints.push(self.registry_endpoint(registry, api_host));
        endpoints
    }

    /// Whether `host` (`HOST[:PORT]`) is this machine, so that plain HTTP to it stays on
    /// the machine: a loopback name or address ([`is_loopback`]) that is not pinned
    /// ([`crate::ClientBuilder::resolve`]) to an address elsewhere.
    pub(crate) fn is_local(&self, host: &str) -> bool {
        is_local(host, &self.inner.pinned)
    }

    /// Whether the user named `host` (`HOST[:PORT]`) an insecure registry.
    pub(crate) fn is_named_insecure(&self, host: &str) -> bool {
        self.inner.insecure.contains(host)
    }

    /// The registry itself: https, plus plain http for loopback hosts and registries named
    /// insecure (whose https is tried without verification first).
    pub(crate) fn registry_endpoint(&self, registry: &str, api_host: &str) -> Endpoint {
        let insecure =
            self.inner.insecure.contains(registry) || self.inner.insecure.contains(api_host);
        let mut candidates = Vec::with_capacity(2);
        for scheme in ["https", "http"] {
            if scheme == "http" && !insecure && !self.is_local(api_host) {
                break;
            }
            if let Ok(url) = Url::parse(&format!("{scheme}://{api_host}/")) {
                candidates.push(url);
            }
        }
        Endpoint {
            host: api_host.to_owned(),
            candidates,
            mirror: false,
            insecure,
        }
    }

    /// Pings an endpoint once per client (`GET /v2/`): decides the scheme and learns the
    /// auth challenge. Mirrors get one attempt and are skipped from then on if it fails.
    pub(crate) async fn ping(&self, endpoint: &Endpoint) -> Result<Arc<Ping>, RegistryError> {
        let key = endpoint.key();
        let cell = {
            let mut pings = self
                .inner
                .pings
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pings.entry(key.clone()).or_default().clone()
        };
        let result = cell
            .get_or_try_init(|| self.ping_candidates(endpoint))
            .await
            .cloned();
        if result.is_err() && endpoint.mirror {
            self.mark_unreachable(key);
        }
        result
    }

    /// Remembers a mirror (by base URL) or an origin (`scheme://host:port`) that failed, so
    /// that later blobs skip it.
    pub(crate) fn mark_unreachable(&self, key: String) {
        self.inner
            .unreachable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key);
    }

    /// Whether [`Self::mark_unreachable`] recorded `key`.
    fn is_unreachable(&self, key: &str) -> bool {
        self.inner
            .unreachable
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(key)
    }

    /// Whether the mirror at `base` is skipped: its ping failed, or its host could not be
    /// connected to.
    pub(crate) fn mirror_unreachable(&self, base: &Url) -> bool {
        self.is_unreachable(base.as_str()) || self.is_unreachable_origin(base)
    }

    /// Whether `url`'s origin (`scheme://host:port`) could not be connected to before.
    pub(crate) fn is_unreachable_origin(&self, url: &Url) -> bool {
        self.is_unreachable(&url.origin().ascii_serialization())
    }

    async fn ping_candidates(&self, endpoint: &Endpoint) -> Result<Arc<Ping>, RegistryError> {
        let mut first_error = None;
        let last = endpoint.candidates.len().saturating_sub(1);
        for (index, base) in endpoint.candidates.iter().enumerate() {
            let ping = Ping {
                base: base.clone(),
                host: endpoint.host.clone(),
                insecure: endpoint.insecure,
                plain_http: true,
                challenge: Mutex::new(None),
            };
            let url = ping.url("/v2/")?;
            // Fallback candidates and mirrors get one attempt; the last candidate of the
            // registry itself gets the full retry policy.
            let retry = if index == last && !endpoint.mirror {
                self.inner.retry
            } else {
                RetryPolicy::none()
            };
            let outcome = self
                .with_retries(&retry, || async {
                    let response = self
                        .send_once(&ping, &Method::GET, url.clone(), &HeaderMap::new(), None)
                        .await?;
                    let status = response.status().as_u16();
                    if status == 401 || response.status().is_success() {
                        Ok(response)
                    } else {
                        Err(self
                            .status_error(&Method::GET, &url, None, response, false)
                            .await)
                    }
                })
                .await;
            match outcome {
                Ok(response) => {
                    // Only the endpoint's own challenge counts, never a redirect target's.
                    if same_origin(response.url(), base) {
                        let challenges =
                            crate::authn::challenges_of(response.headers(), &ping.host)?;
                        if let Some(challenge) = crate::authn::preferred_challenge(challenges) {
                            ping.set_challenge(challenge);
                        }
                    }
                    tracing::debug!(base = %redact_url(base), "registry endpoint ready");
                    return Ok(Arc::new(ping));
                }
                Err(error) => {
                    tracing::debug!(base = %redact_url(base), %error, "ping failed");
                    first_error.get_or_insert(error);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| RegistryError::InvalidOption {
            option: endpoint.host.clone(),
            reason: "no usable URL for this registry".to_owned(),
        }))
    }

    /// Runs `attempt` (idempotent requests) until it succeeds, fails for good, or the retry
    /// policy is used up: its attempts, or its total time, which also bounds each attempt
    /// ([`RegistryError::TimedOut`]).
    pub(crate) async fn with_retries<T, F, Fut>(
        &self,
        policy: &RetryPolicy,
        attempt: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        self.with_retries_for(&Method::GET, policy, attempt).await
    }

    /// [`Self::with_retries`] for requests of `method`: one that is not idempotent (`POST`)
    /// is sent again only when the server surely did not act on it (see
    /// [`RegistryError::retry_decision_for`]).
    pub(crate) async fn with_retries_for<T, F, Fut>(
        &self,
        method: &Method,
        policy: &RetryPolicy,
        mut attempt: F,
    ) -> Result<T, RegistryError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, RegistryError>>,
    {
        let idempotent = method.is_idempotent();
        let start = Instant::now();
        let mut attempts = 0_u32;
        loop {
            attempts += 1;
            // Each attempt (headers and, for documents, the whole body) must end within the
            // policy's total time, so that a server dripping bytes cannot hold it forever.
            let remaining = policy.max_elapsed().saturating_sub(start.elapsed());
            let outcome = tokio::time::timeout(remaining, attempt())
                .await
                .map_err(|_| RegistryError::TimedOut {
                    limit: policy.max_elapsed(),
                })?;
            let error = match outcome {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let Retry::After(asked) = error.retry_decision_for(idempotent) else {
                return Err(error);
            };
            let Some(delay) = policy.next_delay(attempts, start.elapsed(), asked) else {
                if attempts == 1 {
                    return Err(error);
                }
                return Err(RegistryError::GaveUp {
                    attempts,
                    elapsed: start.elapsed(),
                    source: Box::new(error),
                });
            };
            tracing::debug!(attempt = attempts, ?delay, %error, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    /// Sends one request to a registry endpoint with its credentials and re-authenticates
    /// once on its 401 (or ECR's 403 for an expired token). Returns a successful response,
    /// or the error status as [`RegistryError::Status`]. A 401 or 403 from a redirect target
    /// on another origin (a CDN refusing its signed URL) is
    /// [`RegistryError::RedirectRefused`], which the caller's retries answer by asking the
    /// registry again: it never re-authenticates, nor replaces the registry's challenge.
    pub(crate) async fn send_authenticated(
        &self,
        ping: &Ping,
        request: &Request<'_>,
    ) -> Result<Response, RegistryError> {
        let mut scopes = self.inner.auth.scopes_for(&ping.host, request.repository);
        let mut authorization = self.inner.auth.authorization(self, ping, &scopes).await?;
        let mut reauthenticated = false;
        loop {
            let response = self
                .send_once(
                    ping,
                    &request.method,
                    request.url.clone(),
                    &request.headers,
                    authorization.as_ref(),
                )
                .await?;
            let status = response.status().as_u16();
            if response.status().is_success() {
                return Ok(response);
            }
            if !same_origin(response.url(), &ping.base) {
                return Err(self.redirect_target_error(ping, request, response).await);
            }
            let may_renew = imgpull_auth::should_reauthenticate(status, &ping.host)
                && (status == 401 || authorization.is_some());
            if !reauthenticated && may_renew {
                reauthenticated = true;
                if let Some(renewed) = self
                    .inner
                    .auth
                    .reauthorize(
                        self,
                        ping,
                        request.repository,
                        &mut scopes,
                        &response,
                        authorization.as_ref(),
                    )
                    .await?
                {
                    authorization = Some(renewed);
                    continue;
                }
            }
            return Err(self
                .status_error(
                    &request.method,
                    &request.url,
                    request.repository,
                    response,
                    authorization.is_some() && self.inner.auth.uses_credentials(&ping.host),
                )
                .await);
        }
    }

    /// The error for a failure answered by a redirect target on another origin, which never
    /// saw the registry's credentials.
    pub(crate) async fn redirect_target_error(
        &self,
        ping: &Ping,
        request: &Request<'_>,
        response: Response,
    ) -> RegistryError {
        let status = response.status().as_u16();
        if matches!(status, 401 | 403) {
            return RegistryError::RedirectRefused {
                status,
                host: host_port(response.url()),
                registry: ping.host.clone(),
                method: request.method.to_string(),
                url: redact_url(&request.url),
            };
        }
        self.status_error(
            &request.method,
            &request.url,
            request.repository,
            response,
            false,
        )
        .await
    }

    /// Sends one request and follows redirects by hand: the `Authorization` header goes only
    /// to the endpoint's own origin, never to a redirect target elsewhere (a CDN, S3), and a
    /// request started on https is never redirected to plain http ([`Self::check_redirect`]).
    pub(crate) async fn send_once(
        &self,
        ping: &Ping,
        method: &Method,
        mut url: Url,
        headers: &HeaderMap,
        authorization: Option<&HeaderValue>,
    ) -> Result<Response, RegistryError> {
        let started_on_https = url.scheme() == "https";
        for _ in 0..=MAX_REDIRECTS {
            let same_origin = same_origin(&url, &ping.base);
            let insecure = if same_origin {
                ping.insecure
            } else {
                self.inner.insecure.contains(&host_port(&url))
            };
            let mut builder = self
                .http_for(insecure, &url)
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let (true, Some(value)) = (same_origin, authorization) {
                builder = builder.header(header::AUTHORIZATION, value.clone());
            }
            let response = builder
                .send()
                .await
                .map_err(|e| RegistryError::network(method, &url, "sending the request", e))?;
            tracing::debug!(
                %method,
                url = %redact_url(&url),
                status = response.status().as_u16(),
                authenticated = same_origin && authorization.is_some(),
                "registry request"
            );
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let target = redirect_target(&url, &response)?;
            self.check_redirect(started_on_https, ping.plain_http, &url, &target)?;
            url = target;
        }
        Err(RegistryError::Redirect {
            url: redact_url(&url),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// Refuses a redirect of a request that started on https (to a registry, a mirror, a
    /// token realm or a foreign layer URL) to plain http, unless `plain_http` allows it at
    /// all and the target is this machine or a host named insecure
    /// ([`Self::scheme_allowed`]): what is fetched would be open to the network, which could
    /// read or change it.
    fn check_redirect(
        &self,
        started_on_https: bool,
        plain_http: bool,
        from: &Url,
        target: &Url,
    ) -> Result<(), RegistryError> {
        if !started_on_https || target.scheme() != "http" {
            return Ok(());
        }
        let reason = if !plain_http {
            format!(
                "a foreign layer URL on https was sent to plain http ({}), which such URLs use \
                 only when the registry itself is on this machine or named with \
                 --insecure-registry",
                redact_url(target)
            )
        } else if self.scheme_allowed(target) {
            return Ok(());
        } else {
            format!(
                "a request started on https was sent to plain http on another machine ({}); \
                 name the host with --insecure-registry {} to allow it",
                redact_url(target),
                host_port(target)
            )
        };
        Err(RegistryError::Redirect {
            url: redact_url(from),
            reason,
        })
    }

    /// Sends a request for a foreign layer URL: no registry credentials, redirects followed
    /// but never from https to plain http on another machine, nor to plain http at all
    /// unless `plain_http` (the registry itself may be spoken to over it).
    pub(crate) async fn send_foreign(
        &self,
        url: Url,
        plain_http: bool,
        headers: &HeaderMap,
    ) -> Result<Response, RegistryError> {
        let ping = Ping {
            host: host_port(&url),
            insecure: self.inner.insecure.contains(&host_port(&url)),
            plain_http,
            base: url.clone(),
            challenge: Mutex::new(None),
        };
        self.send_once(&ping, &Method::GET, url, headers, None)
            .await
    }

    /// Whether `url`'s scheme may be used: https always, plain http only to this machine or
    /// a host named insecure.
    pub(crate) fn scheme_allowed(&self, url: &Url) -> bool {
        let host = host_port(url);
        url.scheme() != "http" || self.is_local(&host) || self.is_named_insecure(&host)
    }

    /// Sends a token request and follows its redirects (at most ten). Its credentials (the
    /// `Authorization` header, a form body) go only to the realm's own origin (scheme, host
    /// and port), as a blob's `Authorization` goes only to the registry: a redirect elsewhere
    /// is followed without the `Authorization` header, and a form body never leaves the
    /// origin (a `307`/`308` of a form to another origin is an error). A `301`, `302` or
    /// `303` turns a `POST` into a `GET` without body, as browsers do. A realm on https is
    /// never redirected to plain http ([`Self::check_redirect`]): the token would travel in
    /// cleartext.
    pub(crate) async fn send_token_request(
        &self,
        method: &Method,
        realm: &Url,
        mut headers: HeaderMap,
        mut body: Option<String>,
    ) -> Result<Response, RegistryError> {
        let mut method = method.clone();
        let mut url = realm.clone();
        let started_on_https = realm.scheme() == "https";
        for _ in 0..=MAX_REDIRECTS {
            let insecure = self.inner.insecure.contains(&host_port(&url));
            let mut builder = self
                .http_for(insecure, &url)
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(body) = &body {
                builder = builder.body(body.clone());
            }
            let response = builder
                .send()
                .await
                .map_err(|e| RegistryError::network(&method, &url, "sending the request", e))?;
            let status = response.status().as_u16();
            tracing::debug!(
                %method,
                url = %redact_url(&url),
                status,
                authenticated = headers.contains_key(header::AUTHORIZATION) || body.is_some(),
                "token request"
            );
            if !response.status().is_redirection() {
                return Ok(response);
            }
            let target = redirect_target(&url, &response)?;
            self.check_redirect(started_on_https, true, &url, &target)?;
            if !same_origin(&target, realm) {
                headers.remove(header::AUTHORIZATION);
                if body.is_some() && matches!(status, 307 | 308) {
                    return Err(RegistryError::Redirect {
                        url: redact_url(&url),
                        reason: format!(
                            "the token realm sent a request carrying credentials on to another \
                             origin ({})",
                            redact_url(&target)
                        ),
                    });
                }
            }
            if method == Method::POST && matches!(status, 301..=303) {
                method = Method::GET;
                body = None;
                headers.remove(header::CONTENT_TYPE);
            }
            url = target;
        }
        Err(RegistryError::Redirect {
            url: redact_url(&url),
            reason: format!("more than {MAX_REDIRECTS} redirects"),
        })
    }

    /// The HTTP client for a request to `url`: without certificate verification when the
    /// host is named insecure, and never through a proxy when the host is this machine.
    fn http_for(&self, insecure: bool, url: &Url) -> &reqwest::Client {
        let clients = match (&self.inner.insecure_http, insecure) {
            (Some(clients), true) => clients,
            _ => &self.inner.http,
        };
        if self.is_local(&host_port(url)) {
            &clients.direct
        } else {
            &clients.proxied
        }
    }

    /// Turns an error response into [`RegistryError::Status`], reading at most
    /// [`MAX_ERROR_BODY`] bytes of its body.
    pub(crate) async fn status_error(
        &self,
        method: &Method,
        url: &Url,
        repository: Option<&str>,
        mut response: Response,
        authenticated: bool,
    ) -> RegistryError {
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, SystemTime::now()));
        let host = host_port(response.url());
        let mut body = Vec::new();
        if method != Method::HEAD {
            while let Ok(Some(chunk)) = response.chunk().await {
                let room = MAX_ERROR_BODY.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= MAX_ERROR_BODY {
                    break;
                }
            }
        }
        RegistryError::Status(Box::new(StatusError {
            status,
            method: method.to_string(),
            url: redact_url(url),
            host,
            repository: repository.map(str::to_owned),
            errors: parse_error_body(&body),
            retry_after,
            authenticated,
        }))
    }
}

/// `host[:port]` of a URL, as registries are named (`[::1]:5000`, `ghcr.io`).
pub(crate) fn host_port(url: &Url) -> String {
    let host = match url.host() {
        Some(url::Host::Ipv6(ip)) => format!("[{ip}]"),
        Some(host) => host.to_string(),
        None => String::new(),
    };
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    }
}

/// Whether two URLs have the same scheme, host and port.
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// The target of a redirect response, resolved against the URL that redirected.
fn redirect_target(url: &Url, response: &Response) -> Result<Url, RegistryError> {
    let bad = |reason: &str| RegistryError::Redirect {
        url: redact_url(url),
        reason: reason.to_owned(),
    };
    let location = response
        .headers()
        .get(header::LOCATION)
        .ok_or_else(|| bad("no Location header"))?
        .to_str()
        .map_err(|_| bad("Location is not text"))?;
    let target = url
        .join(location)
        .map_err(|e| bad(&format!("invalid Location: {e}")))?;
    if !matches!(target.scheme(), "http" | "https") {
        return Err(bad("Location is not an http or https URL"));
    }
    Ok(target)
}

/// Whether `host` (`HOST[:PORT]`) is this machine: a loopback name or address that `pinned`
/// does not send elsewhere.
pub(crate) fn is_local(host: &str, pinned: &HashMap<String, IpAddr>) -> bool {
    is_loopback(host)
        && Url::parse(&format!("http://{host}/"))
            .ok()
            .and_then(|url| url.host_str().map(str::to_ascii_lowercase))
            .and_then(|name| pinned.get(&name).copied())
            .is_none_or(|address| address.is_loopback())
}

/// Whether a registry host (`host[:port]`) is this machine: `localhost`, `127.0.0.0/8`
/// or `::1`. Only those may be spoken to over plain HTTP without being named insecure.
pub(crate) fn is_loopback(host_and_port: &str) -> bool {
    let Ok(url) = Url::parse(&format!("http://{host_and_port}/")) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "localhost",
            "localhost:5000",
            "127.0.0.1",
            "127.1.2.3:80",
            "[::1]:5000",
        ] {
            assert!(is_loopback(host), "{host}");
        }
        for host in [
            "docker.io",
            "10.0.0.1:5000",
            "localhost.example.com",
            "[::2]",
        ] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let base = Url::parse("https://registry.example/").unwrap();
        assert!(same_origin(
            &Url::parse("https://registry.example:443/v2/x").unwrap(),
            &base
        ));
        assert!(!same_origin(
            &Url::parse("http://registry.example/v2/x").unwrap(),
            &base
        ));
        assert!(!same_origin(
            &Url::parse("https://cdn.example/blob").unwrap(),
            &base
        ));
        assert!(!same_origin(
            &Url::parse("https://registry.example:8443/").unwrap(),
            &base
        ));
    }

    #[test]
    fn endpoints_put_mirrors_first_and_http_only_where_allowed() {
        let client = crate::ClientBuilder::new()
            .mirror("docker.io", "https://mirror.one")
            .mirror("index.docker.io", "https://mirror.two")
            .insecure_registry("insecure.example:5000")
            .build()
            .unwrap();
        let endpoints = client.endpoints("docker.io", "registry-1.docker.io");
        let hosts: Vec<_> = endpoints.iter().map(|e| e.host.as_str()).collect();
        assert_eq!(hosts, ["mirror.one", "mirror.two", "registry-1.docker.io"]);
        let schemes = |e: &Endpoint| -> Vec<String> {
            e.candidates.iter().map(|u| u.scheme().to_owned()).collect()
        };
        assert_eq!(schemes(&endpoints[2]), ["https"]);
        let local = client.endpoints("127.0.0.1:5000", "127.0.0.1:5000");
        assert_eq!(schemes(&local[0]), ["https", "http"]);
        assert!(!local[0].insecure);
        let insecure = client.endpoints("insecure.example:5000", "insecure.example:5000");
        assert_eq!(schemes(&insecure[0]), ["https", "http"]);
        assert!(insecure[0].insecure);
        let other = client.endpoints("ghcr.io", "ghcr.io");
        assert_eq!(other.len(), 1);
    }

    #[test]
    fn a_pin_never_makes_plain_http_acceptable() {
        let schemes = |client: &Client, host: &str| -> Vec<String> {
            client.endpoints(host, host)[0]
                .candidates
                .iter()
                .map(|u| u.scheme().to_owned())
                .collect()
        };
        let unpinned = crate::ClientBuilder::new().build().unwrap();
        assert_eq!(schemes(&unpinned, "localhost:5000"), ["https", "http"]);
        let pinned = crate::ClientBuilder::new()
            .resolve("LocalHost", "10.1.2.3:5000".parse().unwrap())
            .resolve("registry.test", "127.0.0.1:5000".parse().unwrap())
            .resolve("127.0.0.1", "127.0.0.2:5000".parse().unwrap())
            .build()
            .unwrap();
        assert_eq!(schemes(&pinned, "localhost:5000"), ["https"]);
        assert!(!pinned.is_local("localhost:5000"));
        assert_eq!(schemes(&pinned, "registry.test:5000"), ["https"]);
        assert!(!pinned.is_local("registry.test"));
        assert_eq!(schemes(&pinned, "127.0.0.1:5000"), ["https", "http"]);
    }

    #[test]
    fn operations_are_send() {
        use imgpull_reference::{Descriptor, Digest, Reference};
        fn assert_send<T: Send>(_: &T) {}
        let client = Client::new().unwrap();
        let reference = Reference::parse("example.com/a/b:c").unwrap();
        let descriptor = Descriptor::new("x", Digest::sha256(b""), 0);
        assert_send(&client.resolve(&reference, &crate::PlatformChoice::Host));
        assert_send(&client.manifest(&reference));
        assert_send(&client.blob(&reference, &descriptor, 0));
        assert_send(&client.blob_bytes(&reference, &descriptor, 1));
        assert_send(&client.tags(&reference));
        assert_send(&client.download(&reference, &descriptor, 0, |_: &[u8]| {
            Ok::<(), std::io::Error>(())
        }));
    }

    #[test]
    fn host_port_keeps_ports_and_brackets() {
        let host = |u: &str| host_port(&Url::parse(u).unwrap());
        assert_eq!(host("https://ghcr.io/v2/"), "ghcr.io");
        assert_eq!(host("http://127.0.0.1:5000/"), "127.0.0.1:5000");
        assert_eq!(host("http://[::1]:5000/"), "[::1]:5000");
    }
}
