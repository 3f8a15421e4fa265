//! `agent-sts start-dev`: the built-in policy, dev keys, and the walkthrough.

use std::net::SocketAddr;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::clock::UnixTime;
use crate::config::{Config, LoadError, SecretSource};
use crate::tokens::keys::{self, KeyError, KeyState, SigningAlg};

/// The policy start-dev serves: `examples/start-dev.toml` with its address
/// replaced by the one bound.
const POLICY: &str = include_str!("../../examples/start-dev.toml");

/// The dev client secret; its hash is in `examples/start-dev.toml`.
pub const DEV_CLIENT_SECRET: &str = "dev-secret-support-bot";

/// The walkthrough's sign-in: the public `interactive` client of
/// `examples/start-dev.toml` and one of its loopback redirect URIs.
pub const SIGN_IN_CLIENT: &str = "mcp-inspector";
pub const SIGN_IN_REDIRECT_URI: &str = "http://127.0.0.1:8976/callback";
/// A fixed PKCE pair for trying the flow by hand (RFC 7636 appendix B's
/// example): never a real client's, which draws a fresh verifier each time.
pub const SIGN_IN_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const SIGN_IN_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const SAMPLE_RESOURCE: &str = "https://mcp-gateway.example.com";

/// The `/authorize` URL the walkthrough tells to open in a browser.
pub fn sign_in_url(base: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", SIGN_IN_CLIENT)
        .append_pair("redirect_uri", SIGN_IN_REDIRECT_URI)
        .append_pair("code_challenge", SIGN_IN_CHALLENGE)
        .append_pair("code_challenge_method", "S256")
        .append_pair("resource", SAMPLE_RESOURCE)
        .append_pair("state", "walkthrough")
        .finish();
    format!("{base}/authorize?{query}")
}

pub fn dev_config(addr: SocketAddr, data_dir: &Path, keys_dir: &Path) -> Result<Config, LoadError> {
    let origin = "examples/start-dev.toml (built in)";
    let text = POLICY.replace("127.0.0.1:8080", &addr.to_string());
    let mut config = Config::parse(&text, origin)?;
    config.storage.database_url =
        SecretSource::Literal(format!("sqlite://{}/dev.db?mode=rwc", data_dir.display()));
    config.keys.dir = keys_dir.to_path_buf();
    config.dev_mode = true;
    config.validate().map_err(|errors| LoadError::Invalid {
        origin: origin.into(),
        errors,
    })?;
    Ok(config)
}

/// Make sure `dir` has a key that signs now; generate an ES256 one if not.
/// Returns the signing kid and whether it was just made.
pub fn ensure_dev_keys(dir: &Path, now: UnixTime) -> Result<(String, bool), KeyError> {
    keys::ensure_dir(dir)?;
    let existing = keys::load_dir(dir)?;
    if let Some(k) = existing
        .iter()
        .rev()
        .find(|k| k.state(now) == KeyState::Active)
    {
        return Ok((k.kid.clone(), false));
    }
    let key = keys::generate_first(dir, SigningAlg::Es256, now)?;
    Ok((key.kid, true))
}

/// What start-dev prints: copy-pasteable commands against `base`.
pub fn walkthrough(base: &str, data_dir: &Path, keys_dir: &Path) -> String {
    format!(
        r#"
agent-sts start-dev is serving {base}
  mode: development only (built-in dev IdP at {base}/dev/idp, SQLite in {data}, keys in {keys})
  policy: examples/start-dev.toml (agents "support-bot" and "mcp-inspector", resource https://mcp-gateway.example.com)

Try it:

  # Public signing keys (active first) and the server's metadata
  curl -s {base}/.well-known/jwks.json
  curl -s {base}/.well-known/oauth-authorization-server

  # Ready? (storage reachable, a signing key active)
  curl -s {base}/readyz

  # A user token from the dev IdP, Okta-shaped (try kind=entra too)
  curl -s {base}/dev/idp/mint -d kind=okta -d sub=alice@example.com -d groups=Support-Agents,Everyone

  # The agent's own workload token (a Kubernetes service-account token)
  curl -s {base}/dev/idp/mint -d kind=workload -d sub=agents/support-bot

  # The agent's client credentials: support-bot / {secret}
  # OBO: exchange the user's token for an agent token
  USER=$(curl -s {base}/dev/idp/mint -d kind=okta -d sub=alice@example.com -d groups=Support-Agents,Everyone | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -s -u support-bot:{secret} {base}/token \
    -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
    -d subject_token=$USER -d subject_token_type=urn:ietf:params:oauth:token-type:access_token \
    -d resource=https://mcp-gateway.example.com

  # Hybrid: add the agent's workload token as the actor
  AGENT=$(curl -s {base}/dev/idp/mint -d kind=workload -d sub=agents/support-bot | sed 's/.*"token":"\([^"]*\)".*/\1/')
  curl -s -u support-bot:{secret} {base}/token \
    -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
    -d subject_token=$USER -d subject_token_type=urn:ietf:params:oauth:token-type:access_token \
    -d actor_token=$AGENT -d actor_token_type=urn:ietf:params:oauth:token-type:jwt \
    -d resource=https://mcp-gateway.example.com

  # Enterprise-managed authorization (SEP-990), both legs against this server:
  # leg 1, the user's token for an ID-JAG addressed to an authorization server ...
  JAG=$(curl -s -u support-bot:{secret} {base}/token \
    -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
    -d requested_token_type=urn:ietf:params:oauth:token-type:id-jag \
    -d subject_token=$USER -d subject_token_type=urn:ietf:params:oauth:token-type:access_token \
    -d audience={base} -d resource=https://mcp-gateway.example.com \
    | sed 's/.*"access_token":"\([^"]*\)".*/\1/')
  # ... leg 2, the ID-JAG for an access token there (pattern id_jag)
  curl -s -u support-bot:{secret} {base}/token \
    -d grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer -d assertion=$JAG

  # The MCP gateway introspects an agent token (put one in $AT)
  curl -s -u mcp-gateway:dev-secret-mcp-gateway {base}/introspect -d token=$AT

  # "Alice quits": revoke every token of a user, then read the audit trail
  curl -s -H 'Authorization: Bearer dev-admin-credential' {base}/admin/revocations -d '{{"subject":"<sub of the token>"}}' -H 'content-type: application/json'
  curl -s -H 'Authorization: Bearer dev-admin-credential' '{base}/admin/audit?limit=5'

  # An MCP client's sign-in (pattern interactive, client "{client}"): open this URL in your browser
  {sign_in}
  # Pick a user at the dev IdP (alice gets the scopes; bob lacks the group and is refused).
  # The browser then lands on {redirect}?code=...: nothing listens there, copy the code
  # from the address bar and redeem it within 60 s with the verifier of that PKCE challenge:
  CODE=<the code>
  curl -s {base}/token -d grant_type=authorization_code -d client_id={client} \
    -d code=$CODE -d redirect_uri={redirect} \
    -d code_verifier={verifier} -d resource={resource}

Stop with Ctrl-C.
"#,
        data = data_dir.display(),
        keys = keys_dir.display(),
        secret = DEV_CLIENT_SECRET,
        sign_in = sign_in_url(base),
        client = SIGN_IN_CLIENT,
        redirect = SIGN_IN_REDIRECT_URI,
        verifier = SIGN_IN_VERIFIER,
        resource = SAMPLE_RESOURCE,
    )
}

/// Run the walkthrough's two exchanges against the running server and
/// describe the decoded results: proof that the dev set-up works, and a
/// picture of what an agent token looks like.
pub async fn demo(base: &str) -> Result<String, String> {
    let http = crate::upstream::fetch::client(&crate::config::OutboundConfig::default())?;
    let mint = |form: &'static [(&'static str, &'static str)]| {
        let http = http.clone();
        let url = format!("{base}/dev/idp/mint");
        async move {
            let v: serde_json::Value = http
                .post(url)
                .form(form)
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            v["token"]
                .as_str()
                .map(str::to_string)
                .ok_or("the dev IdP minted nothing".to_string())
        }
    };
    let user = mint(&[
        ("kind", "okta"),
        ("sub", "alice@example.com"),
        ("groups", "Support-Agents,Everyone"),
    ])
    .await?;
    let workload = mint(&[("kind", "workload"), ("sub", "agents/support-bot")]).await?;
    let mut out = String::new();
    for (title, actor) in [("OBO", None), ("hybrid", Some(workload.as_str()))] {
        let mut form = vec![
            ("grant_type", crate::metadata::GRANT_TOKEN_EXCHANGE),
            ("subject_token", user.as_str()),
            (
                "subject_token_type",
                crate::metadata::TOKEN_TYPE_ACCESS_TOKEN,
            ),
            ("resource", "https://mcp-gateway.example.com"),
        ];
        if let Some(a) = actor {
            form.extend([
                ("actor_token", a),
                ("actor_token_type", crate::metadata::TOKEN_TYPE_JWT),
            ]);
        }
        let res: serde_json::Value = http
            .post(format!("{base}/token"))
            .basic_auth("support-bot", Some(DEV_CLIENT_SECRET))
            .form(&form)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let token = res["access_token"]
            .as_str()
            .ok_or_else(|| format!("the {title} exchange was refused: {res}"))?;
        out.push_str(&format!(
            "\n{title} exchange for alice@example.com → {}:\n",
            res["scope"]
        ));
        for part in token.split('.').take(2) {
            let decoded = URL_SAFE_NO_PAD.decode(part).map_err(|e| e.to_string())?;
            let v: serde_json::Value =
                serde_json::from_slice(&decoded).map_err(|e| e.to_string())?;
            out.push_str(&serde_json::to_string_pretty(&v).map_err(|e| e.to_string())?);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_config_is_valid_and_follows_the_bound_address() {
        let addr: SocketAddr = "127.0.0.1:18099".parse().unwrap();
        let c = dev_config(addr, Path::new("/tmp/d"), Path::new("/tmp/k")).unwrap();
        assert_eq!(c.issuer, "http://127.0.0.1:18099");
        assert_eq!(
            c.upstreams[0].issuer,
            "http://127.0.0.1:18099/dev/idp/okta/oauth2/default"
        );
        assert!(c.dev_mode);
        assert_eq!(c.agents[0].id, "support-bot");
    }

    #[test]
    fn dev_secret_matches_the_policy_hash() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let c = dev_config(addr, Path::new("d"), Path::new("k")).unwrap();
        let hex = crate::digest::sha256_hex(DEV_CLIENT_SECRET.as_bytes());
        assert_eq!(
            c.agents[0].client.secret_sha256.as_deref(),
            Some(hex.as_str())
        );
    }

    #[test]
    fn the_dev_idp_knows_the_login_the_policy_gives_agent_sts() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let c = dev_config(addr, Path::new("d"), Path::new("k")).unwrap();
        let login = c.upstreams[0].login.as_ref().expect("dev-okta has a login");
        assert_eq!(login.client_id, crate::dev::idp::DEV_LOGIN_CLIENT_ID);
        assert_eq!(
            login.client_secret,
            SecretSource::Literal(crate::dev::idp::DEV_LOGIN_CLIENT_SECRET.into())
        );
    }

    #[test]
    fn the_walkthrough_sign_in_fits_the_policy() {
        let addr: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let c = dev_config(addr, Path::new("d"), Path::new("k")).unwrap();
        let agent = c.agents.iter().find(|a| a.id == SIGN_IN_CLIENT).unwrap();
        assert_eq!(agent.client.id, SIGN_IN_CLIENT);
        // Loopback: the registered URI admits any port (RFC 8252 §7.3).
        let any_port = SIGN_IN_REDIRECT_URI.replace(":8976", "");
        assert!(agent.client.redirect_uris.contains(&any_port));
        assert_eq!(
            crate::authorization::code_challenge_of(SIGN_IN_VERIFIER),
            SIGN_IN_CHALLENGE
        );
        assert_eq!(
            sign_in_url("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/authorize?response_type=code&client_id=mcp-inspector\
             &redirect_uri=http%3A%2F%2F127.0.0.1%3A8976%2Fcallback\
             &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256\
             &resource=https%3A%2F%2Fmcp-gateway.example.com&state=walkthrough"
        );
    }

    #[test]
    fn dev_keys_are_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let (kid, made) = ensure_dev_keys(dir.path(), 1_000).unwrap();
        assert!(made);
        assert_eq!(ensure_dev_keys(dir.path(), 2_000).unwrap(), (kid, false));
    }
}
