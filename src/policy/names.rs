//! A set of names held in the policy for every agent, resource and scope:
//! most hold one or two names, for which a hash table's smallest
//! allocation (~128 bytes before any name) is most of the memory (issue 21:
//! 100,000 agents). A sorted boxed slice, searched by bisection, costs one
//! allocation the size of its names and stays O(log n) for the large ones
//! (a gateway's hundreds of resources).

use std::borrow::Borrow;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names<T: Ord = String>(Box<[T]>);

impl<T: Ord> Names<T> {
    pub fn contains<Q>(&self, x: &Q) -> bool
    where
        T: Borrow<Q>,
        Q: Ord + ?Sized,
    {
        self.0.binary_search_by(|n| n.borrow().cmp(x)).is_ok()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: Ord> FromIterator<T> for Names<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Self {
        let mut v: Vec<T> = items.into_iter().collect();
        v.sort();
        v.dedup();
        Self(v.into_boxed_slice())
    }
}

impl<'a, T: Ord> IntoIterator for &'a Names<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_set_of_names() {
        let n: Names = ["b", "a", "c", "a"].map(String::from).into_iter().collect();
        assert_eq!(n.len(), 3, "duplicates once");
        assert!(n.contains("a") && n.contains("b") && n.contains("c"));
        assert!(!n.contains("d") && !n.contains("") && !n.contains("A"));
        assert_eq!(
            n.iter().map(String::as_str).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        let none: Names = Names::default();
        assert!(none.is_empty() && !none.contains("a"));
        let pairs: Names<(String, String)> = [("okta", "b"), ("okta", "a")]
            .map(|(u, g)| (u.to_string(), g.to_string()))
            .into_iter()
            .collect();
        assert!(pairs.contains(&("okta".to_string(), "a".to_string())));
        assert_eq!(pairs.iter().next().map(|(_, g)| g.as_str()), Some("a"));
    }
}
