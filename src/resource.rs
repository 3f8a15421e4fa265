//! Resource indicators (RFC 8707) compared as URIs, not as strings.
//!
//! Two spellings of one resource are one resource: RFC 3986 §6.2.2
//! (syntax-based: scheme and host case, percent-encoding case, unreserved
//! characters decoded) and §6.2.3 (scheme-based: the default port dropped,
//! an empty `http`/`https` path is `/`). The MCP TypeScript SDK asks for
//! `https://mcp.example.com/` where the Python SDK asks for
//! `https://mcp.example.com`; both name the same server.
//!
//! The configured spelling is what a token's `aud` carries: the policy maps
//! every requested or configured spelling to the declared resource's own
//! (`Policy::resource`), so no hot path compares normalised forms.

/// The normal form of `uri`, or `None` when it is not an absolute URI.
pub fn normalize(uri: &str) -> Option<String> {
    let mut u = url::Url::parse(uri).ok()?;
    // The url crate lowercases the scheme and, for http(s), the host; it
    // drops default ports and writes an empty http(s) path as `/`. Hosts
    // of other schemes keep their case there; RFC 3986 §3.2.2 says they
    // are case-insensitive all the same.
    if let Some(host) = u.host_str()
        && host.bytes().any(|b| b.is_ascii_uppercase())
    {
        let lower = host.to_ascii_lowercase();
        u.set_host(Some(&lower)).ok()?;
    }
    Some(percent_normalized(u.as_str()))
}

/// `%xx` as `%XX`, and `%xx` of an unreserved character as the character
/// (RFC 3986 §6.2.2.2).
fn percent_normalized(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| hex_value(*c)),
                bytes.get(i + 2).and_then(|c| hex_value(*c)),
            )
        {
            let decoded = h * 16 + l;
            if decoded.is_ascii_alphanumeric() || matches!(decoded, b'-' | b'.' | b'_' | b'~') {
                out.push(decoded as char);
            } else {
                out.push('%');
                out.push(hex_digit(h));
                out.push(hex_digit(l));
            }
            i += 3;
            continue;
        }
        // `s` is a serialised URL: ASCII only.
        out.push(b as char);
        i += 1;
    }
    out
}

fn hex_value(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

fn hex_digit(v: u8) -> char {
    char::from_digit(u32::from(v), 16)
        .unwrap_or('0')
        .to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::normalize;

    #[test]
    fn one_resource_however_it_is_spelled() {
        let same = [
            ("https://mcp.example.com", "https://mcp.example.com/"),
            ("https://mcp.example.com/", "https://mcp.example.com/"),
            ("HTTPS://MCP.Example.COM", "https://mcp.example.com/"),
            ("https://mcp.example.com:443/", "https://mcp.example.com/"),
            ("http://mcp.example.com:80", "http://mcp.example.com/"),
            (
                "https://mcp.example.com:8443",
                "https://mcp.example.com:8443/",
            ),
            (
                "https://api.example.com/a%2fb",
                "https://api.example.com/a%2Fb",
            ),
            (
                "https://api.example.com/%7euser",
                "https://api.example.com/~user",
            ),
            (
                "https://api.example.com/%41%42c",
                "https://api.example.com/ABc",
            ),
            ("api://Default", "api://default"),
            ("urn:example:resource", "urn:example:resource"),
        ];
        for (given, normal) in same {
            assert_eq!(normalize(given).as_deref(), Some(normal), "{given}");
        }
    }

    #[test]
    fn different_resources_stay_different() {
        let pairs = [
            ("https://mcp.example.com/", "https://mcp.example.com/mcp"),
            (
                "https://mcp.example.com/mcp",
                "https://mcp.example.com/mcp/",
            ),
            ("https://mcp.example.com/Mcp", "https://mcp.example.com/mcp"),
            ("http://mcp.example.com/", "https://mcp.example.com/"),
            ("https://mcp.example.com:8443/", "https://mcp.example.com/"),
            (
                "https://api.example.com/a%2Fb",
                "https://api.example.com/a/b",
            ),
        ];
        for (a, b) in pairs {
            assert_ne!(normalize(a), normalize(b), "{a} vs {b}");
        }
    }

    #[test]
    fn not_a_uri_is_none() {
        for bad in ["", "mcp.example.com", "/relative", "https://"] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }
}
