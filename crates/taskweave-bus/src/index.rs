//! The subscription index: a trie over pattern tokens, so that routing a subject visits only
//! the trie paths that can match it and never looks at unrelated subscriptions.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use crate::error::SubjectError;
use crate::subject::{Token, validate_subject};

/// FNV-1a: subject tokens are short, and SipHash would dominate a routing step.
#[derive(Default)]
pub(crate) struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut hash = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = hash;
    }
}

type FnvMap<K, V> = HashMap<K, V, BuildHasherDefault<Fnv>>;

#[derive(Default)]
struct Node {
    literal: FnvMap<Box<str>, Node>,
    any: Option<Box<Node>>,
    /// Subscriptions whose pattern ends at this node.
    here: Vec<u32>,
    /// Subscriptions whose pattern continues with `>` after this node.
    rest: Vec<u32>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.literal.is_empty()
            && self.any.is_none()
            && self.here.is_empty()
            && self.rest.is_empty()
    }
}

/// Maps patterns to subscription slots.
#[derive(Default)]
pub(crate) struct Index {
    root: Node,
    /// The subject routed last and the slots it matched. Publishers tend to repeat a subject,
    /// and a hit skips both validating it and walking the trie, which together cost more than
    /// the rest of a publish. Cleared whenever a pattern is inserted or removed.
    last: Option<Route>,
}

/// A routing result kept by [`Index::route`].
struct Route {
    subject: String,
    slots: Vec<u32>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").finish_non_exhaustive()
    }
}

impl Index {
    pub(crate) fn insert(&mut self, tokens: &[Token], slot: u32) {
        self.last = None;
        let mut node = &mut self.root;
        for token in tokens {
            match token {
                Token::Literal(lit) => node = node.literal.entry(lit.clone()).or_default(),
                Token::Any => node = node.any.get_or_insert_with(Box::default),
                Token::Rest => {
                    node.rest.push(slot);
                    return;
                }
            }
        }
        node.here.push(slot);
    }

    pub(crate) fn remove(&mut self, tokens: &[Token], slot: u32) {
        self.last = None;
        remove_from(&mut self.root, tokens, slot);
    }

    /// The slots whose pattern matches `subject`, each once.
    ///
    /// # Errors
    ///
    /// [`SubjectError`] if `subject` is not a valid publish subject.
    pub(crate) fn route(&mut self, subject: &str) -> Result<&[u32], SubjectError> {
        let hit = self
            .last
            .as_ref()
            .is_some_and(|last| last.subject == subject);
        if !hit {
            validate_subject(subject)?;
            // Reuse the previous route's buffers: a publisher alternating between subjects
            // should not allocate on every message.
            let mut route = self.last.take().unwrap_or(Route {
                subject: String::new(),
                slots: Vec::new(),
            });
            route.subject.clear();
            route.subject.push_str(subject);
            route.slots.clear();
            visit(&self.root, Some(subject), &mut |slot| {
                route.slots.push(slot)
            });
            self.last = Some(route);
        }
        Ok(self.last.as_ref().map_or(&[], |last| &last.slots))
    }

    /// Calls `f` once for every slot whose pattern matches `subject`, which must be valid.
    pub(crate) fn for_each_match(&self, subject: &str, f: &mut impl FnMut(u32)) {
        visit(&self.root, Some(subject), f);
    }
}

fn visit(node: &Node, rest: Option<&str>, f: &mut impl FnMut(u32)) {
    let Some(rest) = rest else {
        node.here.iter().for_each(|&slot| f(slot));
        return;
    };
    // At least one token remains, which is what `>` needs.
    node.rest.iter().for_each(|&slot| f(slot));
    let (token, next) = match rest.split_once('.') {
        Some((token, next)) => (token, Some(next)),
        None => (rest, None),
    };
    if let Some(child) = node.literal.get(token) {
        visit(child, next, f);
    }
    if let Some(child) = &node.any {
        visit(child, next, f);
    }
}

/// Removes `slot` below `node`; prunes nodes left empty.
fn remove_from(node: &mut Node, tokens: &[Token], slot: u32) {
    let Some((first, others)) = tokens.split_first() else {
        node.here.retain(|&s| s != slot);
        return;
    };
    match first {
        Token::Rest => node.rest.retain(|&s| s != slot),
        Token::Any => {
            if let Some(child) = node.any.as_deref_mut() {
                remove_from(child, others, slot);
                if child.is_empty() {
                    node.any = None;
                }
            }
        }
        Token::Literal(lit) => {
            if let Some(child) = node.literal.get_mut(&**lit) {
                remove_from(child, others, slot);
                if child.is_empty() {
                    node.literal.remove(&**lit);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Pattern;

    fn matches(index: &Index, subject: &str) -> Vec<u32> {
        let mut found = Vec::new();
        index.for_each_match(subject, &mut |s| found.push(s));
        found.sort_unstable();
        found
    }

    #[test]
    fn routes_and_prunes() {
        let mut index = Index::default();
        let patterns = ["a.b", "a.*", "a.>", ">", "*.b", "b"];
        for (slot, p) in patterns.iter().enumerate() {
            index.insert(Pattern::parse(p).unwrap().tokens(), slot as u32);
        }
        assert_eq!(matches(&index, "a.b"), vec![0, 1, 2, 3, 4]);
        assert_eq!(matches(&index, "a"), vec![3]);
        assert_eq!(matches(&index, "b"), vec![3, 5]);
        assert_eq!(matches(&index, "a.b.c"), vec![2, 3]);
        for (slot, p) in patterns.iter().enumerate() {
            index.remove(Pattern::parse(p).unwrap().tokens(), slot as u32);
        }
        assert!(index.root.is_empty());
    }

    #[test]
    fn cached_route_follows_inserts_and_removals() {
        let mut index = Index::default();
        let a = Pattern::parse("a.*").unwrap();
        let b = Pattern::parse("a.b").unwrap();
        assert_eq!(index.route("a.b").unwrap(), &[] as &[u32]);
        index.insert(a.tokens(), 0);
        assert_eq!(index.route("a.b").unwrap(), &[0]);
        index.insert(b.tokens(), 1);
        assert_eq!(index.route("a.b").unwrap(), &[1, 0]);
        // Another subject replaces the cached one; an invalid one is rejected, cached or not.
        assert_eq!(index.route("a.c").unwrap(), &[0]);
        assert_eq!(
            index.route("a.*"),
            Err(SubjectError::WildcardInSubject { position: 1 })
        );
        assert_eq!(index.route("a.b").unwrap(), &[1, 0]);
        index.remove(a.tokens(), 0);
        assert_eq!(index.route("a.b").unwrap(), &[1]);
        index.remove(b.tokens(), 1);
        assert_eq!(index.route("a.b").unwrap(), &[] as &[u32]);
    }
}
