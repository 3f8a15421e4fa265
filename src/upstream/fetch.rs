//! Outbound HTTP to identity providers and clients' `jwks_uri`: bounded
//! time, bounded size (counted while reading, not after), no redirects (a
//! redirect could lead key fetching to another host).

use std::time::Duration;

use serde_json::Value;

use crate::config::OutboundConfig;

/// Documents larger than this (discovery, JWKS, introspection) are refused.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// A client bounded by `[outbound]`: connect and whole-call timeouts, a
/// small keep-alive pool per IdP host.
pub fn client(outbound: &OutboundConfig) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(outbound.connect_timeout.duration())
        .timeout(outbound.timeout.duration())
        .pool_idle_timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("agent-sts/", env!("CARGO_PKG_VERSION")))
        .pool_max_idle_per_host(outbound.max_idle_per_host)
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}

/// A JSON document and its `Cache-Control: max-age`, if any.
pub struct Fetched {
    pub body: Value,
    pub max_age: Option<u64>,
}

pub async fn read_json(resp: reqwest::Response) -> Result<Fetched, String> {
    let status = resp.status();
    if !status.is_success() {
        return Err(format!("answered HTTP {}", status.as_u16()));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(format!("document larger than {MAX_DOCUMENT_BYTES} bytes"));
    }
    let max_age = resp
        .headers()
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(parse_max_age);
    let bytes = read_capped(resp, MAX_DOCUMENT_BYTES).await?;
    let body = serde_json::from_slice(&bytes).map_err(|_| "the answer is not JSON".to_string())?;
    Ok(Fetched { body, max_age })
}

/// The body, read chunk by chunk and dropped as soon as it passes `cap`:
/// an answer that never ends (chunked, no length) costs at most `cap`
/// bytes of memory, never what the other side chooses to send.
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > cap {
            return Err(format!("document larger than {cap} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

pub async fn get_json(client: &reqwest::Client, url: &str) -> Result<Fetched, String> {
    let resp = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| describe(&e))?;
    read_json(resp).await
}

/// A small JSON document (a client's metadata document): at most `cap`
/// bytes, counted while reading.
pub async fn get_small_json(
    client: &reqwest::Client,
    url: &str,
    cap: usize,
) -> Result<Value, String> {
    let resp = client
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| describe(&e))?;
    if !resp.status().is_success() {
        return Err(format!("answered HTTP {}", resp.status().as_u16()));
    }
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(format!("document larger than {cap} bytes"));
    }
    let bytes = read_capped(resp, cap).await?;
    serde_json::from_slice(&bytes).map_err(|_| "the answer is not JSON".to_string())
}

/// A transport error without the URL's query (reqwest includes the URL).
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_decode() || e.is_body() {
        "the answer could not be read".into()
    } else {
        "the request failed".into()
    }
}

fn parse_max_age(cc: &str) -> Option<u64> {
    cc.split(',')
        .map(str::trim)
        .find_map(|d| d.strip_prefix("max-age="))
        .and_then(|v| v.trim_matches('"').parse().ok())
}

#[cfg(test)]
mod tests {
    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(super::parse_max_age("public, max-age=3600"), Some(3600));
        assert_eq!(
            super::parse_max_age("max-age=\"60\", must-revalidate"),
            Some(60)
        );
        assert_eq!(super::parse_max_age("no-cache"), None);
    }
}
