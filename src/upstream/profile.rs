//! How each `kind` of upstream names things: subject, tenant, client,
//! scopes, groups. Okta and Entra follow their vendors' documented claims.

use serde_json::{Map, Value};

use super::{Groups, Refusal};
use crate::config::{UpstreamConfig, UpstreamKind};
use crate::reason::Reason;

/// What a profile reads out of verified claims.
#[derive(Debug, PartialEq, Eq)]
pub struct Mapped {
    pub subject: String,
    pub tenant: Option<String>,
    pub client: Option<String>,
    pub scopes: Vec<String>,
    pub groups: Groups,
    /// An app-only (client credentials) token: a workload, not a user.
    pub app_only: bool,
}

fn str_claim<'a>(c: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    c.get(name)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn required<'a>(c: &'a Map<String, Value>, name: &str) -> Result<&'a str, Refusal> {
    str_claim(c, name).ok_or_else(|| {
        Refusal::new(
            Reason::MissingClaim,
            format!("the token has no {name} claim"),
        )
    })
}

/// A space-separated string (`scope`, Entra `scp`) or an array (Okta `scp`).
fn scopes(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn groups(c: &Map<String, Value>, claim: &str) -> Groups {
    match c.get(claim) {
        Some(Value::Array(a)) => Groups::Known(
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        ),
        Some(Value::String(s)) => Groups::Known(vec![s.clone()]),
        _ => Groups::Known(Vec::new()),
    }
}

/// What a token is, for RFC 8693 §3's `subject_token_type` and
/// `actor_token_type`: an OAuth access token, an OIDC ID token, or another
/// JWT (a Kubernetes, GitHub Actions or SPIFFE workload token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenShape {
    Access,
    Id,
    Jwt,
    /// An Identity Assertion JWT Authorization Grant (`typ:
    /// oauth-id-jag+jwt`): the assertion of a jwt-bearer grant only.
    IdJag,
}

/// An access token says so (`typ: at+jwt`, RFC 9068 §2.1) or carries what
/// only access tokens carry: scopes (`scp`, `scope`), app roles (Entra
/// `roles`), the client it was issued to (`cid`, `client_id`). An ID token
/// carries none of those and either what only ID tokens carry (`nonce`,
/// `at_hash`, `c_hash`, `amr`) or comes from Okta or Entra, whose access
/// tokens always carry scopes or roles. Anything else is a plain JWT.
pub fn shape(kind: UpstreamKind, typ: Option<&str>, c: &Map<String, Value>) -> TokenShape {
    if crate::jose::is_id_jag_typ(typ) {
        return TokenShape::IdJag;
    }
    let typ = typ.map(str::to_ascii_lowercase);
    if matches!(typ.as_deref(), Some("at+jwt" | "application/at+jwt")) {
        return TokenShape::Access;
    }
    let has = |names: &[&str]| names.iter().any(|n| c.contains_key(*n));
    if has(&["scp", "scope", "roles", "cid", "client_id"]) {
        return TokenShape::Access;
    }
    if has(&["nonce", "at_hash", "c_hash", "amr"])
        || matches!(kind, UpstreamKind::Okta | UpstreamKind::Entra)
    {
        return TokenShape::Id;
    }
    TokenShape::Jwt
}

pub fn map(u: &UpstreamConfig, c: &Map<String, Value>) -> Result<Mapped, Refusal> {
    let groups_claim = u.groups_claim.as_deref().unwrap_or("groups");
    match u.kind {
        UpstreamKind::Okta => {
            // Okta: `uid` is the user's immutable id; service-app tokens
            // have none and name the app in `sub`.
            let subject = match u.subject_claim.as_deref() {
                Some(claim) => required(c, claim)?,
                None => str_claim(c, "uid").map_or_else(|| required(c, "sub"), Ok)?,
            };
            Ok(Mapped {
                subject: subject.to_string(),
                tenant: None,
                client: str_claim(c, "cid")
                    .or_else(|| str_claim(c, "client_id"))
                    .map(str::to_string),
                scopes: scopes(c.get("scp").or_else(|| c.get("scope"))),
                groups: groups(c, groups_claim),
                app_only: str_claim(c, "uid").is_none()
                    && str_claim(c, "sub") == str_claim(c, "cid"),
            })
        }
        UpstreamKind::Entra => {
            // `oid` is the object id across apps; `sub` is pairwise per app
            // and must never be used as the user's identity.
            let subject = required(c, "oid")?;
            let roles = c
                .get("roles")
                .is_some_and(|r| r.as_array().is_some_and(|a| !a.is_empty()));
            let app_only =
                str_claim(c, "idtyp") == Some("app") || (c.get("scp").is_none() && roles);
            // Groups overage: the token points at Graph instead of listing
            // groups, so membership is unknown, never assumed empty.
            let overage = c
                .get("_claim_names")
                .and_then(|n| n.get(groups_claim).or_else(|| n.get("groups")))
                .is_some()
                || c.get("hasgroups") == Some(&Value::Bool(true));
            Ok(Mapped {
                subject: subject.to_string(),
                tenant: Some(required(c, "tid")?.to_string()),
                client: str_claim(c, "azp")
                    .or_else(|| str_claim(c, "appid"))
                    .map(str::to_string),
                scopes: if app_only {
                    scopes(c.get("roles"))
                } else {
                    scopes(c.get("scp"))
                },
                groups: if overage {
                    Groups::Unknown
                } else {
                    groups(c, groups_claim)
                },
                app_only,
            })
        }
        UpstreamKind::Oidc => {
            let subject = required(c, u.subject_claim.as_deref().unwrap_or("sub"))?;
            Ok(Mapped {
                subject: subject.to_string(),
                tenant: None,
                client: str_claim(c, "azp")
                    .or_else(|| str_claim(c, "client_id"))
                    .map(str::to_string),
                scopes: scopes(c.get("scope").or_else(|| c.get("scp"))),
                groups: groups(c, groups_claim),
                app_only: false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, UpstreamConfig};
    use serde_json::json;

    fn upstream(kind: &str, extra: &str) -> UpstreamConfig {
        let issuer = if kind == "entra" {
            "https://login.microsoftonline.com/{tenantid}/v2.0\"\ntenants = [\"abc\"]\n#\""
        } else {
            "https://idp.example.com"
        };
        let text = format!(
            "issuer = \"https://sts.example.com\"\n[storage]\ndatabase_url = \"sqlite://x\"\n\
             [[upstreams]]\nname = \"u\"\nkind = \"{kind}\"\nissuer = \"{issuer}\"\naudiences = [\"a\"]\n{extra}"
        );
        Config::parse(&text, "t").unwrap().upstreams.remove(0)
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn shapes() {
        use TokenShape::*;
        let cases = [
            (
                UpstreamKind::Oidc,
                Some("at+jwt"),
                json!({"sub": "x"}),
                Access,
            ),
            (
                UpstreamKind::Oidc,
                Some("application/AT+JWT"),
                json!({}),
                Access,
            ),
            (
                UpstreamKind::Okta,
                Some("JWT"),
                json!({"scp": ["a"], "uid": "u"}),
                Access,
            ),
            (
                UpstreamKind::Entra,
                Some("JWT"),
                json!({"roles": ["r"]}),
                Access,
            ),
            (UpstreamKind::Oidc, None, json!({"scope": "a b"}), Access),
            (
                UpstreamKind::Okta,
                None,
                json!({"amr": ["pwd"], "sub": "u"}),
                Id,
            ),
            (
                UpstreamKind::Entra,
                None,
                json!({"oid": "o", "tid": "t"}),
                Id,
            ),
            (
                UpstreamKind::Oidc,
                None,
                json!({"nonce": "n", "sub": "u"}),
                Id,
            ),
            (
                UpstreamKind::Oidc,
                None,
                json!({"sub": "system:serviceaccount:a:b"}),
                Jwt,
            ),
        ];
        for (kind, typ, c, want) in cases {
            assert_eq!(
                shape(kind, typ, &claims(c.clone())),
                want,
                "{kind:?} {typ:?} {c}"
            );
        }
    }

    #[test]
    fn okta_user_token_maps_uid_cid_scp_groups() {
        let c = claims(json!({
            "sub": "alice@example.com", "uid": "00u1", "cid": "0oa9",
            "scp": ["openid", "email"], "groups": ["Support-Agents"]
        }));
        let m = map(&upstream("okta", ""), &c).unwrap();
        assert_eq!(
            m,
            Mapped {
                subject: "00u1".into(),
                tenant: None,
                client: Some("0oa9".into()),
                scopes: vec!["openid".into(), "email".into()],
                groups: Groups::Known(vec!["Support-Agents".into()]),
                app_only: false,
            }
        );
    }

    #[test]
    fn okta_service_app_token_is_app_only_with_sub_as_subject() {
        let c = claims(json!({"sub": "0oa9", "cid": "0oa9", "scp": ["x:y"]}));
        let m = map(&upstream("okta", ""), &c).unwrap();
        assert_eq!((m.subject.as_str(), m.app_only), ("0oa9", true));
    }

    #[test]
    fn entra_uses_oid_never_sub() {
        let c = claims(json!({
            "sub": "pairwise-xyz", "oid": "obj-1", "tid": "abc", "azp": "app-1",
            "scp": "access_as_user Files.Read", "groups": ["g1"]
        }));
        let m = map(&upstream("entra", ""), &c).unwrap();
        assert_eq!(m.subject, "obj-1");
        assert_eq!(m.tenant.as_deref(), Some("abc"));
        assert_eq!(m.client.as_deref(), Some("app-1"));
        assert_eq!(m.scopes, ["access_as_user", "Files.Read"]);
        assert!(!m.app_only);
    }

    #[test]
    fn entra_v1_client_is_appid_and_missing_oid_refuses() {
        let c = claims(json!({"oid": "o", "tid": "abc", "appid": "app-v1", "scp": "s"}));
        assert_eq!(
            map(&upstream("entra", ""), &c).unwrap().client.as_deref(),
            Some("app-v1")
        );
        let c = claims(json!({"sub": "s", "tid": "abc"}));
        let r = map(&upstream("entra", ""), &c).unwrap_err();
        assert_eq!(
            (r.reason, r.detail.as_str()),
            (Reason::MissingClaim, "the token has no oid claim")
        );
    }

    #[test]
    fn entra_app_only_by_idtyp_or_roles_without_scp() {
        for c in [
            json!({"oid": "sp", "tid": "abc", "idtyp": "app", "roles": ["Tickets.Read"]}),
            json!({"oid": "sp", "tid": "abc", "roles": ["Tickets.Read"]}),
        ] {
            let m = map(&upstream("entra", ""), &claims(c)).unwrap();
            assert!(m.app_only);
            assert_eq!(m.scopes, ["Tickets.Read"]);
        }
    }

    #[test]
    fn entra_groups_overage_means_unknown_groups() {
        let c = claims(json!({
            "oid": "o", "tid": "abc", "scp": "s",
            "_claim_names": {"groups": "src1"},
            "_claim_sources": {"src1": {"endpoint": "https://graph.microsoft.com/v1.0/users/o/getMemberObjects"}}
        }));
        assert_eq!(
            map(&upstream("entra", ""), &c).unwrap().groups,
            Groups::Unknown
        );
    }

    #[test]
    fn oidc_subject_claim_is_configurable() {
        let c = claims(
            json!({"sub": "repo:acme/app:ref:refs/heads/main", "job_workflow_ref": "acme/app/.github/workflows/deploy.yml@refs/heads/main"}),
        );
        let m = map(
            &upstream("oidc", "subject_claim = \"job_workflow_ref\""),
            &c,
        )
        .unwrap();
        assert_eq!(
            m.subject,
            "acme/app/.github/workflows/deploy.yml@refs/heads/main"
        );
        let m = map(&upstream("oidc", ""), &c).unwrap();
        assert_eq!(m.subject, "repo:acme/app:ref:refs/heads/main");
    }
}
