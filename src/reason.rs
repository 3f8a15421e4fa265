//! Stable reason codes: every refusal and denial carries one. They are the
//! audit record's `reason` and never change meaning once released.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
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
    pub const ALL: &'static [Reason] = &[
        Self::MalformedToken,
        Self::TokenTooLarge,
        Self::EncryptedToken,
        Self::UnsupportedAlgorithm,
        Self::UntrustedKeyReference,
        Self::UnsupportedCritical,
        Self::UnknownIssuer,
        Self::UnknownKey,
        Self::KeyMismatch,
        Self::BadSignature,
        Self::MissingClaim,
        Self::WrongAudience,
        Self::Expired,
        Self::NotYetValid,
        Self::TokenTooOld,
        Self::ClaimMismatch,
        Self::TenantNotAllowed,
        Self::UpstreamKeysUnavailable,
        Self::UpstreamInactive,
        Self::UpstreamIntrospectionUnavailable,
        Self::BadRequest,
        Self::UnsupportedGrantType,
        Self::ClientAuthMissing,
        Self::UnknownClient,
        Self::WrongAuthMethod,
        Self::BadClientSecret,
        Self::BadClientAssertion,
        Self::AssertionReplayed,
        Self::PatternNotAllowed,
        Self::TargetNotAllowed,
        Self::ScopeNotDeclared,
        Self::ScopeNotForResource,
        Self::MissingGroup,
        Self::GroupsOverage,
        Self::NoScopeGranted,
        Self::UserNotAllowed,
        Self::ActorMismatch,
        Self::WorkloadMismatch,
        Self::MayActMismatch,
        Self::ChainTooDeep,
        Self::InvalidOwnToken,
        Self::ScopeExceedsSubject,
        Self::Revoked,
        Self::PresenterNotAllowed,
        Self::ReportOnlySubject,
        Self::TokenTypeMismatch,
        Self::InvalidAct,
        Self::RevocationStateStale,
        Self::AuditUnavailable,
        Self::RandomUnavailable,
        Self::RateLimited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::MalformedToken => "malformed_token",
            Self::TokenTooLarge => "token_too_large",
            Self::EncryptedToken => "encrypted_token",
            Self::UnsupportedAlgorithm => "unsupported_algorithm",
            Self::UntrustedKeyReference => "untrusted_key_reference",
            Self::UnsupportedCritical => "unsupported_critical",
            Self::UnknownIssuer => "unknown_issuer",
            Self::UnknownKey => "unknown_key",
            Self::KeyMismatch => "key_mismatch",
            Self::BadSignature => "bad_signature",
            Self::MissingClaim => "missing_claim",
            Self::WrongAudience => "wrong_audience",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::TokenTooOld => "token_too_old",
            Self::ClaimMismatch => "claim_mismatch",
            Self::TenantNotAllowed => "tenant_not_allowed",
            Self::UpstreamKeysUnavailable => "upstream_keys_unavailable",
            Self::UpstreamInactive => "upstream_inactive",
            Self::UpstreamIntrospectionUnavailable => "upstream_introspection_unavailable",
            Self::BadRequest => "bad_request",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::ClientAuthMissing => "client_auth_missing",
            Self::UnknownClient => "unknown_client",
            Self::WrongAuthMethod => "wrong_auth_method",
            Self::BadClientSecret => "bad_client_secret",
            Self::BadClientAssertion => "bad_client_assertion",
            Self::AssertionReplayed => "assertion_replayed",
            Self::PatternNotAllowed => "pattern_not_allowed",
            Self::TargetNotAllowed => "target_not_allowed",
            Self::ScopeNotDeclared => "scope_not_declared",
            Self::ScopeNotForResource => "scope_not_for_resource",
            Self::MissingGroup => "missing_group",
            Self::GroupsOverage => "groups_overage",
            Self::NoScopeGranted => "no_scope_granted",
            Self::UserNotAllowed => "user_not_allowed",
            Self::ActorMismatch => "actor_mismatch",
            Self::WorkloadMismatch => "workload_mismatch",
            Self::MayActMismatch => "may_act_mismatch",
            Self::ChainTooDeep => "chain_too_deep",
            Self::InvalidOwnToken => "invalid_own_token",
            Self::ScopeExceedsSubject => "scope_exceeds_subject",
            Self::Revoked => "revoked",
            Self::PresenterNotAllowed => "presenter_not_allowed",
            Self::ReportOnlySubject => "report_only_subject",
            Self::TokenTypeMismatch => "token_type_mismatch",
            Self::InvalidAct => "invalid_act",
            Self::RevocationStateStale => "revocation_state_stale",
            Self::AuditUnavailable => "audit_unavailable",
            Self::RandomUnavailable => "random_unavailable",
            Self::RateLimited => "rate_limited",
        }
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
        for r in Reason::ALL {
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::json!(r.as_str())
            );
        }
    }

    #[test]
    fn every_code_is_in_the_readme_table() {
        let readme = include_str!("../README.md");
        for r in Reason::ALL {
            assert!(
                readme.contains(&format!("| `{}` |", r.as_str())),
                "README lacks {}",
                r.as_str()
            );
        }
    }

    #[test]
    fn all_lists_every_variant() {
        // One `=> "code"` arm per variant in as_str, which is exhaustive.
        let arms = include_str!("reason.rs").matches(" => \"").count();
        assert_eq!(arms, Reason::ALL.len());
    }

    #[test]
    fn codes_are_unique() {
        let mut codes: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), Reason::ALL.len());
    }
}
