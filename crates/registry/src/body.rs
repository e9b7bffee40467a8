//! Reading small response bodies with a hard size cap.

use reqwest::Response;

use crate::error::RegistryError;
use crate::redact::redact_url;

/// Reads a whole body of at most `limit` bytes. The cap is enforced while streaming, so a
/// server that lies in `Content-Length` or sends an endless body costs at most `limit`
/// bytes of memory; a body that ends before its `Content-Length` is [`RegistryError::Truncated`].
pub(crate) async fn read_capped(
    mut response: Response,
    limit: usize,
) -> Result<Vec<u8>, RegistryError> {
    let url = response.url().clone();
    let announced = response.content_length();
    if announced.is_some_and(|length| length > limit as u64) {
        return Err(RegistryError::TooLarge {
            url: redact_url(&url),
            limit: limit as u64,
        });
    }
    let mut body = Vec::with_capacity(announced.map_or(0, |n| usize::try_from(n).unwrap_or(0)));
    loop {
        let chunk = response.chunk().await.map_err(|e| {
            RegistryError::network(&reqwest::Method::GET, &url, "reading the body", e)
        })?;
        let Some(chunk) = chunk else { break };
        if body.len() + chunk.len() > limit {
            return Err(RegistryError::TooLarge {
                url: redact_url(&url),
                limit: limit as u64,
            });
        }
        body.extend_from_slice(&chunk);
    }
    if let Some(expected) = announced
        && (body.len() as u64) < expected
    {
        return Err(RegistryError::Truncated {
            url: redact_url(&url),
            received: body.len() as u64,
            expected,
        });
    }
    Ok(body)
}
