//! Redaction of URLs before they appear in errors and logs.
//!
//! Registry URLs can carry secrets in two places: the user-info part
//! (`https://user:pass@host/`) and the query string (pre-signed CDN and S3 URLs carry
//! signatures and security tokens, token realms may carry codes). Only query parameters
//! known to be harmless keep their values; every other value is replaced.

use url::Url;

/// What replaces a secret in a redacted URL.
const REDACTED: &str = "REDACTED";

/// Query parameters whose values are never secret and help when reading a log.
const PUBLIC_QUERY_PARAMS: &[&str] = &["scope", "service", "n", "last", "digest", "ns"];

/// Returns `url` as a string with user name, password and every query value that is not
/// known to be public replaced by `REDACTED`. The fragment is dropped.
pub fn redact_url(url: &Url) -> String {
    let mut url = url.clone();
    url.set_fragment(None);
    if !url.username().is_empty() {
        // Setting credentials fails only for URLs that cannot have them (e.g. `data:`),
        // which have none to hide.
        let _ = url.set_username(REDACTED);
    }
    if url.password().is_some() {
        let _ = url.set_password(Some(REDACTED));
    }
    if url.query().is_some() {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(name, value)| {
                let keep = PUBLIC_QUERY_PARAMS
                    .iter()
                    .any(|public| name.eq_ignore_ascii_case(public));
                let value = if keep {
                    value.into_owned()
                } else {
                    REDACTED.to_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Redacts a URL given as a string; a string that does not parse is reduced to its
/// scheme and host-looking prefix so that nothing after it can leak.
pub fn redact_url_str(url: &str) -> String {
    if let Ok(parsed) = Url::parse(url) {
        return redact_url(&parsed);
    }
    let end = url.find(['?', '#', '@']).unwrap_or(url.len());
    let mut prefix = url[..end].to_owned();
    if end < url.len() {
        prefix.push_str("…(redacted)");
    }
    prefix
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn redact(input: &str) -> String {
        redact_url(&Url::parse(input).unwrap())
    }

    #[test]
    fn user_info_is_hidden() {
        let out = redact("https://alice:s3cret@registry.example/v2/");
        assert!(!out.contains("alice"), "{out}");
        assert!(!out.contains("s3cret"), "{out}");
        assert_eq!(out, "https://REDACTED:REDACTED@registry.example/v2/");
    }

    #[test]
    fn presigned_query_values_are_hidden_and_public_ones_kept() {
        let out = redact(
            "https://bucket.s3.amazonaws.com/blob?X-Amz-Signature=abcdef&X-Amz-Security-Token=tok&X-Amz-Expires=300",
        );
        assert!(!out.contains("abcdef"), "{out}");
        assert!(!out.contains("=tok"), "{out}");
        assert!(out.contains("X-Amz-Signature=REDACTED"), "{out}");

        let out = redact(
            "https://auth.docker.io/token?service=registry.docker.io&scope=repository%3Alibrary%2Fnginx%3Apull&code=xyz",
        );
        assert!(out.contains("service=registry.docker.io"), "{out}");
        assert!(
            out.contains("scope=repository%3Alibrary%2Fnginx%3Apull"),
            "{out}"
        );
        assert!(out.contains("code=REDACTED"), "{out}");
    }

    #[test]
    fn fragment_dropped_and_plain_urls_unchanged() {
        assert_eq!(
            redact("https://ghcr.io/v2/o/r/tags/list?n=100&last=v1#frag"),
            "https://ghcr.io/v2/o/r/tags/list?n=100&last=v1"
        );
        assert_eq!(
            redact("http://127.0.0.1:5000/v2/"),
            "http://127.0.0.1:5000/v2/"
        );
    }

    #[test]
    fn unparsable_urls_are_cut_before_secrets() {
        assert_eq!(
            redact_url_str("not a url?token=abc"),
            "not a url…(redacted)"
        );
        assert_eq!(redact_url_str("plain"), "plain");
    }
}
