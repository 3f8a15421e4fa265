//! The dev IdP's sign-in page and its error page. Every value a request
//! brought is HTML-escaped before it is written, attribute or text alike;
//! the pages need no JavaScript.

use super::DevIdp;
use super::login::{SAMPLE_USERS, SignIn};

/// Text made safe for HTML text and quoted attribute values.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const HEAD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>agent-sts dev IdP: sign in</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}label{display:block;margin:.5em 0}</style>
</head>
<body>
<h1>agent-sts dev IdP</h1>
<p><strong>start-dev only.</strong> Not a real identity provider: no password, and
every token it signs says so in its <code>agent_sts_dev_idp</code> claim.</p>
"#;

/// The page shown when a sign-in cannot go on (status 400).
pub fn error_page(message: &str) -> String {
    format!(
        "{HEAD}<h2>This sign-in cannot go on</h2>\n<p>{}</p>\n</body></html>\n",
        escape(message)
    )
}

impl DevIdp {
    /// The page of a checked request: the request again as hidden fields,
    /// one radio button per sample user, one button.
    pub(super) fn sign_in_page(&self, r: &SignIn) -> String {
        let mut hidden = vec![
            ("response_type", "code"),
            ("client_id", r.client_id.as_str()),
            ("redirect_uri", r.redirect_uri.as_str()),
            ("code_challenge", r.code_challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        let scope = r.scopes.join(" ");
        hidden.push(("scope", &scope));
        for (name, value) in [("state", &r.state), ("nonce", &r.nonce)] {
            if let Some(v) = value {
                hidden.push((name, v));
            }
        }
        let mut html = String::from(HEAD);
        html.push_str(&format!(
            "<h2>Sign in</h2>\n<p><code>{}</code> asks who you are (scopes <code>{}</code>); \
             you go back to <code>{}</code>.</p>\n<form method=\"post\" action=\"{}\">\n",
            escape(&r.client_id),
            escape(&scope),
            escape(&r.redirect_uri),
            escape(&format!("{}/authorize", self.base)),
        ));
        for (name, value) in hidden {
            html.push_str(&format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
                escape(name),
                escape(value)
            ));
        }
        let hinted = SAMPLE_USERS
            .iter()
            .position(|u| r.login_hint.as_deref() == Some(u.login))
            .unwrap_or(0);
        html.push_str("<fieldset><legend>Sign in as</legend>\n");
        for (i, u) in SAMPLE_USERS.iter().enumerate() {
            html.push_str(&format!(
                "<label><input type=\"radio\" name=\"user\" value=\"{}\"{}> <strong>{}</strong> \
                 (groups {}): {}</label>\n",
                escape(u.id),
                if i == hinted { " checked" } else { "" },
                escape(u.login),
                escape(&u.groups.join(", ")),
                escape(u.note),
            ));
        }
        html.push_str("</fieldset>\n<p><button type=\"submit\">Sign in</button></p>\n</form>\n</body></html>\n");
        html
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_html_would_read_as_markup() {
        assert_eq!(
            escape(r#"<a href='x'>"&"</a>"#),
            "&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(escape("plain text"), "plain text");
    }

    #[test]
    fn the_page_escapes_the_request_it_echoes() {
        let idp = DevIdp::new("http://127.0.0.1:8080/dev/idp", 0).unwrap();
        let request = SignIn {
            client_id: "agent-sts-dev".into(),
            redirect_uri: "http://127.0.0.1:8080/authorize/callback".into(),
            state: Some(r#""><script>alert(1)</script>"#.into()),
            nonce: Some("n'1".into()),
            code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            scopes: vec!["openid".into()],
            login_hint: Some("bob@example.com".into()),
        };
        let html = idp.sign_in_page(&request);
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains(r#"value="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;""#));
        assert!(html.contains(r#"value="n&#39;1""#));
        assert!(
            html.contains(r#"value="bob" checked"#),
            "login_hint preselects"
        );
        assert!(html.contains(r#"action="http://127.0.0.1:8080/dev/idp/authorize""#));
    }
}
