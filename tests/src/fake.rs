//! A fake registry on wiremock: in-memory manifests and blobs, Basic or bearer auth with a
//! fake token realm, and one-shot or repeated faults, for protocol edge cases that a real
//! registry cannot be made to show.
//!
//! - [`FakeRegistry`] serves the distribution API (`/v2/`, manifests, blobs with `Range`,
//!   tag lists with `Link` pagination) for content pushed with [`FakeRegistry::push_blob`],
//!   [`FakeRegistry::push_manifest`], [`FakeRegistry::push_image`] and
//!   [`FakeRegistry::push_index`].
//! - [`FakeAuth`] makes it demand Basic credentials or bearer tokens from a
//!   [`FakeTokenRealm`], which checks `service`, scopes and credentials (GET with Basic, or
//!   the OAuth2 POST form) and grants `pull` on public repositories to anyone and on every
//!   repository to known users.
//! - [`Fault`]s are injected per path ([`FakeRegistry::inject`]): error statuses with
//!   `Retry-After`, bodies cut short, corrupted bytes, a wrong `Docker-Content-Digest`,
//!   `Range` ignored, and redirects (to a [`FakeCdn`], which records whether an
//!   `Authorization` header reached it).
//!
//! Every request is recorded by wiremock; [`FakeRegistry::requests`] returns them.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use imgpull_reference::{Descriptor, Digest, Platform, Reference, media_types};
use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// How a [`FakeRegistry`] authenticates requests.
#[derive(Debug, Clone, Default)]
pub enum FakeAuth {
    /// Every request is served.
    #[default]
    Anonymous,
    /// `Basic` credentials are required (Amazon ECR's scheme, htpasswd registries).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
        /// The `realm` of the challenge.
        realm: String,
    },
    /// Bearer tokens from a [`FakeTokenRealm`] are required.
    Bearer {
        /// The token endpoint URL put in the challenge.
        realm: String,
        /// The `service` put in the challenge.
        service: String,
        /// The tokens the realm issued, shared with it.
        tokens: TokenStore,
        /// Whether 401s for a repository name its scope in the challenge (GHCR and Docker
        /// Hub do; the ping's challenge never has one).
        scope_in_challenge: bool,
    },
}

/// A fault the registry answers with instead of the normal response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// This status, with the registry's JSON error body.
    Status(u16),
    /// This status with a `Retry-After` header (seconds or an HTTP date).
    StatusRetryAfter(u16, String),
    /// Only the first bytes of the body (announced with their own `Content-Length`): a body
    /// that ends early, as behind a proxy that cut it. For a connection closed in the middle
    /// of a body, redirect to a [`CutConnection`].
    Truncate(usize),
    /// The normal response with its first byte changed.
    CorruptBytes,
    /// The whole blob with `200 OK`, as if `Range` were not supported.
    IgnoreRange,
    /// `206` with a `Content-Range` that does not start where the request asked.
    WrongContentRange,
    /// `206` with only this many bytes from where the request asked (a shorter range, as
    /// RFC 9110 allows), announced in `Content-Range`.
    ShortRange(usize),
    /// `416 Range Not Satisfiable` to a ranged request.
    RangeNotSatisfiable,
    /// A `Docker-Content-Digest` header naming other content.
    WrongDigestHeader,
    /// `307 Temporary Redirect` to this URL.
    RedirectTo(String),
    /// `403` with ECR's "authorization token has expired" body, even to valid credentials.
    ExpiredToken,
}

#[derive(Debug, Clone)]
struct FaultRule {
    path_contains: String,
    fault: Fault,
    remaining: usize,
}

#[derive(Debug, Clone)]
struct StoredManifest {
    media_type: String,
    bytes: Vec<u8>,
}

#[derive(Debug, Default)]
struct Content {
    /// (repository, tag or digest) → manifest.
    manifests: HashMap<(String, String), StoredManifest>,
    /// digest → bytes (blobs are shared by all repositories of the fake).
    blobs: HashMap<String, Arc<Vec<u8>>>,
    auth: FakeAuth,
    faults: Vec<FaultRule>,
    tag_page_size: Option<usize>,
    /// repository → other repositories a bearer token must also grant `pull` on.
    also_required: HashMap<String, Vec<String>>,
}

/// Bearer tokens issued by a [`FakeTokenRealm`], with the repositories each may pull.
#[derive(Debug, Clone, Default)]
pub struct TokenStore(Arc<Mutex<HashMap<String, Vec<String>>>>);

impl TokenStore {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Vec<String>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forgets every token, as if they had all expired.
    pub fn revoke_all(&self) {
        self.lock().clear();
    }

    /// How many tokens are valid.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no token is valid.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
}

/// An image pushed to a [`FakeRegistry`].
#[derive(Debug, Clone)]
pub struct FakeImage {
    /// The manifest descriptor, with the image's platform.
    pub descriptor: Descriptor,
    /// The manifest bytes.
    pub manifest: Vec<u8>,
    /// The config descriptor.
    pub config: Descriptor,
    /// The config bytes.
    pub config_bytes: Vec<u8>,
    /// The layer descriptors.
    pub layers: Vec<Descriptor>,
}

/// A fake distribution registry on `127.0.0.1` (plain HTTP).
#[derive(Debug)]
pub struct FakeRegistry {
    server: MockServer,
    content: Arc<Mutex<Content>>,
}

fn lock(content: &Mutex<Content>) -> MutexGuard<'_, Content> {
    content.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeRegistry {
    /// Starts an empty registry that needs no authentication.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let content = Arc::new(Mutex::new(Content::default()));
        Mock::given(any())
            .respond_with(RegistryResponder {
                content: content.clone(),
            })
            .mount(&server)
            .await;
        Self { server, content }
    }

    /// Starts an empty registry with the given authentication.
    pub async fn with_auth(auth: FakeAuth) -> Self {
        let registry = Self::start().await;
        registry.set_auth(auth);
        registry
    }

    /// Changes how requests are authenticated.
    pub fn set_auth(&self, auth: FakeAuth) {
        lock(&self.content).auth = auth;
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        self.server.address().to_string()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// A reference to `name` (`repo:tag`, `repo@digest`) on this registry.
    pub fn reference(&self, name: &str) -> Reference {
        let text = format!("{}/{name}", self.host());
        Reference::parse(&text).unwrap_or_else(|e| panic!("bad test reference {text}: {e}"))
    }

    /// Every request received so far.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// The requests received so far whose path ends with `suffix`.
    pub async fn requests_to(&self, suffix: &str) -> Vec<Request> {
        self.requests()
            .await
            .into_iter()
            .filter(|r| r.url.path().ends_with(suffix))
            .collect()
    }

    /// Serves tag lists in pages of at most `size` tags (unless the client asks with `n`).
    pub fn set_tag_page_size(&self, size: usize) {
        lock(&self.content).tag_page_size = Some(size);
    }

    /// Answers the next `times` requests whose path contains `path_contains` with `fault`
    /// (`usize::MAX` for always). Rules are checked in the order they were added.
    pub fn inject(&self, path_contains: &str, fault: Fault, times: usize) {
        lock(&self.content).faults.push(FaultRule {
            path_contains: path_contains.to_owned(),
            fault,
            remaining: times,
        });
    }

    /// Makes bearer access to `repository` also require a token granting `pull` on
    /// `other` (as for a cross-repository reference), so that a token for `repository`
    /// alone is refused with `error="insufficient_scope"` naming the missing scope.
    pub fn require_also(&self, repository: &str, other: &str) {
        lock(&self.content)
            .also_required
            .entry(repository.to_owned())
            .or_default()
            .push(other.to_owned());
    }

    /// Removes every injected fault.
    pub fn clear_faults(&self) {
        lock(&self.content).faults.clear();
    }

    /// Stores a blob and returns its descriptor.
    pub fn push_blob(&self, media_type: &str, bytes: Vec<u8>) -> Descriptor {
        let digest = Digest::sha256(&bytes);
        let descriptor = Descriptor::new(media_type, digest.clone(), bytes.len() as u64);
        lock(&self.content)
            .blobs
            .insert(digest.to_string(), Arc::new(bytes));
        descriptor
    }

    /// Stores a manifest under its digest and, if given, a tag, served with `media_type`
    /// as `Content-Type`; returns its descriptor.
    pub fn push_manifest(
        &self,
        repository: &str,
        tag: Option<&str>,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Descriptor {
        let digest = Digest::sha256(&bytes);
        let descriptor = Descriptor::new(media_type, digest.clone(), bytes.len() as u64);
        let stored = StoredManifest {
            media_type: media_type.to_owned(),
            bytes,
        };
        let mut content = lock(&self.content);
        if let Some(tag) = tag {
            content
                .manifests
                .insert((repository.to_owned(), tag.to_owned()), stored.clone());
        }
        content
            .manifests
            .insert((repository.to_owned(), digest.to_string()), stored);
        descriptor
    }

    /// Builds and stores an OCI image for `platform` with these layer contents (stored
    /// as they are, typed as gzip layers) and a config stating the platform.
    pub fn push_image(
        &self,
        repository: &str,
        tag: Option<&str>,
        platform: &Platform,
        layers: &[Vec<u8>],
    ) -> FakeImage {
        let layers: Vec<Descriptor> = layers
            .iter()
            .map(|bytes| self.push_blob(media_types::OCI_LAYER_TAR_GZIP, bytes.clone()))
            .collect();
        let mut config = json!({
            "architecture": platform.architecture,
            "os": platform.os,
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(|l| l.digest.to_string()).collect::<Vec<_>>(),
            },
            "config": {},
        });
        if let Some(variant) = &platform.variant {
            config["variant"] = json!(variant);
        }
        let config_bytes = serde_json::to_vec(&config).unwrap_or_default();
        let config_descriptor = self.push_blob(media_types::OCI_IMAGE_CONFIG, config_bytes.clone());
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_IMAGE_MANIFEST,
            "config": config_descriptor,
            "layers": layers,
        }))
        .unwrap_or_default();
        let mut descriptor = self.push_manifest(
            repository,
            tag,
            media_types::OCI_IMAGE_MANIFEST,
            manifest.clone(),
        );
        descriptor.platform = Some(platform.clone());
        FakeImage {
            descriptor,
            manifest,
            config: config_descriptor,
            config_bytes,
            layers,
        }
    }

    /// Stores a BuildKit attestation manifest for `image` and returns its index entry
    /// (platform `unknown/unknown`, annotated as an attestation manifest).
    pub fn push_attestation(&self, repository: &str, image: &FakeImage) -> Descriptor {
        let statement = self.push_blob(media_types::IN_TOTO, b"{\"_type\":\"statement\"}".to_vec());
        let config = self.push_blob(media_types::OCI_IMAGE_CONFIG, b"{}".to_vec());
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_IMAGE_MANIFEST,
            "config": config,
            "layers": [statement],
        }))
        .unwrap_or_default();
        let mut descriptor =
            self.push_manifest(repository, None, media_types::OCI_IMAGE_MANIFEST, manifest);
        descriptor.platform = Some(Platform::new("unknown", "unknown"));
        descriptor.annotations = BTreeMap::from([
            (
                media_types::DOCKER_REFERENCE_TYPE_ANNOTATION.to_owned(),
                media_types::DOCKER_ATTESTATION_MANIFEST.to_owned(),
            ),
            (
                media_types::DOCKER_REFERENCE_DIGEST_ANNOTATION.to_owned(),
                image.descriptor.digest.to_string(),
            ),
        ]);
        descriptor
    }

    /// Stores an OCI index of these entries under `tag`; returns its descriptor.
    pub fn push_index(
        &self,
        repository: &str,
        tag: Option<&str>,
        entries: &[Descriptor],
    ) -> Descriptor {
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": media_types::OCI_IMAGE_INDEX,
            "manifests": entries,
        }))
        .unwrap_or_default();
        self.push_manifest(repository, tag, media_types::OCI_IMAGE_INDEX, index)
    }
}

/// The wiremock responder implementing the registry.
struct RegistryResponder {
    content: Arc<Mutex<Content>>,
}

/// What a request is for.
enum Route<'a> {
    Ping,
    Manifest(&'a str, &'a str),
    Blob(&'a str, &'a str),
    Tags(&'a str),
    Unknown,
}

fn route(path: &str) -> Route<'_> {
    let Some(rest) = path.strip_prefix("/v2/") else {
        return Route::Unknown;
    };
    if rest.is_empty() {
        return Route::Ping;
    }
    if let Some(repository) = rest.strip_suffix("/tags/list") {
        return Route::Tags(repository);
    }
    if let Some((repository, reference)) = rest.rsplit_once("/manifests/") {
        return Route::Manifest(repository, reference);
    }
    if let Some((repository, digest)) = rest.rsplit_once("/blobs/") {
        return Route::Blob(repository, digest);
    }
    Route::Unknown
}

fn error_response(status: u16, code: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "errors": [{"code": code, "message": message, "detail": null}]
    }))
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers.get(name).and_then(|v| v.to_str().ok())
}

impl RegistryResponder {
    /// `None` when the request may proceed, else the refusal.
    fn authenticate(
        content: &Content,
        request: &Request,
        repository: Option<&str>,
    ) -> Option<ResponseTemplate> {
        let authorization = header(request, "authorization");
        match &content.auth {
            FakeAuth::Anonymous => None,
            FakeAuth::Basic {
                username,
                password,
                realm,
            } => {
                let expected = format!(
                    "Basic {}",
                    STANDARD.encode(format!("{username}:{password}"))
                );
                (authorization != Some(expected.as_str())).then(|| {
                    error_response(401, "UNAUTHORIZED", "authentication required")
                        .insert_header("www-authenticate", format!("Basic realm=\"{realm}\""))
                })
            }
            FakeAuth::Bearer {
                realm,
                service,
                tokens,
                scope_in_challenge,
            } => {
                let token = authorization.and_then(|a| a.strip_prefix("Bearer "));
                let grant = token.and_then(|t| tokens.lock().get(t).cloned());
                let mut challenge = format!("Bearer realm=\"{realm}\",service=\"{service}\"");
                let needed: Vec<&str> = repository
                    .into_iter()
                    .chain(
                        repository
                            .and_then(|r| content.also_required.get(r))
                            .into_iter()
                            .flatten()
                            .map(String::as_str),
                    )
                    .collect();
                let missing = match &grant {
                    Some(repos) => needed.into_iter().find(|n| !repos.iter().any(|r| r == n)),
                    None => repository,
                };
                // Allowed when nothing is missing; a request without a token is refused
                // even when it names no repository (the ping).
                let missing = missing.or(grant.is_none().then_some(""))?;
                if !missing.is_empty() {
                    if *scope_in_challenge || grant.is_some() {
                        let _ = write!(challenge, ",scope=\"repository:{missing}:pull\"");
                    }
                    if grant.is_some() {
                        challenge.push_str(",error=\"insufficient_scope\"");
                    }
                }
                Some(
                    error_response(401, "UNAUTHORIZED", "authentication required")
                        .insert_header("www-authenticate", challenge),
                )
            }
        }
    }

    fn take_fault(content: &mut Content, path: &str) -> Option<Fault> {
        let rule = content
            .faults
            .iter_mut()
            .find(|rule| rule.remaining > 0 && path.contains(&rule.path_contains))?;
        rule.remaining -= 1;
        Some(rule.fault.clone())
    }

    fn manifest(
        content: &Content,
        repository: &str,
        reference: &str,
        fault: Option<&Fault>,
    ) -> ResponseTemplate {
        let Some(stored) = content
            .manifests
            .get(&(repository.to_owned(), reference.to_owned()))
        else {
            return error_response(404, "MANIFEST_UNKNOWN", "manifest unknown");
        };
        let mut bytes = stored.bytes.clone();
        let mut digest = Digest::sha256(&bytes).to_string();
        match fault {
            Some(Fault::CorruptBytes) => corrupt(&mut bytes),
            Some(Fault::WrongDigestHeader) => digest = Digest::sha256(b"other content").to_string(),
            _ => {}
        }
        let response =
            ResponseTemplate::new(200).insert_header("docker-content-digest", digest.as_str());
        body_with_fault(response, bytes, &stored.media_type, fault)
    }

    fn blob(
        content: &Content,
        request: &Request,
        digest: &str,
        fault: Option<&Fault>,
    ) -> ResponseTemplate {
        let Some(blob) = content.blobs.get(digest) else {
            return error_response(404, "BLOB_UNKNOWN", "blob unknown to registry");
        };
        let mut bytes = blob.as_ref().clone();
        if fault == Some(&Fault::CorruptBytes) {
            corrupt(&mut bytes);
        }
        let total = bytes.len();
        let range_start = header(request, "range")
            .and_then(|r| r.strip_prefix("bytes="))
            .and_then(|r| r.strip_suffix('-'))
            .and_then(|n| n.parse::<usize>().ok());
        let response = ResponseTemplate::new(200).insert_header("docker-content-digest", digest);
        match (range_start, fault) {
            (Some(_), Some(Fault::IgnoreRange)) | (None, _) => {
                body_with_fault(response, bytes, "application/octet-stream", fault)
            }
            (Some(start), _) if start >= total || fault == Some(&Fault::RangeNotSatisfiable) => {
                ResponseTemplate::new(416)
                    .insert_header("content-range", format!("bytes */{total}"))
            }
            (Some(start), _) => {
                let claimed = if fault == Some(&Fault::WrongContentRange) {
                    start.saturating_sub(1)
                } else {
                    start
                };
                let end = match fault {
                    Some(Fault::ShortRange(len)) => (start + len).min(total),
                    _ => total,
                };
                let response = ResponseTemplate::new(206)
                    .insert_header("docker-content-digest", digest)
                    .insert_header(
                        "content-range",
                        format!("bytes {claimed}-{}/{total}", end - 1),
                    );
                body_with_fault(
                    response,
                    bytes[start..end].to_vec(),
                    "application/octet-stream",
                    fault,
                )
            }
        }
    }

    fn tags(content: &Content, request: &Request, repository: &str) -> ResponseTemplate {
        let mut tags: Vec<&str> = content
            .manifests
            .keys()
            .filter(|(repo, reference)| repo == repository && !reference.contains(':'))
            .map(|(_, tag)| tag.as_str())
            .collect();
        if tags.is_empty() {
            return error_response(404, "NAME_UNKNOWN", "repository name not known to registry");
        }
        tags.sort_unstable();
        let query: HashMap<String, String> = request.url.query_pairs().into_owned().collect();
        let size = query
            .get("n")
            .and_then(|n| n.parse().ok())
            .or(content.tag_page_size)
            .unwrap_or(usize::MAX);
        let start = query.get("last").map_or(0, |last| {
            tags.iter()
                .position(|t| t > &last.as_str())
                .unwrap_or(tags.len())
        });
        let page: Vec<&str> = tags.iter().skip(start).take(size).copied().collect();
        let mut response =
            ResponseTemplate::new(200).set_body_json(json!({"name": repository, "tags": page}));
        if start + page.len() < tags.len()
            && let Some(last) = page.last()
        {
            response = response.insert_header(
                "link",
                format!("</v2/{repository}/tags/list?n={size}&last={last}>; rel=\"next\""),
            );
        }
        response
    }
}

fn corrupt(bytes: &mut [u8]) {
    if let Some(first) = bytes.first_mut() {
        *first ^= 0xff;
    }
}

/// The body with its content type, cut short when the fault says so.
fn body_with_fault(
    response: ResponseTemplate,
    mut bytes: Vec<u8>,
    media_type: &str,
    fault: Option<&Fault>,
) -> ResponseTemplate {
    if let Some(Fault::Truncate(keep)) = fault {
        bytes.truncate(*keep);
    }
    response.set_body_raw(bytes, media_type)
}

impl Respond for RegistryResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let path = request.url.path().to_owned();
        let route = route(&path);
        let repository = match route {
            Route::Manifest(repository, _)
            | Route::Blob(repository, _)
            | Route::Tags(repository) => Some(repository),
            Route::Ping | Route::Unknown => None,
        };
        let mut content = lock(&self.content);
        if let Some(refusal) = Self::authenticate(&content, request, repository) {
            return refusal;
        }
        let fault = Self::take_fault(&mut content, &path);
        match &fault {
            Some(Fault::Status(status)) => {
                return error_response(*status, "FAULT", "injected fault");
            }
            Some(Fault::StatusRetryAfter(status, after)) => {
                return error_response(*status, "TOOMANYREQUESTS", "injected fault")
                    .insert_header("retry-after", after.as_str());
            }
            Some(Fault::RedirectTo(location)) => {
                return ResponseTemplate::new(307).insert_header("location", location.as_str());
            }
            Some(Fault::ExpiredToken) => {
                return error_response(
                    403,
                    "DENIED",
                    "Your authorization token has expired. Reauthenticate and try again.",
                );
            }
            _ => {}
        }
        match route {
            Route::Ping => ResponseTemplate::new(200).set_body_json(json!({})),
            Route::Manifest(repository, reference) => {
                Self::manifest(&content, repository, reference, fault.as_ref())
            }
            Route::Blob(_, digest) => Self::blob(&content, request, digest, fault.as_ref()),
            Route::Tags(repository) => Self::tags(&content, request, repository),
            Route::Unknown => error_response(404, "UNSUPPORTED", "not a registry API path"),
        }
    }
}

/// A fake token realm (Docker token spec) on `127.0.0.1`.
#[derive(Debug)]
pub struct FakeTokenRealm {
    server: MockServer,
    tokens: TokenStore,
    service: String,
}

/// What a [`FakeTokenRealm`] accepts.
#[derive(Debug, Clone, Default)]
pub struct RealmConfig {
    /// The `service` it expects.
    pub service: String,
    /// Users and passwords.
    pub users: Vec<(String, String)>,
    /// Refresh tokens (identity tokens) accepted by the OAuth2 POST form.
    pub refresh_tokens: Vec<String>,
    /// Repositories anyone may pull.
    pub public: Vec<String>,
    /// Whether `GET` is refused with 404 (only the OAuth2 POST form works).
    pub post_only: bool,
    /// Whether the token is sent as `access_token` only (OAuth2 style) instead of `token`.
    pub access_token_only: bool,
}

impl RealmConfig {
    /// A realm for this `service` with no users and no public repositories.
    pub fn new(service: &str) -> Self {
        Self {
            service: service.to_owned(),
            ..Self::default()
        }
    }

    /// Adds a user.
    #[must_use]
    pub fn user(mut self, username: &str, password: &str) -> Self {
        self.users.push((username.to_owned(), password.to_owned()));
        self
    }

    /// Adds a refresh token accepted by `grant_type=refresh_token`.
    #[must_use]
    pub fn refresh_token(mut self, token: &str) -> Self {
        self.refresh_tokens.push(token.to_owned());
        self
    }

    /// Makes a repository pullable anonymously.
    #[must_use]
    pub fn public(mut self, repository: &str) -> Self {
        self.public.push(repository.to_owned());
        self
    }

    /// Refuses `GET` token requests with 404, as OAuth2-only realms do.
    #[must_use]
    pub fn post_only(mut self) -> Self {
        self.post_only = true;
        self
    }

    /// Answers with `access_token` only.
    #[must_use]
    pub fn access_token_only(mut self) -> Self {
        self.access_token_only = true;
        self
    }
}

impl FakeTokenRealm {
    /// Starts a realm.
    pub async fn start(config: RealmConfig) -> Self {
        let server = MockServer::start().await;
        let tokens = TokenStore::default();
        let service = config.service.clone();
        Mock::given(any())
            .respond_with(RealmResponder {
                config,
                tokens: tokens.clone(),
                counter: AtomicU64::new(0),
            })
            .mount(&server)
            .await;
        Self {
            server,
            tokens,
            service,
        }
    }

    /// The token endpoint (`http://127.0.0.1:PORT/token`).
    pub fn realm(&self) -> String {
        format!("{}/token", self.server.uri())
    }

    /// The tokens issued so far (shared with the registries that trust this realm).
    pub fn tokens(&self) -> &TokenStore {
        &self.tokens
    }

    /// The [`FakeAuth`] of a registry that trusts this realm.
    pub fn auth(&self, scope_in_challenge: bool) -> FakeAuth {
        FakeAuth::Bearer {
            realm: self.realm(),
            service: self.service.clone(),
            tokens: self.tokens.clone(),
            scope_in_challenge,
        }
    }

    /// Every token request received so far.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }
}

struct RealmResponder {
    config: RealmConfig,
    tokens: TokenStore,
    counter: AtomicU64,
}

impl RealmResponder {
    /// The authenticated user, `Ok(None)` for anonymous, `Err` for wrong credentials.
    fn user(
        &self,
        request: &Request,
        form: &HashMap<String, String>,
    ) -> Result<Option<String>, ()> {
        let known = |user: &str, pass: &str| {
            self.config
                .users
                .iter()
                .any(|(u, p)| u == user && p == pass)
        };
        if let Some(basic) = header(request, "authorization").and_then(|a| a.strip_prefix("Basic "))
        {
            let decoded = STANDARD.decode(basic).map_err(|_| ())?;
            let decoded = String::from_utf8(decoded).map_err(|_| ())?;
            let (user, pass) = decoded.split_once(':').ok_or(())?;
            return if known(user, pass) {
                Ok(Some(user.to_owned()))
            } else {
                Err(())
            };
        }
        match form.get("grant_type").map(String::as_str) {
            Some("password") => {
                let user = form.get("username").ok_or(())?;
                let pass = form.get("password").ok_or(())?;
                if known(user, pass) {
                    Ok(Some(user.clone()))
                } else {
                    Err(())
                }
            }
            Some("refresh_token") => {
                let token = form.get("refresh_token").ok_or(())?;
                if self.config.refresh_tokens.contains(token) {
                    Ok(Some("identity".to_owned()))
                } else {
                    Err(())
                }
            }
            Some(_) => Err(()),
            None => Ok(None),
        }
    }
}

impl Respond for RealmResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let is_post = request.method.as_str() == "POST";
        if !is_post && self.config.post_only {
            return ResponseTemplate::new(404);
        }
        let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
        let form: HashMap<String, String> = if is_post {
            url_decode_form(request)
        } else {
            HashMap::new()
        };
        let service = if is_post {
            form.get("service").cloned()
        } else {
            query
                .iter()
                .find(|(k, _)| k == "service")
                .map(|(_, v)| v.clone())
        };
        if service.as_deref() != Some(self.config.service.as_str()) {
            return ResponseTemplate::new(400).set_body_json(json!({"details": "wrong service"}));
        }
        let scopes: Vec<String> = if is_post {
            form.get("scope")
                .map(|s| s.split(' ').map(str::to_owned).collect())
                .unwrap_or_default()
        } else {
            query
                .iter()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v.clone())
                .collect()
        };
        let Ok(user) = self.user(request, &form) else {
            return ResponseTemplate::new(401)
                .set_body_json(json!({"details": "incorrect username or password"}));
        };
        let granted: Vec<String> = scopes
            .iter()
            .filter_map(|scope| {
                let mut parts = scope.splitn(2, ':');
                let (kind, rest) = (parts.next()?, parts.next()?);
                let (name, actions) = rest.rsplit_once(':')?;
                let pull = actions.split(',').any(|a| a == "pull" || a == "*");
                let allowed = user.is_some() || self.config.public.iter().any(|p| p == name);
                (kind == "repository" && pull && allowed).then(|| name.to_owned())
            })
            .collect();
        let token = format!("fake-token-{}", self.counter.fetch_add(1, Ordering::SeqCst));
        self.tokens.lock().insert(token.clone(), granted);
        let body = if self.config.access_token_only {
            json!({"access_token": token, "expires_in": 300})
        } else {
            json!({"token": token, "expires_in": 300})
        };
        ResponseTemplate::new(200).set_body_json(body)
    }
}

/// The fields of an `application/x-www-form-urlencoded` body (decoded the way a query is).
fn url_decode_form(request: &Request) -> HashMap<String, String> {
    let mut url = request.url.clone();
    url.set_query(Some(&String::from_utf8_lossy(&request.body)));
    url.query_pairs().into_owned().collect()
}

/// A second host that serves blobs after a redirect, like a CDN or S3, and records the
/// requests (so a test can check that no `Authorization` header reached it).
#[derive(Debug)]
pub struct FakeCdn {
    server: MockServer,
    blobs: Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>>,
}

impl FakeCdn {
    /// Starts an empty CDN.
    pub async fn start() -> Self {
        let server = MockServer::start().await;
        let blobs: Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>> = Arc::default();
        Mock::given(any())
            .respond_with(CdnResponder {
                blobs: blobs.clone(),
            })
            .mount(&server)
            .await;
        Self { server, blobs }
    }

    /// Serves `bytes` at `/cdn/<name>` and returns that URL (with a signature-like query).
    pub fn serve(&self, name: &str, bytes: Vec<u8>) -> String {
        self.blobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(format!("/cdn/{name}"), Arc::new(bytes));
        format!(
            "{}/cdn/{name}?X-Amz-Signature=secret-signature",
            self.server.uri()
        )
    }

    /// Every request received so far.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }
}

struct CdnResponder {
    blobs: Arc<Mutex<HashMap<String, Arc<Vec<u8>>>>>,
}

impl Respond for CdnResponder {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let blobs = self.blobs.lock().unwrap_or_else(PoisonError::into_inner);
        match blobs.get(request.url.path()) {
            Some(bytes) => ResponseTemplate::new(200)
                .set_body_raw(bytes.as_ref().clone(), "application/octet-stream"),
            None => ResponseTemplate::new(404),
        }
    }
}

/// A one-shot HTTP server that announces a whole body with `Content-Length` but closes the
/// connection after the first bytes: a connection cut in the middle of a download (wiremock
/// cannot send fewer bytes than it announces). Redirect a blob request to
/// [`CutConnection::url`] with [`Fault::RedirectTo`].
#[derive(Debug)]
pub struct CutConnection {
    url: String,
    served: Arc<AtomicU64>,
}

impl CutConnection {
    /// Listens on `127.0.0.1` and answers one request with `bytes` cut after `keep` bytes.
    pub fn start(bytes: Vec<u8>, keep: usize) -> std::io::Result<Self> {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}/cut", listener.local_addr()?);
        let served = Arc::new(AtomicU64::new(0));
        let counter = served.clone();
        std::thread::spawn(move || {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let mut writer = &stream;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\n\r\n",
                bytes.len()
            );
            let _ = writer.write_all(head.as_bytes());
            let _ = writer.write_all(&bytes[..keep.min(bytes.len())]);
            let _ = writer.flush();
            counter.fetch_add(1, Ordering::SeqCst);
        });
        Ok(Self { url, served })
    }

    /// The URL to redirect to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many requests were answered (0 or 1).
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}
