//! The token cache shared by all requests of a client, and the re-authentication decision.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::{BearerChallenge, Scope, Token, merge_scopes};

/// Bearer tokens per (registry host, scope set), shared by all requests of a pull.
///
/// Thread-safe (`Send + Sync`, an interior `Mutex` held only for map operations); wrap it in
/// an `Arc` to share it. Scope sets are normalised with [`merge_scopes`], so the order in
/// which scopes are given does not matter, and registry hosts compare case-insensitively.
#[derive(Debug, Default)]
pub struct TokenCache {
    tokens: Mutex<HashMap<CacheKey, Token>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    registry: String,
    scopes: Vec<Scope>,
}

impl CacheKey {
    fn new(registry: &str, scopes: &[Scope]) -> Self {
        Self {
            registry: registry.to_ascii_lowercase(),
            scopes: merge_scopes(&[], scopes),
        }
    }
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<CacheKey, Token>> {
        // A panic while holding the lock cannot leave the map half-updated (every critical
        // section is one map operation), so a poisoned lock is still usable.
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token for `registry` and exactly this scope set, if it is still fresh at `now`
    /// (see [`Token::is_fresh`]); a stale token is dropped.
    pub fn get(&self, registry: &str, scopes: &[Scope], now: SystemTime) -> Option<Token> {
        let key = CacheKey::new(registry, scopes);
        let mut tokens = self.lock();
        match tokens.get(&key) {
            Some(token) if token.is_fresh(now) => Some(token.clone()),
            Some(_) => {
                tokens.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Stores the token obtained for `registry` and this scope set, replacing any other.
    pub fn insert(&self, registry: &str, scopes: &[Scope], token: Token) {
        self.lock().insert(CacheKey::new(registry, scopes), token);
    }

    /// Forgets every token of `registry`, whatever its scopes (its credential changed, e.g.
    /// ECR's expired one); returns how many there were.
    pub fn invalidate_registry(&self, registry: &str) -> usize {
        let mut tokens = self.lock();
        let before = tokens.len();
        tokens.retain(|key, _| !key.registry.eq_ignore_ascii_case(registry));
        before - tokens.len()
    }
}

/// The scope set to request a new token for after a 401: `current` plus the scopes the
/// registry's challenge names (for `error="insufficient_scope"`, the missing one).
pub fn scopes_after_challenge(current: &[Scope], challenge: &BearerChallenge) -> Vec<Scope> {
    merge_scopes(current, &challenge.scopes)
}

/// Whether a refusal with `status` from the registry `registry_host` itself may be answered
/// by fetching a new token (or credential) and sending the request again: for `401`, and for
/// `403` from Amazon ECR, which answers an expired token with `403` instead of `401`.
///
/// Do it once per request: a second refusal means the credentials are wrong, and trying again
/// would only hammer the registry. Only the registry's own answers count; a 401 or 403 from a
/// redirect target on another origin (a CDN) says nothing about the registry's credentials.
pub fn should_reauthenticate(status: u16, registry_host: &str) -> bool {
    status == 401 || (status == 403 && is_ecr_host(registry_host))
}

/// Whether `host` (with or without `:port`) is an Amazon ECR registry:
/// `<account>.dkr.ecr[-fips].<region>.amazonaws.com`, or `.amazonaws.com.cn` in China.
pub fn is_ecr_host(host: &str) -> bool {
    let host = host.split_once(':').map_or(host, |(name, _)| name);
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let suffix_ok = match labels.get(5..) {
        Some(["com"] | ["com", "cn"]) => labels[4] == "amazonaws",
        _ => false,
    };
    suffix_ok
        && !labels[0].is_empty()
        && labels[1] == "dkr"
        && matches!(labels[2], "ecr" | "ecr-fips")
        && !labels[3].is_empty()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::{Secret, parse_challenges};

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn token(value: &str, issued: u64, expires: u64) -> Token {
        Token {
            value: Secret::new(value),
            issued_at: at(issued),
            expires_at: at(expires),
            refresh_token: None,
        }
    }

    #[test]
    fn cache_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<TokenCache>();
    }

    #[test]
    fn get_returns_fresh_tokens_by_registry_and_scope_set() {
        let cache = TokenCache::new();
        let scopes = [Scope::pull("a"), Scope::pull("b")];
        cache.insert("Registry.Example", &scopes, token("t1", 0, 300));

        let reordered = [Scope::pull("b"), Scope::pull("a")];
        let hit = cache.get("registry.example", &reordered, at(10)).unwrap();
        assert_eq!(hit.value.expose(), "t1");
        assert!(
            cache
                .get("registry.example", &[Scope::pull("a")], at(10))
                .is_none()
        );
        assert!(cache.get("other.example", &scopes, at(10)).is_none());
    }

    #[test]
    fn stale_tokens_are_not_returned_and_are_dropped() {
        let cache = TokenCache::new();
        let scopes = [Scope::pull("a")];
        cache.insert("r", &scopes, token("t1", 0, 60));
        // Margin is 6 s for a 60 s token.
        assert!(cache.get("r", &scopes, at(53)).is_some());
        assert!(cache.get("r", &scopes, at(54)).is_none());
        // Dropped: not found even when asked with an earlier clock.
        assert!(cache.get("r", &scopes, at(0)).is_none());
    }

    #[test]
    fn invalidate_registry_forgets_every_scope_set_of_that_registry_only() {
        let cache = TokenCache::new();
        cache.insert("r", &[Scope::pull("a")], token("t1", 0, 300));
        cache.insert("r", &[Scope::pull("b")], token("t2", 0, 300));
        cache.insert("s", &[Scope::pull("a")], token("t3", 0, 300));

        assert_eq!(cache.invalidate_registry("R"), 2);
        assert!(cache.get("r", &[Scope::pull("a")], at(1)).is_none());
        assert!(cache.get("r", &[Scope::pull("b")], at(1)).is_none());
        assert!(cache.get("s", &[Scope::pull("a")], at(1)).is_some());
        assert_eq!(cache.invalidate_registry("r"), 0);
    }

    #[test]
    fn insert_replaces_the_previous_token() {
        let cache = TokenCache::new();
        cache.insert("r", &[Scope::pull("a")], token("old", 0, 300));
        cache.insert("r", &[Scope::pull("a")], token("new", 0, 300));
        let hit = cache.get("r", &[Scope::pull("a")], at(1)).unwrap();
        assert_eq!(hit.value.expose(), "new");
    }

    #[test]
    fn insufficient_scope_challenge_adds_its_scope() {
        let challenges = parse_challenges([
            r#"Bearer realm="https://auth.example/token",service="s",scope="repository:team/app:pull,push",error="insufficient_scope""#,
        ])
        .unwrap();
        let challenge = BearerChallenge::from_challenge(&challenges[0]).unwrap();
        let current = [Scope::pull("team/app"), Scope::pull("team/base")];
        let scopes = scopes_after_challenge(&current, &challenge);
        assert_eq!(
            scopes,
            [
                Scope::new("repository", "team/app", ["pull", "push"]),
                Scope::pull("team/base"),
            ]
        );
    }

    #[test]
    fn reauthentication_answers_401_and_ecr_403() {
        let ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
        assert!(should_reauthenticate(401, "ghcr.io"));
        assert!(should_reauthenticate(403, ecr));
        assert!(!should_reauthenticate(403, "ghcr.io"));
        for status in [200, 400, 404, 429, 500] {
            assert!(!should_reauthenticate(status, ecr), "{status}");
        }
    }

    #[test]
    fn ecr_hosts() {
        for host in [
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.DKR.ECR.eu-west-3.amazonaws.com:443",
            "123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com",
            "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.",
        ] {
            assert!(is_ecr_host(host), "{host}");
        }
        for host in [
            "public.ecr.aws",
            "ecr.amazonaws.com",
            "dkr.ecr.us-east-1.amazonaws.com",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com.evil.example",
            "123456789012.dkr.ecr.us-east-1.notamazonaws.com",
            "x.123456789012.dkr.ecr.us-east-1.amazonaws.com",
            "ghcr.io",
        ] {
            assert!(!is_ecr_host(host), "{host}");
        }
    }
}
