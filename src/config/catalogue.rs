//! The declared resources and their scopes, checked and indexed for the
//! rest of validation.

use std::collections::{HashMap, HashSet};

use url::Url;

use super::Config;
use super::validate::{Errors, check_scope};

/// Checks each resource; returns scope → the resources that declare it.
/// The declared resources and scopes, indexed so that validating 100,000
/// agents stays linear.
#[derive(Default)]
pub(super) struct Catalogue<'a> {
    pub(super) uris: HashSet<&'a str>,
    /// normal form (`crate::resource`) → the declared spelling.
    pub(super) normal: HashMap<String, &'a str>,
    /// scope → the resources declaring it, in file order (for messages).
    pub(super) owners: HashMap<&'a str, Vec<&'a str>>,
    /// (scope, resource) pairs.
    pub(super) pairs: HashSet<(&'a str, &'a str)>,
}

pub(super) fn validate_resources<'a>(c: &'a Config, e: &mut Errors) -> Catalogue<'a> {
    let mut declared = Catalogue::default();
    for (i, r) in c.resources.iter().enumerate() {
        if let Err(err) = Url::parse(&r.uri) {
            e.push(
                format!("resources[{i}].uri"),
                format!("\"{}\" is not an absolute URI: {err}", r.uri),
            );
        } else if !declared.uris.insert(r.uri.as_str()) {
            e.push(
                format!("resources[{i}].uri"),
                format!("\"{}\" is declared twice", r.uri),
            );
        } else if let Some(n) = crate::resource::normalize(&r.uri)
            && let Some(first) = declared.normal.insert(n, r.uri.as_str())
        {
            e.push(
                format!("resources[{i}].uri"),
                format!(
                    "\"{}\" is the same resource as \"{first}\" (RFC 3986 §6.2): declare it once",
                    r.uri
                ),
            );
        }
        if r.scopes.is_empty() {
            e.push(
                format!("resources[{i}].scopes"),
                "declare the scopes this resource understands",
            );
        }
        for (j, s) in r.scopes.iter().enumerate() {
            let at = format!("resources[{i}].scopes[{j}]");
            if let Err(m) = check_scope(s) {
                e.push(at, m);
            } else if !declared.pairs.insert((s, &r.uri)) {
                e.push(at, format!("\"{s}\" is listed twice"));
            } else {
                declared.owners.entry(s).or_default().push(&r.uri);
            }
        }
    }
    declared
}
