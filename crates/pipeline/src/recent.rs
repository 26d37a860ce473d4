//! A bounded set of recent ids: remembers the last `capacity` ids inserted, forgets the oldest.

use std::collections::{HashSet, VecDeque};

/// Recently seen ids, oldest forgotten first.
pub(crate) struct RecentIds {
    set: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

/// Enough for every event in flight at once (bus queues are bounded far below this); an id
/// forgotten sooner costs a catalog read, not a second effect.
const DEFAULT_CAPACITY: usize = 16_384;

impl Default for RecentIds {
    fn default() -> RecentIds {
        RecentIds::new(DEFAULT_CAPACITY)
    }
}

impl RecentIds {
    pub(crate) fn new(capacity: usize) -> RecentIds {
        RecentIds {
            set: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.set.contains(id)
    }

    /// Remembers `id`; false when it was already remembered.
    pub(crate) fn insert(&mut self, id: &str) -> bool {
        if !self.set.insert(id.to_owned()) {
            return false;
        }
        self.order.push_back(id.to_owned());
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_beyond_capacity() {
        let mut r = RecentIds::new(2);
        assert!(r.insert("a"));
        assert!(!r.insert("a"));
        assert!(r.insert("b"));
        assert!(r.insert("c"));
        assert!(!r.contains("a") && r.contains("b") && r.contains("c"));
    }
}
