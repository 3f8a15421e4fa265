//! Rules about who is trusted for what, across entries: one upstream per
//! issuer string, and at most one downstream actor per resource.

use std::collections::HashMap;

use super::validate::Errors;
use super::{Config, Pattern};

/// Two upstreams that could both claim one `iss` would let the first in
/// file order win silently (its keys, its tenant list, its `use`), so
/// `check` refuses them, naming both. Entra upstreams claim every issuer
/// their templates fit, whatever their tenant list; the concrete issuers
/// tried are each upstream's own (Entra: v2 and v1 for every listed tenant).
pub(super) fn validate_issuers(c: &Config, e: &mut Errors) {
    for (i, a) in c.upstreams.iter().enumerate() {
        for iss in a.concrete_issuers() {
            let other = c
                .upstreams
                .iter()
                .enumerate()
                .find(|(j, b)| *j != i && b.routes(&iss));
            // Reported once, on the later of the two entries.
            if let Some((j, b)) = other
                && j > i
            {
                e.push(
                    format!("upstreams[{j}].issuer"),
                    format!(
                        "upstreams \"{}\" and \"{}\" can both claim issuer \"{iss}\": \
                         a token's iss must route to exactly one upstream (merge them, or \
                         give each its own issuer or tenants)",
                        a.name, b.name
                    ),
                );
                break;
            }
        }
    }
}

/// `serves` names declared resources, at most one agent serves each, and a
/// serving agent can hold the user patterns a chained token carries.
pub(super) fn validate_serves(c: &Config, e: &mut Errors) {
    let declared: std::collections::HashSet<&str> =
        c.resources.iter().map(|r| r.uri.as_str()).collect();
    let mut server: HashMap<&str, &str> = HashMap::new();
    for (i, a) in c.agents.iter().enumerate() {
        let user_facing = a
            .patterns
            .iter()
            .any(|p| matches!(p, Pattern::Obo | Pattern::Hybrid));
        if !a.serves.is_empty() && !user_facing {
            e.push(
                format!("agents[{i}].serves"),
                "a downstream actor mints obo or hybrid tokens: add one of those patterns",
            );
        }
        for (j, r) in a.serves.iter().enumerate() {
            let at = format!("agents[{i}].serves[{j}]");
            if !declared.contains(r.as_str()) {
                e.push(at, format!("\"{r}\" is not a declared resource"));
            } else if let Some(first) = server.insert(r.as_str(), a.id.as_str()) {
                e.push(
                    at,
                    format!(
                        "\"{r}\" is already served by agent {first}: a resource has one \
                         downstream actor, named in its tokens' may_act"
                    ),
                );
            }
        }
    }
}
