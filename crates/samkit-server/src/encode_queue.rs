//! What the background encoder does next, and small caches: the encoding [`Queue`] (the
//! image asked for first, then the ones after the image viewed, in list order), each
//! image's [`EmbedState`], and the [`Lru`] map the engine keeps embeddings and tokens in.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;

use serde::Serialize;

/// A small least-recently-used map (capacities here are tens of entries).
pub struct Lru<K, V> {
    cap: usize,
    map: HashMap<K, V>,
    order: VecDeque<K>,
}

impl<K: Eq + Hash + Clone, V: Clone> Lru<K, V> {
    pub fn new(cap: usize) -> Self {
        Lru {
            cap: cap.max(1),
            map: HashMap::new(),
            order: VecDeque::new(),
        }
    }
    pub fn get(&mut self, k: &K) -> Option<V> {
        let v = self.map.get(k)?.clone();
        self.order.retain(|x| x != k);
        self.order.push_back(k.clone());
        Some(v)
    }
    pub fn insert(&mut self, k: K, v: V) {
        if self.map.insert(k.clone(), v).is_some() {
            self.order.retain(|x| x != &k);
        }
        self.order.push_back(k);
        while self.order.len() > self.cap {
            if let Some(old) = self.order.pop_front() {
                self.map.remove(&old);
            }
        }
    }
    pub fn remove(&mut self, k: &K) {
        if self.map.remove(k).is_some() {
            self.order.retain(|x| x != k);
        }
    }
}

/// Embedding state of one image, as the API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EmbedState {
    None,
    Queued,
    Encoding,
    Ready,
    Failed,
}

impl EmbedState {
    pub fn as_str(self) -> &'static str {
        match self {
            EmbedState::None => "none",
            EmbedState::Queued => "queued",
            EmbedState::Encoding => "encoding",
            EmbedState::Ready => "ready",
            EmbedState::Failed => "failed",
        }
    }
}

#[derive(Default)]
pub(crate) struct Queue {
    /// Image ids in list order (present on disk only).
    pub(crate) order: Vec<i64>,
    pub(crate) urgent: VecDeque<i64>,
    pub(crate) viewing: Option<i64>,
    pub(crate) encoding: Option<(i64, String)>,
    pub(crate) ready: HashSet<i64>,
    pub(crate) failed: HashMap<i64, String>,
}

impl Queue {
    pub(crate) fn wanted(&self, id: i64) -> bool {
        !self.ready.contains(&id) && !self.failed.contains_key(&id)
    }

    pub(crate) fn window(&self, prefetch: usize) -> Vec<i64> {
        let start = self
            .viewing
            .and_then(|v| self.order.iter().position(|&x| x == v))
            .map_or(0, |p| p + 1);
        self.order
            .iter()
            .skip(start)
            .take(prefetch)
            .copied()
            .collect()
    }

    pub(crate) fn pick(&mut self, prefetch: usize) -> Option<i64> {
        while let Some(id) = self.urgent.pop_front() {
            if self.wanted(id) && self.order.contains(&id) {
                return Some(id);
            }
        }
        self.window(prefetch)
            .into_iter()
            .find(|&id| self.wanted(id))
    }

    pub(crate) fn state(&self, id: i64, prefetch: usize) -> EmbedState {
        if self.ready.contains(&id) {
            EmbedState::Ready
        } else if self.encoding.as_ref().is_some_and(|(e, _)| *e == id) {
            EmbedState::Encoding
        } else if self.failed.contains_key(&id) {
            EmbedState::Failed
        } else if self.urgent.contains(&id) || self.window(prefetch).contains(&id) {
            EmbedState::Queued
        } else {
            EmbedState::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lru_evicts_least_recently_used() {
        let mut l = Lru::new(2);
        l.insert(1, "a");
        l.insert(2, "b");
        assert_eq!(l.get(&1), Some("a"));
        l.insert(3, "c");
        assert_eq!(
            (l.get(&1), l.get(&2), l.get(&3)),
            (Some("a"), None, Some("c"))
        );
    }

    #[test]
    fn encoding_order_is_urgent_then_images_after_the_viewed_one() {
        let mut q = Queue {
            order: vec![10, 11, 12, 13, 14],
            ..Default::default()
        };
        // Nothing viewed yet: prefetch from the start of the list.
        assert_eq!(q.pick(2), Some(10));
        q.ready.insert(10);
        q.viewing = Some(12);
        q.urgent.push_back(12);
        assert_eq!(q.pick(2), Some(12));
        q.ready.insert(12);
        assert_eq!(q.state(13, 2), EmbedState::Queued);
        assert_eq!(q.state(11, 2), EmbedState::None);
        assert_eq!(q.pick(2), Some(13));
        q.ready.insert(13);
        q.failed.insert(14, "bad".into());
        assert_eq!(
            q.pick(2),
            None,
            "failed images are not retried on their own"
        );
        // An image no longer in the list (deleted from disk) is never picked.
        q.urgent.push_back(99);
        assert_eq!(q.pick(2), None);
    }
}
