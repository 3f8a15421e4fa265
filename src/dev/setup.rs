//! `agent-sts start-dev`: the built-in policy, dev keys, and the walkthrough.

use std::net::SocketAddr;
use std::path::Path;

use crate::clock::UnixTime;
use crate::config::{Config, LoadError, SecretSource};
use crate::tokens::keys::{self, KeyError, KeyState, SigningAlg};

/// The policy start-dev serves: `examples/start-dev.toml` with its address
/// replaced by the one bound.
const POLICY: &str = include_str!("../../examples/start-dev.toml");

/// The dev client secret; its hash is in `examples/start-dev.toml`.
pub const DEV_CLIENT_SECRET: &str = "dev-secret-support-bot";

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
  policy: examples/start-dev.toml (agent "support-bot", resource https://mcp-gateway.example.com)

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

Stop with Ctrl-C.
"#,
        data = data_dir.display(),
        keys = keys_dir.display(),
        secret = DEV_CLIENT_SECRET,
    )
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
        let hash = ring::digest::digest(&ring::digest::SHA256, DEV_CLIENT_SECRET.as_bytes());
        let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            c.agents[0].client.secret_sha256.as_deref(),
            Some(hex.as_str())
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
