//! Client ID Metadata Documents (the MCP way to name a client without
//! registering it): an `interactive` agent whose client id is an https URL
//! and which lists no `redirect_uris` gets them from the JSON document at
//! that URL. Only URLs the configuration names as a client id are ever
//! fetched (no other URL is admitted), within the outbound time limits, at
//! most 5 KiB, never from a private address, and cached for five minutes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use serde_json::Value;

use crate::clock::UnixTime;
#[cfg(test)]
use crate::config::is_document_url;
use crate::config::{check_redirect_uri, is_loopback};

/// A document is read up to this size.
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;
/// A fetched document's redirect URIs are trusted this long.
const CACHE_SECONDS: i64 = 300;

/// The documents fetched so far, by client id.
#[derive(Debug)]
pub struct ClientDocuments {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, (Vec<String>, UnixTime)>>,
}

impl ClientDocuments {
    pub fn new(http: reqwest::Client) -> Self {
        Self {
            http,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The redirect URIs the document at `client_id` names; `Err` says why
    /// it cannot be used.
    pub async fn redirect_uris(
        &self,
        client_id: &str,
        now: UnixTime,
    ) -> Result<Vec<String>, String> {
        if let Ok(cache) = self.cache.lock()
            && let Some((uris, until)) = cache.get(client_id)
            && *until > now
        {
            return Ok(uris.clone());
        }
        let url = url::Url::parse(client_id).map_err(|e| format!("not a URL: {e}"))?;
        refuse_private(&url).await?;
        let doc = crate::upstream::fetch::get_small_json(&self.http, client_id, MAX_DOCUMENT_BYTES)
            .await?;
        let uris = read(&doc, client_id)?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= 1_000 {
                cache.clear();
            }
            cache.insert(client_id.to_string(), (uris.clone(), now + CACHE_SECONDS));
        }
        Ok(uris)
    }
}

/// The document's own checks: it names itself, redirect URIs by the same
/// rules as configured ones, a public client.
fn read(doc: &Value, client_id: &str) -> Result<Vec<String>, String> {
    if doc.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err("its client_id is not the URL it was fetched from".into());
    }
    match doc
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
    {
        None | Some("none") => {}
        Some(_) => return Err("only public clients (token_endpoint_auth_method none)".into()),
    }
    let uris: Vec<String> = doc
        .get("redirect_uris")
        .and_then(Value::as_array)
        .map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if uris.is_empty() || uris.len() > 20 {
        return Err("redirect_uris must list 1 to 20 URIs".into());
    }
    for u in &uris {
        check_redirect_uri(u)?;
    }
    Ok(uris)
}

/// A document on a private network is never fetched (the loopback
/// interface is, as for every configured URL, for local use and tests).
async fn refuse_private(url: &url::Url) -> Result<(), String> {
    if is_loopback(url) {
        return Ok(());
    }
    let host = url.host_str().ok_or("no host")?;
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("its host does not resolve: {e}"))?;
    for a in addrs {
        if is_private(a.ip()) {
            return Err(format!(
                "its host resolves to a private address ({})",
                a.ip()
            ));
        }
    }
    Ok(())
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn private_addresses_are_private() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn a_document_names_itself_and_its_redirect_uris() {
        let id = "https://app.example.com/client.json";
        let ok = json!({"client_id": id, "redirect_uris": ["http://127.0.0.1/cb"]});
        assert_eq!(read(&ok, id), Ok(vec!["http://127.0.0.1/cb".to_string()]));
        let cases = [
            (
                json!({"client_id": "https://other/", "redirect_uris": ["http://127.0.0.1/cb"]}),
                "its client_id is not the URL it was fetched from",
            ),
            (
                json!({"client_id": id, "redirect_uris": []}),
                "redirect_uris must list 1 to 20 URIs",
            ),
            (
                json!({"client_id": id, "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "client_secret_basic"}),
                "only public clients (token_endpoint_auth_method none)",
            ),
            (
                json!({"client_id": id, "redirect_uris": ["http://evil.example.com/cb"]}),
                "\"http://evil.example.com/cb\": http only on the loopback interface (127.0.0.1 or [::1])",
            ),
        ];
        for (doc, why) in cases {
            assert_eq!(read(&doc, id), Err(why.to_string()), "{doc}");
        }
        assert!(is_document_url(id));
        assert!(!is_document_url("https://app.example.com/"));
        assert!(!is_document_url("desk"));
        assert!(!is_document_url("http://app.example.com/client.json"));
    }
}
