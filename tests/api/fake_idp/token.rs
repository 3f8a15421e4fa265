//! The token builder both fakes return, and the bad variants it can mint.

use super::Idp;
use super::attacker::Attacker;
use super::jwt::{self, SignWith, SigningKey, b64url, b64url_json, sign, sign_segments};
use josekit::jwe::{self, JweHeader, RSA_OAEP};
use josekit::jwk::Jwk;
use serde_json::{Map, Value, json};

/// Which segment of a compact token to corrupt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The JOSE header.
    Header,
    /// The claims.
    Payload,
    /// The signature.
    Signature,
}

/// A defect to build into a token. Everything not named stays as a good token
/// of that kind would be (same key, claims and header).
#[derive(Clone, Debug)]
pub enum Bad {
    /// `iss` of a different issuer (`https://evil.example.com/...`), signed with the real key.
    WrongIssuer,
    /// `aud` = `api://someone-else`.
    WrongAudience,
    /// `exp` 10 minutes ago (well beyond a 60 s skew).
    Expired,
    /// `nbf` 10 minutes in the future (added even where the vendor sends no `nbf`).
    NotYetValid,
    /// `iat` (and `nbf`/`auth_time`) 30 days ago, `exp` still in the future.
    TooOld,
    /// Signed with another algorithm: RS384/RS512/PS256/PS384/PS512 with the
    /// IdP's RSA key (same kid), ES256 with the IdP's EC key, EdDSA with a fresh key.
    WrongAlg(&'static str),
    /// `alg: none` and an empty signature segment.
    AlgNone,
    /// HS256 keyed with the IdP's RSA public key PEM text, kid of the real key.
    HmacPublicPem,
    /// HS256 keyed with the IdP's RSA public key DER bytes, kid of the real key.
    HmacPublicDer,
    /// RS256 with a fresh key whose kid (`unknown-…`) the JWKS never has.
    UnknownKid,
    /// A good token whose payload was then changed (`sub` = `mallory`); signature no longer matches.
    TamperedPayload,
    /// Header `crit: ["exp"]` (with a header `exp`), otherwise correctly signed.
    CritExp,
    /// Header `jku` = the attacker's JWKS URL; signed with the attacker's key and kid.
    Jku(Attacker),
    /// Header `x5u` = the attacker's URL; signed with the attacker's key and kid.
    X5u(Attacker),
    /// Header `jwk` = a fresh attacker public key that also signed it (kid `embedded-…`).
    EmbeddedJwk,
    /// A 17 000-byte `padding` claim (token > 16 KiB), correctly signed.
    Oversized,
    /// JWE compact (5 parts): RSA-OAEP + A256GCM to the IdP's public key, kid of the real key.
    Jwe,
    /// One character in the middle of that segment replaced by `!`.
    InvalidBase64(Part),
    /// Header segment is valid base64url of text that is not JSON; signed over it.
    HeaderNotJson,
    /// Payload segment is valid base64url of text that is not JSON; signed over it.
    PayloadNotJson,
    /// Only `header.payload`.
    TwoParts,
    /// The empty string.
    Empty,
}

/// How a vendor encodes `scp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScopeStyle {
    /// JSON array (Okta).
    Array,
    /// One space-separated string (Entra).
    Spaced,
}

/// What a vendor constructor tells the builder beyond header and claims.
#[derive(Clone, Debug)]
pub struct Profile {
    /// Whether the vendor sends `nbf` (= `iat`).
    pub nbf: bool,
    /// Whether the token carries `auth_time` (= `iat`).
    pub auth_time: bool,
    /// `scp` encoding.
    pub scopes: ScopeStyle,
    /// Issuer used by [`Bad::WrongIssuer`].
    pub wrong_issuer: String,
    /// Default lifetime in seconds.
    pub ttl: i64,
}

#[derive(Clone, Debug)]
enum Edit {
    Set(String, Value),
    Remove(String),
}

/// Builds one token. Times (`iat`, `exp`, `nbf`, `auth_time`) are whole
/// seconds computed at [`TokenBuilder::mint`]; then `claim`/`remove` edits
/// apply in call order (so they can override or drop any time claim); then the
/// [`Bad`] variant, if any.
#[derive(Clone, Debug)]
pub struct TokenBuilder {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    key: SigningKey,
    ec_key: SigningKey,
    profile: Profile,
    iat: i64,
    edits: Vec<Edit>,
    header_edits: Vec<Edit>,
    bad: Option<Bad>,
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("expected a JSON object, got {other}"),
    }
}

fn apply(map: &mut Map<String, Value>, edits: &[Edit]) {
    for edit in edits {
        match edit {
            Edit::Set(k, v) => {
                map.insert(k.clone(), v.clone());
            }
            Edit::Remove(k) => {
                map.remove(k);
            }
        }
    }
}

impl TokenBuilder {
    /// A builder signing with `idp`'s current key; `header` gets `kid` filled in.
    pub fn new(idp: &Idp, header: Value, claims: Value, profile: Profile) -> Self {
        let key = idp.signing_key();
        let mut header = object(header);
        header.insert("kid".into(), json!(key.kid()));
        Self {
            header,
            claims: object(claims),
            key,
            ec_key: idp.ec_key(),
            profile,
            iat: jwt::now(),
            edits: Vec::new(),
            header_edits: Vec::new(),
            bad: None,
        }
    }

    /// Sets `aud` to one string.
    pub fn aud(self, aud: &str) -> Self {
        self.claim("aud", json!(aud))
    }

    /// Sets `groups`.
    pub fn groups(self, groups: &[&str]) -> Self {
        self.claim("groups", json!(groups))
    }

    /// Sets `scp` in the vendor's encoding (array for Okta, spaced string for Entra).
    pub fn scopes(self, scopes: &[&str]) -> Self {
        let scp = match self.profile.scopes {
            ScopeStyle::Array => json!(scopes),
            ScopeStyle::Spaced => json!(scopes.join(" ")),
        };
        self.claim("scp", scp)
    }

    /// Sets `roles` (Entra app roles).
    pub fn roles(self, roles: &[&str]) -> Self {
        self.claim("roles", json!(roles))
    }

    /// Lifetime in seconds: `exp = iat + ttl`.
    pub fn ttl(mut self, seconds: i64) -> Self {
        self.profile.ttl = seconds;
        self
    }

    /// Sets `iat` (Unix seconds); `exp`, `nbf`, `auth_time` follow it.
    pub fn issued_at(mut self, iat: i64) -> Self {
        self.iat = iat;
        self
    }

    /// Sets (or replaces) a claim.
    pub fn claim(mut self, name: &str, value: Value) -> Self {
        self.edits.push(Edit::Set(name.into(), value));
        self
    }

    /// Removes a claim (also a time claim).
    pub fn remove(mut self, name: &str) -> Self {
        self.edits.push(Edit::Remove(name.into()));
        self
    }

    /// Sets (or replaces) a header parameter.
    pub fn header(mut self, name: &str, value: Value) -> Self {
        self.header_edits.push(Edit::Set(name.into(), value));
        self
    }

    /// Removes a header parameter.
    pub fn remove_header(mut self, name: &str) -> Self {
        self.header_edits.push(Edit::Remove(name.into()));
        self
    }

    /// Signs with `key` instead (header `kid`, and `x5t` if present, = its kid; `alg` unchanged).
    pub fn signed_by(mut self, key: &SigningKey) -> Self {
        self.header.insert("kid".into(), json!(key.kid()));
        if self.header.contains_key("x5t") {
            self.header.insert("x5t".into(), json!(key.kid()));
        }
        self.key = key.clone();
        self
    }

    /// Builds the defect `bad` into the token.
    pub fn bad(mut self, bad: Bad) -> Self {
        self.bad = Some(bad);
        self
    }

    /// The header and claims a good token would have right now (before any
    /// header-level defect).
    pub fn preview(&self) -> (Value, Value) {
        let (h, c) = self.compose();
        (Value::Object(h), Value::Object(c))
    }

    fn compose(&self) -> (Map<String, Value>, Map<String, Value>) {
        let now = jwt::now();
        let ttl = self.profile.ttl;
        let mut iat = self.iat;
        let mut exp = iat + ttl;
        let mut nbf = self.profile.nbf.then_some(iat);
        match &self.bad {
            Some(Bad::Expired) => {
                exp = now - 600;
                iat = exp - ttl;
                nbf = nbf.map(|_| iat);
            }
            Some(Bad::NotYetValid) => {
                nbf = Some(now + 600);
                exp = now + 600 + ttl;
            }
            Some(Bad::TooOld) => {
                iat = now - 30 * 86_400;
                nbf = nbf.map(|_| iat);
                exp = now + ttl;
            }
            _ => {}
        }
        let mut claims = self.claims.clone();
        claims.insert("iat".into(), json!(iat));
        claims.insert("exp".into(), json!(exp));
        if let Some(nbf) = nbf {
            claims.insert("nbf".into(), json!(nbf));
        }
        if self.profile.auth_time {
            claims.insert("auth_time".into(), json!(iat));
        }
        apply(&mut claims, &self.edits);
        match &self.bad {
            Some(Bad::WrongIssuer) => {
                claims.insert("iss".into(), json!(self.profile.wrong_issuer));
            }
            Some(Bad::WrongAudience) => {
                claims.insert("aud".into(), json!("api://someone-else"));
            }
            Some(Bad::Oversized) => {
                claims.insert("padding".into(), json!("x".repeat(17_000)));
            }
            _ => {}
        }
        let mut header = self.header.clone();
        apply(&mut header, &self.header_edits);
        (header, claims)
    }

    /// Signs (or otherwise encodes) the token.
    pub fn mint(self) -> String {
        let (mut header, claims) = self.compose();
        let key = &self.key;
        let mut set = |name: &str, value: Value| {
            header.insert(name.into(), value);
        };
        let signer = match &self.bad {
            Some(Bad::WrongAlg(alg)) => {
                let k = match *alg {
                    "ES256" => self.ec_key.clone(),
                    "EdDSA" => SigningKey::ed25519(format!("ed25519-{}", jwt::random_alnum(8))),
                    _ => key.clone(),
                };
                set("alg", json!(alg));
                set("kid", json!(k.kid()));
                Some(k)
            }
            Some(Bad::UnknownKid) => {
                let k = SigningKey::rsa(format!("unknown-{}", jwt::random_alnum(12)));
                set("kid", json!(k.kid()));
                Some(k)
            }
            Some(Bad::EmbeddedJwk) => {
                let k = SigningKey::rsa(format!("embedded-{}", jwt::random_alnum(12)));
                set("kid", json!(k.kid()));
                set("jwk", k.public_jwk());
                Some(k)
            }
            Some(Bad::Jku(attacker)) => {
                set("jku", json!(attacker.jwks_url()));
                set("kid", json!(attacker.kid()));
                Some(attacker.key().clone())
            }
            Some(Bad::X5u(attacker)) => {
                set("x5u", json!(attacker.x5u_url()));
                set("kid", json!(attacker.kid()));
                Some(attacker.key().clone())
            }
            Some(Bad::CritExp) => {
                set("crit", json!(["exp"]));
                set("exp", claims["exp"].clone());
                None
            }
            _ => None,
        };
        if let Some(k) = &signer
            && header.contains_key("x5t")
        {
            header.insert("x5t".into(), json!(k.kid()));
        }
        let key = signer.as_ref().unwrap_or(key);
        let alg = header["alg"].as_str().unwrap_or("RS256").to_owned();
        let header = Value::Object(header);
        let claims = Value::Object(claims);
        match &self.bad {
            Some(Bad::AlgNone) => {
                let mut h = header;
                h["alg"] = json!("none");
                sign(h, claims, SignWith::Unsigned)
            }
            Some(Bad::HmacPublicPem) | Some(Bad::HmacPublicDer) => {
                let secret = match self.bad {
                    Some(Bad::HmacPublicPem) => key.public_pem(),
                    _ => key.public_der(),
                };
                let mut h = header;
                h["alg"] = json!("HS256");
                sign(h, claims, SignWith::Hmac(&secret))
            }
            Some(Bad::TamperedPayload) => {
                let good = sign(header, claims.clone(), SignWith::Key(key));
                let mut tampered = claims;
                tampered["sub"] = json!("mallory");
                let parts: Vec<&str> = good.split('.').collect();
                format!("{}.{}.{}", parts[0], b64url_json(&tampered), parts[2])
            }
            Some(Bad::Jwe) => encrypt(&claims, key),
            Some(Bad::InvalidBase64(part)) => {
                let good = sign(header, claims, SignWith::Key(key));
                let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
                let i = match part {
                    Part::Header => 0,
                    Part::Payload => 1,
                    Part::Signature => 2,
                };
                let mid = parts[i].len() / 2;
                parts[i].replace_range(mid..mid + 1, "!");
                parts.join(".")
            }
            Some(Bad::HeaderNotJson) => {
                let h = b64url(format!("{{\"alg\":\"{alg}\",\"kid\":"));
                sign_segments(&h, &b64url_json(&claims), &alg, SignWith::Key(key))
            }
            Some(Bad::PayloadNotJson) => {
                let p = b64url("sub=alice; not json");
                sign_segments(&b64url_json(&header), &p, &alg, SignWith::Key(key))
            }
            Some(Bad::TwoParts) => {
                let good = sign(header, claims, SignWith::Key(key));
                good.rsplit_once('.').expect("three parts").0.to_owned()
            }
            Some(Bad::Empty) => String::new(),
            _ => sign(header, claims, SignWith::Key(key)),
        }
    }
}

/// JWE compact: RSA-OAEP + A256GCM to `key`'s public key, `kid` set.
fn encrypt(claims: &Value, key: &SigningKey) -> String {
    let public = Jwk::from_bytes(key.public_jwk().to_string()).expect("public JWK");
    let encrypter = RSA_OAEP
        .encrypter_from_jwk(&public)
        .expect("RSA-OAEP encrypter");
    let mut header = JweHeader::new();
    header.set_token_type("JWT");
    header.set_content_encryption("A256GCM");
    header.set_key_id(key.kid());
    jwe::serialize_compact(claims.to_string().as_bytes(), &header, &encrypter).expect("JWE")
}
