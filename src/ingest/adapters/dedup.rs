//! No duplicates across reconnects: platform message ids are remembered
//! (the most recent [`Dedup::ID_MEMORY`] of them), and an event without one
//! is compared by a content key within a short window. Gift combos count
//! their increment once ([`ComboTracker`]).

use std::collections::{HashMap, HashSet, VecDeque};

use super::PlatformEvent;

/// Drops events already seen: by message id, else by content key within
/// `content_window_ms`.
#[derive(Debug)]
pub struct Dedup {
    ids: HashSet<String>,
    /// Insertion order of `ids`, to forget the oldest.
    id_order: VecDeque<String>,
    /// Content key -> when it was last seen (ms).
    content: HashMap<String, u64>,
    content_window_ms: u64,
    /// Events dropped as duplicates, for the feeder's counters.
    pub duplicates: u64,
}

impl Dedup {
    /// How many message ids are remembered; a platform replaying older
    /// messages than that after a reconnect is not seen in practice (Douyin
    /// replays the last few seconds).
    pub const ID_MEMORY: usize = 50_000;

    pub fn new(content_window_ms: u64) -> Dedup {
        Dedup {
            ids: HashSet::new(),
            id_order: VecDeque::new(),
            content: HashMap::new(),
            content_window_ms,
            duplicates: 0,
        }
    }

    /// Whether `event` is new (and remember it); `now_ms` is the receive time.
    pub fn admit(&mut self, event: &PlatformEvent, now_ms: u64) -> bool {
        let fresh = match &event.msg_id {
            Some(id) => self.admit_id(format!("{}:{id}", event.platform.as_str())),
            None => self.admit_content(content_key(event), now_ms),
        };
        if !fresh {
            self.duplicates += 1;
        }
        fresh
    }

    fn admit_id(&mut self, id: String) -> bool {
        if self.ids.contains(&id) {
            return false;
        }
        self.ids.insert(id.clone());
        self.id_order.push_back(id);
        while self.id_order.len() > Self::ID_MEMORY {
            if let Some(old) = self.id_order.pop_front() {
                self.ids.remove(&old);
            }
        }
        true
    }

    fn admit_content(&mut self, key: String, now_ms: u64) -> bool {
        let window = self.content_window_ms;
        if self.content.len() > 10_000 {
            self.content.retain(|_, seen| now_ms.saturating_sub(*seen) <= window);
        }
        match self.content.get(&key) {
            Some(seen) if now_ms.saturating_sub(*seen) <= window => false,
            _ => {
                self.content.insert(key, now_ms);
                true
            }
        }
    }
}

/// Platform, viewer and everything the event says.
pub fn content_key(event: &PlatformEvent) -> String {
    let viewer = event.viewer.as_ref().map(|v| v.id.as_str()).unwrap_or("-");
    let kind = serde_json::to_string(&event.kind).unwrap_or_default();
    format!("{}|{viewer}|{kind}", event.platform.as_str())
}

/// Gift combos: platforms resend a combo's running total (Douyin's
/// `repeatCount`, Bilibili's `COMBO_SEND` `total_num`); each message adds
/// only what the group's total grew by since the last one.
#[derive(Debug, Default)]
pub struct ComboTracker {
    totals: HashMap<String, u64>,
    order: VecDeque<String>,
}

impl ComboTracker {
    const MEMORY: usize = 20_000;

    /// The increment of the combo `key` now at `total`; `ended` forgets it.
    pub fn increment(&mut self, key: &str, total: u64, ended: bool) -> u64 {
        let seen = self.totals.get(key).copied();
        let delta = total.saturating_sub(seen.unwrap_or(0));
        if ended {
            self.totals.remove(key);
            return delta;
        }
        if seen.is_none() {
            self.order.push_back(key.to_string());
            while self.order.len() > Self::MEMORY {
                if let Some(old) = self.order.pop_front() {
                    self.totals.remove(&old);
                }
            }
        }
        self.totals.insert(key.to_string(), seen.unwrap_or(0).max(total));
        delta
    }

    /// Add `count` to the combo `key` (a send that reports its own count);
    /// returns the combo's total.
    pub fn add(&mut self, key: &str, count: u64) -> u64 {
        let total = self.totals.get(key).copied().unwrap_or(0).saturating_add(count);
        self.increment(key, total, false);
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::adapters::{Platform, PlatformEventKind, PlatformViewer};

    fn comment(id: Option<&str>, text: &str) -> PlatformEvent {
        PlatformEvent {
            platform: Platform::Douyin,
            msg_id: id.map(str::to_string),
            viewer: Some(PlatformViewer::new(&Platform::Douyin, 7, "a")),
            kind: PlatformEventKind::Comment { text: text.into() },
        }
    }

    #[test]
    fn a_message_id_is_admitted_once() {
        let mut dedup = Dedup::new(5_000);
        assert!(dedup.admit(&comment(Some("1"), "hi"), 0));
        assert!(!dedup.admit(&comment(Some("1"), "hi"), 999_999));
        assert!(dedup.admit(&comment(Some("2"), "hi"), 0));
        assert_eq!(dedup.duplicates, 1);
    }

    #[test]
    fn without_an_id_the_same_content_is_a_duplicate_only_within_the_window() {
        let mut dedup = Dedup::new(5_000);
        assert!(dedup.admit(&comment(None, "666"), 1_000));
        assert!(!dedup.admit(&comment(None, "666"), 4_000));
        assert!(dedup.admit(&comment(None, "666"), 9_500));
        assert!(dedup.admit(&comment(None, "777"), 9_500));
    }

    #[test]
    fn a_combo_counts_each_increment_once() {
        let mut combos = ComboTracker::default();
        assert_eq!(combos.increment("u|rose|g1", 1, false), 1);
        assert_eq!(combos.increment("u|rose|g1", 5, false), 4);
        // a replayed message after a reconnect adds nothing
        assert_eq!(combos.increment("u|rose|g1", 5, false), 0);
        assert_eq!(combos.increment("u|rose|g1", 3, false), 0);
        assert_eq!(combos.increment("u|rose|g1", 7, true), 2);
        assert_eq!(combos.increment("u|rose|g2", 2, false), 2);
    }
}
