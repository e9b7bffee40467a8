//! Tag listing (`/v2/<name>/tags/list`) with `Link` pagination.

use imgpull_reference::Reference;
use reqwest::Method;
use reqwest::header::{self, HeaderMap};
use serde::Deserialize;

use crate::body::read_capped;
use crate::client::{Client, Request};
use crate::error::RegistryError;
use crate::redact::redact_url;

/// The largest tag list page accepted.
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// The most pages followed.
const MAX_PAGES: usize = 10_000;

/// The most bytes of tag list pages read for one listing, so that a server that paginates
/// without end cannot fill the memory.
const MAX_LIST_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Deserialize)]
struct TagPage {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

impl Client {
    /// Lists the tags of the reference's repository, following `Link: <…>; rel="next"`
    /// pagination to the end (a link back to a page already read ends it; more than 64 MiB
    /// of pages is [`RegistryError::TooLarge`]). Asks the registry itself (mirrors are for
    /// pulls).
    pub async fn tags(&self, reference: &Reference) -> Result<Vec<String>, RegistryError> {
        let endpoints = self.endpoints(reference.registry(), reference.api_host());
        let Some(endpoint) = endpoints.into_iter().find(|endpoint| !endpoint.mirror) else {
            return Ok(Vec::new());
        };
        let ping = self.ping(&endpoint).await?;
        let mut url = ping.url(&format!("/v2/{}/tags/list", reference.repository()))?;
        let mut tags = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut read = 0_usize;
        for _ in 0..MAX_PAGES {
            seen.insert(url.clone());
            let request = Request {
                method: Method::GET,
                url: url.clone(),
                headers: HeaderMap::new(),
                repository: Some(reference.repository()),
            };
            let request = &request;
            let ping = &ping;
            let (body, link) = self
                .with_retries(&self.inner.retry, move || async move {
                    let response = self.send_authenticated(ping, request).await?;
                    let link: Vec<String> = response
                        .headers()
                        .get_all(header::LINK)
                        .iter()
                        .filter_map(|v| v.to_str().ok().map(str::to_owned))
                        .collect();
                    Ok((read_capped(response, MAX_PAGE_BYTES).await?, link))
                })
                .await?;
            read += body.len();
            if read > MAX_LIST_BYTES {
                return Err(RegistryError::TooLarge {
                    url: redact_url(&url),
                    limit: MAX_LIST_BYTES as u64,
                });
            }
            let page: TagPage =
                serde_json::from_slice(&body).map_err(|e| RegistryError::InvalidResponse {
                    what: "tag list",
                    url: redact_url(&url),
                    reason: e.to_string(),
                })?;
            tags.extend(page.tags.unwrap_or_default());
            let next = link.iter().find_map(|value| next_link(value));
            match next {
                Some(next) => {
                    let next = url.join(&next).map_err(|e| RegistryError::InvalidUrl {
                        url: crate::redact::redact_url_str(&next),
                        reason: e.to_string(),
                    })?;
                    // A link back to a page already read ends the listing.
                    if seen.contains(&next) {
                        break;
                    }
                    url = next;
                }
                None => return Ok(tags),
            }
        }
        Ok(tags)
    }
}

/// The target of the `rel="next"` link in a `Link` header value (RFC 8288), if any.
pub(crate) fn next_link(value: &str) -> Option<String> {
    let mut rest = value;
    loop {
        let open = rest.find('<')?;
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        let params_end = rest[close..].find('<').map_or(rest.len(), |i| close + i);
        let params = &rest[close + 1..params_end];
        let is_next = params.split(';').any(|param| {
            let Some((name, value)) = param.split_once('=') else {
                return false;
            };
            name.trim().eq_ignore_ascii_case("rel")
                && value
                    .trim()
                    .trim_end_matches(',')
                    .trim()
                    .trim_matches('"')
                    .split_ascii_whitespace()
                    .any(|rel| rel.eq_ignore_ascii_case("next"))
        });
        if is_next {
            return Some(target.to_owned());
        }
        rest = &rest[params_end..];
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use url::Url;

    #[test]
    fn next_links() {
        assert_eq!(
            next_link(r#"</v2/r/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/r/tags/list?n=2&last=b")
        );
        assert_eq!(
            next_link(r#"<https://x/prev>; rel="prev", <https://x/next>; rel=next"#).as_deref(),
            Some("https://x/next")
        );
        assert_eq!(next_link(r#"<https://x/prev>; rel="prev""#), None);
        assert_eq!(next_link("garbage"), None);
        let base = Url::parse("https://ghcr.io/v2/o/r/tags/list").unwrap();
        assert_eq!(
            base.join("/v2/o/r/tags/list?last=a").unwrap().as_str(),
            "https://ghcr.io/v2/o/r/tags/list?last=a"
        );
    }
}
