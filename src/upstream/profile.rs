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
