//! The room's view of the comment stream, folded from events: question
//! groups (one answer for many askers) and a sliding window of recent
//! comments (floods, repeats, per-viewer rate). Pure data and folds; the
//! policy decides with them, and every decision they lead to is an event.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};

use crate::events::{GroupedBy, Lang, RetrievedEntry};

/// The knowledge a group's answer is grounded in: the facts of the lead's
/// best entry (no retrieval score, which is not needed to answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupEntry {
    pub entry_id: i64,
    pub product_id: Option<String>,
    pub answer: String,
    pub answer_en: Option<String>,
}

impl From<&RetrievedEntry> for GroupEntry {
    fn from(e: &RetrievedEntry) -> GroupEntry {
        GroupEntry {
            entry_id: e.entry_id,
            product_id: e.product_id.clone(),
            answer: e.answer.clone(),
            answer_en: e.answer_en.clone(),
        }
    }
}

/// Questions about the same thing, answered once for all of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QuestionGroup {
    pub id: u64,
    /// The comment that opened the group; its retrieval grounds the answer.
    pub lead: i64,
    /// Members waiting for the answer, in arrival order.
    pub members: Vec<i64>,
    /// Viewers among the members: a viewer asking again is a duplicate.
    pub viewers: BTreeSet<String>,
    /// Normalised texts of the members: the same text joins the group.
    pub keys: BTreeSet<String>,
    pub lang: Lang,
    /// The lead's best knowledge entry, once retrieved.
    pub entry: Option<GroupEntry>,
    pub first_ts: i64,
    /// Arrival of the newest member: the group expires this long after it.
    pub last_ts: i64,
    /// When its answer was spoken; later askers are skipped as already answered.
    pub answered_at: Option<i64>,
    pub answered_count: usize,
    /// Askers who came after the answer, within the group window.
    pub late: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Groups {
    pub groups: BTreeMap<u64, QuestionGroup>,
    /// Groups opened in this session: the next id is `created + 1`.
    pub created: u64,
    pub by_key: BTreeMap<String, u64>,
    pub by_comment: BTreeMap<i64, u64>,
}

/// Who and what joins a group.
pub struct Joiner<'a> {
    pub seq: i64,
    pub viewer_id: &'a str,
    pub norm: &'a str,
    pub lang: Lang,
    pub ts: i64,
}

impl Groups {
    pub fn get(&self, id: u64) -> Option<&QuestionGroup> {
        self.groups.get(&id)
    }

    /// The group a question joins, and why: the group of the comment triage
    /// found it similar to, else the group with the same normalised text.
    pub fn find(&self, norm: &str, similar_to: Option<i64>) -> Option<(u64, GroupedBy)> {
        if let Some(id) = similar_to.and_then(|s| self.by_comment.get(&s)).filter(|id| self.groups.contains_key(id)) {
            return Some((*id, GroupedBy::Similar));
        }
        self.by_key.get(norm).filter(|id| self.groups.contains_key(id)).map(|id| (*id, GroupedBy::Text))
    }

    /// An open (not yet answered) group whose answer comes from `entry_id`.
    pub fn open_with_entry(&self, entry_id: i64, except: u64) -> Option<u64> {
        self.groups
            .values()
            .find(|g| {
                g.id != except && g.answered_at.is_none() && g.entry.as_ref().is_some_and(|e| e.entry_id == entry_id)
            })
            .map(|g| g.id)
    }

    /// A recently answered group whose answer came from `entry_id`.
    pub fn answered_with_entry(&self, entry_id: i64) -> Option<u64> {
        self.groups
            .values()
            .find(|g| g.answered_at.is_some() && g.entry.as_ref().is_some_and(|e| e.entry_id == entry_id))
            .map(|g| g.id)
    }

    /// Groups waiting for retrieval or for their answer.
    pub fn open_count(&self) -> usize {
        self.groups.values().filter(|g| g.answered_at.is_none()).count()
    }

    pub fn join(&mut self, group_id: u64, by: GroupedBy, who: Joiner<'_>) {
        self.leave(who.seq);
        if by == GroupedBy::New {
            self.created = self.created.max(group_id);
            self.groups.insert(
                group_id,
                QuestionGroup {
                    id: group_id,
                    lead: who.seq,
                    members: Vec::new(),
                    viewers: BTreeSet::new(),
                    keys: BTreeSet::new(),
                    lang: who.lang,
                    entry: None,
                    first_ts: who.ts,
                    last_ts: who.ts,
                    answered_at: None,
                    answered_count: 0,
                    late: 0,
                },
            );
        }
        let Some(group) = self.groups.get_mut(&group_id) else { return };
        self.by_comment.insert(who.seq, group_id);
        if !who.norm.is_empty() {
            group.keys.insert(who.norm.to_string());
            self.by_key.insert(who.norm.to_string(), group_id);
        }
        if group.answered_at.is_some() {
            group.late += 1;
            return;
        }
        group.members.push(who.seq);
        group.viewers.insert(who.viewer_id.to_string());
        group.last_ts = group.last_ts.max(who.ts);
    }

    /// A comment leaves its open group (skipped, or moved to another group);
    /// an open group left empty is gone.
    pub fn leave(&mut self, seq: i64) {
        let Some(&id) = self.by_comment.get(&seq) else { return };
        let Some(group) = self.groups.get_mut(&id) else { return };
        if group.answered_at.is_some() {
            return;
        }
        group.members.retain(|s| *s != seq);
        self.by_comment.remove(&seq);
        if group.members.is_empty() {
            self.remove(id);
        }
    }

    pub fn answered(&mut self, group_id: u64, ts: i64) {
        if let Some(group) = self.groups.get_mut(&group_id) {
            group.answered_at = Some(ts);
            group.answered_count = group.members.len();
        }
    }

    /// Forget answered groups older than `window_ms`: later askers open a new group.
    pub fn prune(&mut self, now: i64, window_ms: i64) {
        let old: Vec<u64> =
            self.groups.values().filter(|g| g.answered_at.is_some_and(|t| now - t > window_ms)).map(|g| g.id).collect();
        for id in old {
            self.remove(id);
        }
    }

    fn remove(&mut self, id: u64) {
        let Some(group) = self.groups.remove(&id) else { return };
        for key in &group.keys {
            if self.by_key.get(key) == Some(&id) {
                self.by_key.remove(key);
            }
        }
        self.by_comment.retain(|_, g| *g != id);
    }
}

/// Comments of the last `window_ms`: who said what, how often.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentWindow {
    order: VecDeque<(i64, String, String)>,
    /// Normalised text -> viewer -> times said.
    by_text: BTreeMap<String, BTreeMap<String, u32>>,
    by_viewer: BTreeMap<String, u32>,
}

impl RecentWindow {
    pub fn push(&mut self, ts: i64, viewer_id: &str, norm: &str, window_ms: i64) {
        while let Some((t, _, _)) = self.order.front() {
            if ts - *t <= window_ms {
                break;
            }
            // unwrap: front() was Some
            let (_, viewer, text) = self.order.pop_front().unwrap();
            if let Some(viewers) = self.by_text.get_mut(&text) {
                decrement(viewers, &viewer);
                if viewers.is_empty() {
                    self.by_text.remove(&text);
                }
            }
            decrement(&mut self.by_viewer, &viewer);
        }
        self.order.push_back((ts, viewer_id.to_string(), norm.to_string()));
        *self.by_text.entry(norm.to_string()).or_default().entry(viewer_id.to_string()).or_default() += 1;
        *self.by_viewer.entry(viewer_id.to_string()).or_default() += 1;
    }

    /// Comments of this viewer in the window (the one just pushed included).
    pub fn viewer_comments(&self, viewer_id: &str) -> u32 {
        self.by_viewer.get(viewer_id).copied().unwrap_or(0)
    }

    /// Times this viewer said this text in the window.
    pub fn said_by(&self, norm: &str, viewer_id: &str) -> u32 {
        self.by_text.get(norm).and_then(|v| v.get(viewer_id)).copied().unwrap_or(0)
    }

    /// Distinct viewers who said this text in the window.
    pub fn viewers_saying(&self, norm: &str) -> usize {
        self.by_text.get(norm).map_or(0, BTreeMap::len)
    }
}

fn decrement(map: &mut BTreeMap<String, u32>, key: &str) {
    if let Some(n) = map.get_mut(key) {
        *n -= 1;
        if *n == 0 {
            map.remove(key);
        }
    }
}
