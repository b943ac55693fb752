//! The subscription index: a trie over pattern tokens, so that routing a subject visits only
//! the trie paths that can match it and never looks at unrelated subscriptions.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

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

#[cfg(test)]
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
    /// Shared with the ring slots the route's messages are written to.
    subject: Arc<str>,
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
    /// The subject comes back as the `Arc` that publishes clone into the ring slots.
    pub(crate) fn route(&mut self, subject: &str) -> Result<(&[u32], &Arc<str>), SubjectError> {
        let hit = self
            .last
            .as_ref()
            .is_some_and(|last| *last.subject == *subject);
        if !hit {
            validate_subject(subject)?;
            // Reuse the previous route's slot buffer. The subject is a new `Arc`, since ring
            // slots may still hold the old one: one small allocation per change of subject.
            let mut slots = self.last.take().map(|r| r.slots).unwrap_or_default();
            slots.clear();
            visit(&self.root, subject, &mut |slot| slots.push(slot));
            self.last = Some(Route {
                subject: Arc::from(subject),
                slots,
            });
        }
        let route = self.last.get_or_insert_with(|| Route {
            subject: Arc::from(subject),
            slots: Vec::new(),
        });
        Ok((&route.slots, &route.subject))
    }

    /// Calls `f` once for every slot whose pattern matches `subject`, which must be valid.
    pub(crate) fn for_each_match(&self, subject: &str, f: &mut impl FnMut(u32)) {
        visit(&self.root, subject, f);
    }
}

/// Calls `f` for every slot below `node` whose pattern matches `subject`.
///
/// Depth-first with an explicit stack rather than recursion, so that the depth of the trie
/// never becomes the depth of the call stack. The stack holds at most one pending sibling per
/// level; it lives on the call stack for the usual shallow subjects and only spills to the
/// heap past [`INLINE`] pending nodes.
fn visit<'a>(node: &'a Node, subject: &'a str, f: &mut impl FnMut(u32)) {
    let mut pending = Pending::default();
    pending.push(node, Some(subject));
    while let Some((node, rest)) = pending.pop() {
        let Some(rest) = rest else {
            node.here.iter().for_each(|&slot| f(slot));
            continue;
        };
        // At least one token remains, which is what `>` needs.
        node.rest.iter().for_each(|&slot| f(slot));
        let (token, next) = match rest.split_once('.') {
            Some((token, next)) => (token, Some(next)),
            None => (rest, None),
        };
        // Pushed in reverse, so the literal child is visited first, as a recursive walk would.
        if let Some(child) = &node.any {
            pending.push(child, next);
        }
        if let Some(child) = node.literal.get(token) {
            pending.push(child, next);
        }
    }
}

/// Pending nodes kept inline by [`visit`] before it spills to the heap.
const INLINE: usize = 16;

type Visit<'a> = (&'a Node, Option<&'a str>);

/// The stack of [`visit`]: a fixed array first, then a `Vec` that only allocates for deep
/// walks.
#[derive(Default)]
struct Pending<'a> {
    inline: [Option<Visit<'a>>; INLINE],
    len: usize,
    spilled: Vec<Visit<'a>>,
}

impl<'a> Pending<'a> {
    fn push(&mut self, node: &'a Node, rest: Option<&'a str>) {
        if self.len < INLINE {
            self.inline[self.len] = Some((node, rest));
            self.len += 1;
        } else {
            self.spilled.push((node, rest));
        }
    }

    fn pop(&mut self) -> Option<Visit<'a>> {
        if let Some(top) = self.spilled.pop() {
            return Some(top);
        }
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        self.inline[self.len].take()
    }
}

/// Removes `slot` from the pattern `tokens` below `root` and prunes the nodes that are left
/// empty, without recursion: one read-only walk finds the highest node that holds nothing
/// but the path to `slot`, then one walk cuts the branch there.
fn remove_from(root: &mut Node, tokens: &[Token], slot: u32) {
    // The last token `>` lives in the `rest` list of the node before it.
    let (path, in_rest) = match tokens.split_last() {
        Some((Token::Rest, path)) => (path, true),
        _ => (tokens, false),
    };
    let mut node: &Node = root;
    // Depth (number of path tokens) of the node to cut, if the branch can go.
    let mut cut = None;
    for (depth, token) in path.iter().enumerate() {
        let child = match token {
            Token::Literal(lit) => node.literal.get(&**lit),
            Token::Any => node.any.as_deref(),
            Token::Rest => None,
        };
        let Some(child) = child else {
            return;
        };
        // A node can go if all it holds is the rest of the path: one child, or, at the end
        // of the path, only `slot`.
        let entries = child.literal.len()
            + usize::from(child.any.is_some())
            + child.here.len()
            + child.rest.len();
        if entries == 1 {
            cut = cut.or(Some(depth));
        } else {
            cut = None;
        }
        node = child;
    }
    let end = if in_rest { &node.rest } else { &node.here };
    if !end.contains(&slot) {
        return;
    }
    if end.len() != 1 || path.is_empty() {
        cut = None;
    }

    let mut node = root;
    for (depth, token) in path.iter().enumerate() {
        if cut == Some(depth) {
            match token {
                Token::Literal(lit) => {
                    node.literal.remove(&**lit);
                }
                Token::Any => node.any = None,
                Token::Rest => {}
            }
            return;
        }
        let child = match token {
            Token::Literal(lit) => node.literal.get_mut(&**lit),
            Token::Any => node.any.as_deref_mut(),
            Token::Rest => None,
        };
        match child {
            Some(child) => node = child,
            None => return,
        }
    }
    let end = if in_rest {
        &mut node.rest
    } else {
        &mut node.here
    };
    end.retain(|&s| s != slot);
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
    fn pruning_keeps_shared_branches_and_the_rest_of_a_node() {
        let mut index = Index::default();
        let patterns = ["a.b.c", "a.b.c.>", "a.b", "a.*.c.d", "a.b.c"];
        for (slot, p) in patterns.iter().enumerate() {
            index.insert(Pattern::parse(p).unwrap().tokens(), slot as u32);
        }
        // Removing in every order leaves the others routable and ends with an empty trie.
        let order = [4, 0, 3, 1, 2];
        for (n, &slot) in order.iter().enumerate() {
            index.remove(
                Pattern::parse(patterns[slot]).unwrap().tokens(),
                slot as u32,
            );
            for &other in &order[n + 1..] {
                let subject = patterns[other].replace('*', "b").replace('>', "x");
                assert!(
                    matches(&index, &subject).contains(&(other as u32)),
                    "{} lost after removing {}",
                    patterns[other],
                    patterns[slot]
                );
            }
        }
        assert!(index.root.is_empty());
    }

    #[test]
    fn deep_patterns_walk_and_prune_without_recursion() {
        // Deeper than the inline stack, with a `*` sibling at every level.
        let deep = vec!["a"; 200].join(".");
        let stars = vec!["*"; 200].join(".");
        let mut index = Index::default();
        index.insert(Pattern::parse(&deep).unwrap().tokens(), 0);
        index.insert(Pattern::parse(&stars).unwrap().tokens(), 1);
        assert_eq!(matches(&index, &deep), vec![0, 1]);
        index.remove(Pattern::parse(&deep).unwrap().tokens(), 0);
        index.remove(Pattern::parse(&stars).unwrap().tokens(), 1);
        assert!(index.root.is_empty());
    }

    #[test]
    fn cached_route_follows_inserts_and_removals() {
        let mut index = Index::default();
        let a = Pattern::parse("a.*").unwrap();
        let b = Pattern::parse("a.b").unwrap();
        assert_eq!(index.route("a.b").unwrap().0, &[] as &[u32]);
        // A hit hands out the same subject `Arc` the ring slots share; a miss a new one.
        let first = Arc::clone(index.route("a.b").unwrap().1);
        assert!(Arc::ptr_eq(&first, index.route("a.b").unwrap().1));
        assert_eq!(&*first, "a.b");
        index.insert(a.tokens(), 0);
        assert_eq!(index.route("a.b").unwrap().0, &[0]);
        index.insert(b.tokens(), 1);
        assert_eq!(index.route("a.b").unwrap().0, &[1, 0]);
        // Another subject replaces the cached one; an invalid one is rejected, cached or not.
        assert_eq!(index.route("a.c").unwrap().0, &[0]);
        assert_eq!(
            index.route("a.*"),
            Err(SubjectError::WildcardInSubject { position: 1 })
        );
        assert_eq!(index.route("a.b").unwrap().0, &[1, 0]);
        index.remove(a.tokens(), 0);
        assert_eq!(index.route("a.b").unwrap().0, &[1]);
        index.remove(b.tokens(), 1);
        assert_eq!(index.route("a.b").unwrap().0, &[] as &[u32]);
    }
}
