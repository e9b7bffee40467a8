//! Helpers shared by the test binaries.

use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A registry without auth (`/v2/` answers 200); each test mounts what else it serves.
pub async fn open_registry() -> MockServer {
    let registry = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&registry)
        .await;
    registry
}

/// The requests `server` received at exactly `at` (a path).
#[allow(dead_code)] // not every test binary looks at requests
pub async fn requests_at(server: &MockServer, at: &str) -> Vec<wiremock::Request> {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.url.path() == at)
        .collect()
}
