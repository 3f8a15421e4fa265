//! Stable reason codes: every refusal and denial carries one. They are the
//! audit record's `reason` and never change meaning once released.

use serde::Serialize;
use strum::IntoEnumIterator;

/// The code of each variant is its name in snake_case (serde for the
/// record, strum for `as_str` and the list of every code).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, strum::EnumIter, strum::IntoStaticStr,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Reason {
    /// Not a JWS compact serialisation: wrong part count, bad base64url,
    /// header or payload not a JSON object, empty.
    MalformedToken,
    /// Larger than the token size cap (16 KiB).
    TokenTooLarge,
    /// A JWE (five parts): we accept signed, not encrypted, tokens.
    EncryptedToken,
    /// `alg` not on the upstream's allow-list (`none` and `HS*` never are).
    UnsupportedAlgorithm,
    /// A `jku`, `x5u` or embedded `jwk` header: keys come only from the
    /// configured issuer's JWKS, so such tokens are refused outright.
    UntrustedKeyReference,
    /// A `crit` header naming an extension we do not understand (RFC 7515 §4.1.11).
    UnsupportedCritical,
    /// `iss` is not a configured upstream.
    UnknownIssuer,
    /// `kid` not in the issuer's JWKS, even after a refetch.
    UnknownKey,
    /// The key's `kty`, `alg`, `crv` or `use` does not fit the token's `alg`.
    KeyMismatch,
    /// The signature does not verify.
    BadSignature,
    /// A required claim is missing or has the wrong type.
    MissingClaim,
    /// No `aud` value is among the upstream's accepted audiences.
    WrongAudience,
    /// `exp` has passed (beyond the allowed clock skew).
    Expired,
    /// `nbf` or `iat` is in the future (beyond the allowed clock skew).
    NotYetValid,
    /// `iat` is older than the upstream's `max_token_age`.
    TokenTooOld,
    /// A claim differs from the upstream's `required_claims`.
    ClaimMismatch,
    /// An Entra token from a tenant not on the allow-list.
    TenantNotAllowed,
    /// The issuer's keys could not be fetched and the cache is older than
    /// the bound, or discovery named another issuer.
    UpstreamKeysUnavailable,
    /// The IdP's introspection endpoint said the token is not active.
    UpstreamInactive,
    /// The IdP's introspection endpoint could not be asked (fail closed).
    UpstreamIntrospectionUnavailable,
    /// Signing in at the upstream IdP failed: its token endpoint refused
    /// the code or could not be asked, or the login is not configured.
    UpstreamLoginFailed,
    /// The upstream ID token's `nonce` is not the one this login sent.
    NonceMismatch,
    /// `/authorize`: the `redirect_uri` is not one the client registered.
    RedirectUriMismatch,
    /// `/authorize`: no PKCE `code_challenge`, or a method other than `S256`.
    PkceRequired,
    /// `/token`: the `code_verifier` does not match the code's challenge.
    PkceFailed,
    /// An authorization code unknown, expired, or not this client's.
    InvalidCode,
    /// An authorization code used twice: what it issued is revoked.
    CodeReused,
    /// A refresh token unknown, expired, revoked, or not this client's or
    /// resource's.
    InvalidRefreshToken,
    /// A refresh token used twice: its whole family (the sign-in) is revoked.
    RefreshTokenReused,
    /// The upstream IdP sent the browser back with a `state` we did not
    /// send, one already used, or none.
    LoginStateInvalid,
    /// A client's metadata document could not be fetched or used (too
    /// large, too slow, on a private address, not naming itself, bad
    /// redirect URIs).
    ClientMetadataInvalid,
    /// A break-glass window for an agent configured `break_glass = false`.
    BreakGlassNotAllowed,
    /// The `assertion` of a jwt-bearer grant is not an ID-JAG
    /// (`typ: oauth-id-jag+jwt`), or an ID-JAG was sent as another token.
    NotAnIdJag,
    /// The ID-JAG's issuer is a configured upstream that does not say
    /// `issues_id_jag = true`.
    IdJagIssuerNotTrusted,
    /// The ID-JAG's `client_id` is not the authenticated client.
    IdJagClientMismatch,
    /// The ID-JAG lives longer (`exp − iat`) than its upstream allows.
    IdJagLifetimeTooLong,
    /// Leg 1: no `[[id_jag.audiences]]` entry for that authorization server
    /// lets this agent ask.
    IdJagAudienceNotAllowed,
    /// Leg 1: the resource is not one of that entry's.
    IdJagResourceNotAllowed,
    /// Leg 1: a requested scope is not one of that entry's.
    IdJagScopeNotAllowed,
    /// The request is malformed: content type, repeated or missing
    /// parameter, unsupported token type.
    BadRequest,
    /// `grant_type` is not one we answer.
    UnsupportedGrantType,
    /// No client authentication, or more than one method at once.
    ClientAuthMissing,
    /// The client id is not registered.
    UnknownClient,
    /// The client used another method than the one it is registered with.
    WrongAuthMethod,
    /// The client secret does not match.
    BadClientSecret,
    /// The `private_key_jwt` assertion is invalid (RFC 7523 §3).
    BadClientAssertion,
    /// The assertion's `jti` was seen before (RFC 7523 §3, item 7).
    AssertionReplayed,
    /// The agent may not use this pattern (obo, workload, hybrid).
    PatternNotAllowed,
    /// The resource or audience is not one of the agent's.
    TargetNotAllowed,
    /// A requested scope is not declared by the agent.
    ScopeNotDeclared,
    /// A requested scope does not belong to the target resource.
    ScopeNotForResource,
    /// The user lacks a group that a required scope needs.
    MissingGroup,
    /// Entra groups overage: membership unknown, so a scope that needs a
    /// group is refused.
    GroupsOverage,
    /// Nothing grantable was left.
    NoScopeGranted,
    /// The user is outside the agent's allowed population.
    UserNotAllowed,
    /// The actor token does not prove this agent's workload identity.
    ActorMismatch,
    /// A workload subject token is not this agent's workload identity.
    WorkloadMismatch,
    /// The subject token's `may_act` does not name the actor (RFC 8693 §4.4).
    MayActMismatch,
    /// The delegation chain would exceed the configured depth.
    ChainTooDeep,
    /// A token of ours that is not valid here (expired, wrong type, unknown key).
    InvalidOwnToken,
    /// A delegated token may not carry a scope its subject token lacks.
    ScopeExceedsSubject,
    /// A token of ours that has been revoked (or a token it was derived
    /// from); or a presented token issued at or before a revocation of its
    /// user, the agent or the client.
    Revoked,
    /// One of our tokens presented by a client that is neither the one it
    /// was issued to nor the downstream actor of its audience.
    PresenterNotAllowed,
    /// The subject token was granted under a report-only waiver; an
    /// enforcing agent may not derive a token from it.
    ReportOnlySubject,
    /// `subject_token_type` / `actor_token_type` does not say what the
    /// token is (RFC 8693 §3).
    TokenTypeMismatch,
    /// A presented token's `act` is not a chain of objects with `sub`, or
    /// is deeper than the delegation cap.
    InvalidAct,
    /// The revocation view is older than its bound: no answer is trusted.
    RevocationStateStale,
    /// The audit record could not be made durable, so the decision does not stand.
    AuditUnavailable,
    /// The system random number generator failed: no `jti` could be drawn,
    /// so nothing was issued.
    RandomUnavailable,
    /// Over a rate limit (per source IP, per agent, per introspecting caller): 429.
    RateLimited,
}

impl Reason {
    /// Every reason code, in declaration order.
    pub fn all() -> impl Iterator<Item = Reason> {
        Self::iter()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialised_form_is_the_code() {
        for r in Reason::all() {
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::json!(r.as_str())
            );
        }
    }

    #[test]
    fn every_code_is_in_the_readme_table() {
        let readme = include_str!("../README.md");
        for r in Reason::all() {
            assert!(
                readme.contains(&format!("| `{}` |", r.as_str())),
                "README lacks {}",
                r.as_str()
            );
        }
    }

    #[test]
    fn codes_are_unique() {
        let mut codes: Vec<_> = Reason::all().map(Reason::as_str).collect();
        let n = codes.len();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), n);
        assert_eq!(Reason::BadClientSecret.as_str(), "bad_client_secret");
    }
}
