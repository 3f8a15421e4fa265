//! Signing keys on disk. One JSON file per key (`<kid>.json`, mode 0600)
//! holds the private JWK and the key's validity times; its state is derived
//! from those times and the clock, never stored:
//!
//! ```text
//!   now < activates_at                          next     published, not signing
//!   activates_at <= now < deactivates_at        active   published, signing
//!   deactivates_at <= now < + RETIRE_GRACE      retired  published, verifies only
//!   later                                       expired  gone from the JWKS
//! ```
//!
//! `RETIRE_GRACE` is the longest token lifetime plus skew, so a retired key
//! stays verifiable until every token it signed has expired.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jwk::alg::ec::EcCurve;
use josekit::jwk::alg::ed::EdCurve;
use serde::{Deserialize, Serialize};

use crate::clock::UnixTime;
use crate::jose::signer::Signer;
use crate::jose::verifier::Verifier;

/// Longest token lifetime (15 min) plus 60 s of verifier clock skew.
pub const RETIRE_GRACE: i64 = 15 * 60 + 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum SigningAlg {
    #[serde(rename = "ES256")]
    #[value(name = "ES256")]
    Es256,
    #[serde(rename = "EdDSA")]
    #[value(name = "EdDSA")]
    EdDsa,
    #[serde(rename = "RS256")]
    #[value(name = "RS256")]
    Rs256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }

    /// The same algorithm as a verifier names it.
    pub fn upstream(self) -> crate::config::UpstreamAlg {
        match self {
            Self::Es256 => crate::config::UpstreamAlg::ES256,
            Self::EdDsa => crate::config::UpstreamAlg::EdDSA,
            Self::Rs256 => crate::config::UpstreamAlg::RS256,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Next,
    Active,
    Retired,
    Expired,
}

impl KeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Active => "active",
            Self::Retired => "retired",
            Self::Expired => "expired",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{0}")]
    Other(String),
}

fn file_error(path: &Path, message: impl fmt::Display) -> KeyError {
    KeyError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// The on-disk form. Private: only this module reads or writes it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    kid: String,
    alg: SigningAlg,
    created_at: UnixTime,
    activates_at: UnixTime,
    #[serde(default)]
    deactivates_at: Option<UnixTime>,
    private_jwk: serde_json::Map<String, serde_json::Value>,
}

/// A loaded key: public JWK, signer and verifier built once.
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    pub created_at: UnixTime,
    pub activates_at: UnixTime,
    pub deactivates_at: Option<UnixTime>,
    pub public_jwk: serde_json::Value,
    signer: Signer,
    verifier: Verifier,
    private_jwk: serde_json::Map<String, serde_json::Value>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("activates_at", &self.activates_at)
            .field("deactivates_at", &self.deactivates_at)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key pair from OpenSSL's generator.
    pub fn generate(
        alg: SigningAlg,
        now: UnixTime,
        activates_at: UnixTime,
    ) -> Result<Self, KeyError> {
        let jwk = match alg {
            SigningAlg::Es256 => Jwk::generate_ec_key(EcCurve::P256),
            SigningAlg::EdDsa => Jwk::generate_ed_key(EdCurve::Ed25519),
            SigningAlg::Rs256 => Jwk::generate_rsa_key(2048),
        }
        .map_err(|e| KeyError::Other(format!("cannot generate a {} key: {e}", alg.as_str())))?;
        let private_jwk: serde_json::Map<_, _> = jwk.as_ref().clone();
        let kid = thumbprint(&private_jwk).map_err(KeyError::Other)?;
        Self::build(KeyFile {
            kid,
            alg,
            created_at: now,
            activates_at,
            deactivates_at: None,
            private_jwk,
        })
        .map_err(KeyError::Other)
    }

    fn build(file: KeyFile) -> Result<Self, String> {
        let kid = thumbprint(&file.private_jwk)?;
        if kid != file.kid {
            return Err(format!(
                "kid {} is not the key's RFC 7638 thumbprint {kid}",
                file.kid
            ));
        }
        let mut jwk =
            Jwk::from_map(file.private_jwk.clone()).map_err(|e| format!("bad private_jwk: {e}"))?;
        let mut public = jwk
            .to_public_key()
            .map_err(|e| format!("bad private_jwk: {e}"))?;
        for k in [&mut jwk, &mut public] {
            k.set_key_id(&kid);
            k.set_algorithm(file.alg.as_str());
            k.set_key_use("sig");
        }
        let signer = Signer::from_jwk(&jwk, file.alg.upstream())?;
        let verifier = Verifier::from_jwk(&public, file.alg.upstream())
            .ok_or_else(|| format!("the {} key cannot verify", file.alg.as_str()))?;
        Ok(Self {
            kid,
            alg: file.alg,
            created_at: file.created_at,
            activates_at: file.activates_at,
            deactivates_at: file.deactivates_at,
            public_jwk: serde_json::Value::Object(public.as_ref().clone()),
            signer,
            verifier,
            private_jwk: file.private_jwk,
        })
    }

    pub fn state(&self, now: UnixTime) -> KeyState {
        if now < self.activates_at {
            KeyState::Next
        } else if self.deactivates_at.is_none_or(|d| now < d) {
            KeyState::Active
        } else if self.deactivates_at.is_some_and(|d| now < d + RETIRE_GRACE) {
            KeyState::Retired
        } else {
            KeyState::Expired
        }
    }

    /// The last moment this key appears in the JWKS, if it is scheduled.
    pub fn published_until(&self) -> Option<UnixTime> {
        self.deactivates_at.map(|d| d + RETIRE_GRACE)
    }

    /// Sign `header.payload` (already base64url) with this key.
    pub fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, KeyError> {
        self.signer
            .sign(signing_input)
            .map_err(|e| KeyError::Other(format!("signing with {} failed: {e}", self.kid)))
    }

    pub fn verify(&self, signing_input: &[u8], signature: &[u8]) -> bool {
        self.verifier.verify(signing_input, signature)
    }

    /// Write the key file atomically with mode 0600.
    pub fn save(&self, dir: &Path) -> Result<PathBuf, KeyError> {
        let file = KeyFile {
            kid: self.kid.clone(),
            alg: self.alg,
            created_at: self.created_at,
            activates_at: self.activates_at,
            deactivates_at: self.deactivates_at,
            private_jwk: self.private_jwk.clone(),
        };
        let path = dir.join(format!("{}.json", self.kid));
        let body = serde_json::to_vec_pretty(&file).map_err(|e| file_error(&path, e))?;
        write_private(&path, &body)?;
        Ok(path)
    }

    /// Read one key file; refuses files others can read.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        check_private_mode(path)?;
        let text =
            std::fs::read(path).map_err(|e| file_error(path, format!("cannot read: {e}")))?;
        let file: KeyFile = serde_json::from_slice(&text)
            .map_err(|e| file_error(path, format!("not a key file: {e}")))?;
        Self::build(file).map_err(|m| file_error(path, m))
    }
}

#[cfg(unix)]
fn check_private_mode(path: &Path) -> Result<(), KeyError> {
    use std::os::unix::fs::PermissionsExt;
    let meta =
        std::fs::metadata(path).map_err(|e| file_error(path, format!("cannot read: {e}")))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(file_error(
            path,
            format!("is readable by others (mode {mode:04o}); run chmod 600 on it"),
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_private_mode(_: &Path) -> Result<(), KeyError> {
    Ok(())
}

fn write_private(path: &Path, body: &[u8]) -> Result<(), KeyError> {
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(&tmp)
        .map_err(|e| file_error(&tmp, format!("cannot write: {e}")))?;
    f.write_all(body)
        .and_then(|()| f.sync_all())
        .map_err(|e| file_error(&tmp, format!("cannot write: {e}")))?;
    std::fs::rename(&tmp, path).map_err(|e| file_error(path, format!("cannot write: {e}")))
}

/// RFC 7638 JWK thumbprint (SHA-256, base64url): the required members of
/// the key type, lexicographically ordered, no whitespace.
pub fn thumbprint(jwk: &serde_json::Map<String, serde_json::Value>) -> Result<String, String> {
    let kty = jwk
        .get("kty")
        .and_then(|v| v.as_str())
        .ok_or("JWK has no kty")?;
    let members: &[&str] = match kty {
        "EC" => &["crv", "kty", "x", "y"],
        "OKP" => &["crv", "kty", "x"],
        "RSA" => &["e", "kty", "n"],
        other => return Err(format!("unsupported kty {other}")),
    };
    let mut canonical = serde_json::Map::new();
    for m in members {
        let v = jwk.get(*m).ok_or_else(|| format!("JWK lacks {m}"))?;
        canonical.insert((*m).to_string(), v.clone());
    }
    // Members are inserted in lexicographic order, so the encoding is
    // canonical whether or not serde_json preserves insertion order.
    let bytes = serde_json::to_vec(&canonical).map_err(|e| e.to_string())?;
    Ok(URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &bytes)))
}

/// Every `*.json` key file in `dir`, sorted by activation time.
pub fn load_dir(dir: &Path) -> Result<Vec<SigningKey>, KeyError> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| file_error(dir, format!("cannot read key folder: {e}")))?;
    let mut keys = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| file_error(dir, e))?.path();
        if path.extension().is_some_and(|x| x == "json") {
            keys.push(SigningKey::load(&path)?);
        }
    }
    keys.sort_by_key(|k| (k.activates_at, k.created_at));
    Ok(keys)
}

pub fn ensure_dir(dir: &Path) -> Result<(), KeyError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| file_error(dir, format!("cannot create key folder: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| file_error(dir, format!("cannot set mode 0700: {e}")))?;
    }
    Ok(())
}

/// `keys generate`: the first key of a folder, active from `now`. Refuses a
/// folder that already has a live key: that calls for `keys rotate`.
pub fn generate_first(dir: &Path, alg: SigningAlg, now: UnixTime) -> Result<SigningKey, KeyError> {
    ensure_dir(dir)?;
    let existing = load_dir(dir)?;
    if let Some(live) = existing.iter().find(|k| k.state(now) != KeyState::Expired) {
        return Err(KeyError::Other(format!(
            "{} already holds key {} ({}); use `agent-sts keys rotate` to replace it",
            dir.display(),
            live.kid,
            live.state(now).as_str()
        )));
    }
    let key = SigningKey::generate(alg, now, now)?;
    key.save(dir)?;
    Ok(key)
}

/// `keys rotate`: publish a new key now that starts signing after `lead`
/// seconds; the current active keys stop signing at that moment and stay
/// verifiable for `RETIRE_GRACE` after it.
pub fn rotate(
    dir: &Path,
    alg: Option<SigningAlg>,
    lead: i64,
    now: UnixTime,
) -> Result<SigningKey, KeyError> {
    let mut keys = load_dir(dir)?;
    if let Some(next) = keys.iter().find(|k| k.state(now) == KeyState::Next) {
        return Err(KeyError::Other(format!(
            "key {} is already scheduled to activate at {}; nothing to rotate until then",
            next.kid, next.activates_at
        )));
    }
    let current = keys
        .iter()
        .rev()
        .find(|k| k.state(now) == KeyState::Active)
        .ok_or_else(|| {
            KeyError::Other(format!(
                "{} has no active key; use `agent-sts keys generate`",
                dir.display()
            ))
        })?;
    let alg = alg.unwrap_or(current.alg);
    let switch_at = now + lead.max(0);
    let new = SigningKey::generate(alg, now, switch_at)?;
    // Publish the new key first, so a crash between the writes never leaves
    // a folder with no key to sign with.
    new.save(dir)?;
    for k in keys.iter_mut().filter(|k| k.state(now) == KeyState::Active) {
        if k.deactivates_at.is_none_or(|d| d > switch_at) {
            k.deactivates_at = Some(switch_at);
            k.save(dir)?;
        }
    }
    Ok(new)
}

#[cfg(test)]
mod tests;
