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
