//! One spelling per resource. Agents, introspectors and `serves` may name
//! a declared resource in any spelling RFC 3986 calls the same
//! (`crate::resource`); on load each is replaced by the declared
//! resource's own, the spelling tokens carry in `aud`. Everything after
//! (validation, policy, the hot paths) compares exact strings.

use std::collections::HashMap;

use super::Config;
use crate::resource::normalize;

/// Rewrite every reference to a declared resource in its declared spelling.
/// References to nothing declared are left for validation to name.
pub(super) fn declared_spellings(c: &mut Config) {
    // The first declaration wins (a second is refused by validation).
    let mut declared: HashMap<String, String> = HashMap::new();
    for r in &c.resources {
        if let Some(n) = normalize(&r.uri) {
            declared.entry(n).or_insert_with(|| r.uri.clone());
        }
    }
    let respell = |uri: &mut String| {
        if let Some(spelling) = normalize(uri).and_then(|n| declared.get(&n)) {
            uri.clone_from(spelling);
        }
    };
    for a in &mut c.agents {
        a.resources.iter_mut().for_each(respell);
        a.serves.iter_mut().for_each(respell);
    }
    for r in &mut c.introspectors {
        r.resources.iter_mut().for_each(respell);
    }
}
