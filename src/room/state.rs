//! Room state: a pure fold over the session's events.
//!
//! `apply` is the only way state changes, and it reads nothing but the event
//! and the state: no clock, no I/O. Everything is kept in ordered containers
//! so the serialised state, and so its digest, is the same on every replay.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compliance::{ComplianceAction, ComplianceTarget};
use crate::events::{
    Envelope, Event, Experiment, GroupedBy, Intent, Lang, OperatorCommand, PitchPos, Speaker, StagedProduct, UtterancePurpose,
};

/// Tunables of the policy. Recorded in `SessionStarted` (through the run of
/// show's session config), so replay decides with the same values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PolicyConfig {
    /// Interactions (replies, thanks, welcomes) allowed between two pitch
    /// sentences: the pitch always moves on after this many.
    pub max_interactions_between_pitch: u32,
    /// Comments waiting for retrieval or queued as replies; more are skipped
    /// with `reply_queue_full`.
    pub max_pending_replies: usize,
    /// A queued reply older than this (ms since its comment) is skipped as `expired`.
    /// A question group counts from its newest member.
    pub reply_deadline_ms: i64,
    /// After its answer, a question group stays this long: later askers are
    /// skipped as `already_answered`, not answered again.
    pub group_window_ms: i64,
    /// The sliding window for floods, repeats and the per-viewer rate.
    pub recent_window_ms: i64,
    /// A non-question pasted by this many viewers in the window is a `flood`.
    pub flood_min_viewers: usize,
    /// Comments a viewer may write in the window; more are `viewer_rate_limited`.
    pub viewer_max_comments: u32,
    /// The brand's forbidden claims: an output sentence with one is not spoken.
    pub forbidden_claims: Vec<String>,
    /// Sensitive words for comments, beyond the built-in list.
    pub sensitive_words: Vec<String>,
    /// Thanks and welcomes owed longer than this are not spoken.
    pub ack_deadline_ms: i64,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            max_interactions_between_pitch: 2,
            max_pending_replies: 6,
            reply_deadline_ms: 60_000,
            group_window_ms: 60_000,
            recent_window_ms: 10_000,
            flood_min_viewers: 3,
            viewer_max_comments: 5,
            forbidden_claims: Vec::new(),
            sensitive_words: Vec::new(),
            ack_deadline_ms: 120_000,
        }
    }
}

/// The utterance on air now. The room has one floor: host and assistant take
/// turns, so no speaker ever overlaps itself (nor the other).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnAir {
    pub utterance_id: String,
    pub speaker: Speaker,
    pub purpose: UtterancePurpose,
    pub text: String,
    pub started: bool,
    pub cancel_requested: bool,
}

/// A comment between triage and its reply (or skip).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingComment {
    pub viewer_id: String,
    pub viewer_name: String,
    pub text: String,
    pub ts: i64,
    pub intent: Option<Intent>,
    pub lang: Option<Lang>,
    /// Triaged as worth answering and not skipped: waiting for retrieval.
    pub awaiting_retrieval: bool,
    /// The comparison form of the text (`compliance::text::normalize`).
    #[serde(default)]
    pub norm: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueuedReply {
    pub comment_seqs: Vec<i64>,
    pub text: String,
    pub lang: Lang,
    /// Timestamp of the oldest comment the reply answers.
    pub comment_ts: i64,
    #[serde(default)]
    pub group_id: Option<u64>,
}

/// A thank-you or welcome the assistant owes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub kind: AckKind,
    pub name: String,
    pub detail: String,
    /// When it was owed: thanks older than `ack_deadline_ms` are not spoken.
    #[serde(default)]
    pub ts: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AckKind {
    Gift,
    Follow,
    Order,
    Join,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counters {
    pub events: u64,
    pub joins: u64,
    pub leaves: u64,
    pub comments: u64,
    pub likes: u64,
    pub gifts: u64,
    pub gift_value_cents: i64,
    pub follows: u64,
    pub orders: u64,
    pub order_value_cents: i64,
    pub replies_decided: u64,
    pub comments_skipped: BTreeMap<String, u64>,
    pub utterances_dispatched: u64,
    pub utterances_finished: u64,
    pub utterances_cancelled: u64,
    pub pitch_sentences: u64,
    pub decision_failures: u64,
    pub question_groups: u64,
    pub groups_answered: u64,
    pub compliance_flags: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RoomState {
    pub room_id: String,
    pub started: bool,
    pub ended: bool,
    pub brand_id: String,
    pub knowledge_version: i64,
    pub run_of_show: Vec<StagedProduct>,
    pub experiment: Option<Experiment>,
    pub disclosure: String,
    pub policy: PolicyConfig,
    pub last_seq: i64,
    pub last_ts: i64,
    /// The next pitch sentence to speak.
    pub cursor: PitchPos,
    pub on_air: Option<OnAir>,
    /// The last utterance that went off air (finished or cancelled), with its
    /// purpose: the policy advances the pitch from a finished pitch sentence.
    pub last_off_air: Option<(String, UtterancePurpose)>,
    pub interactions_since_pitch: u32,
    pub paused: bool,
    pub shot: String,
    pub pending_comments: BTreeMap<i64, PendingComment>,
    pub reply_queue: VecDeque<QueuedReply>,
    pub acknowledgements: VecDeque<Acknowledgement>,
    pub operator_lines: VecDeque<String>,
    /// Number of utterances dispatched so far: utterance ids are `u<n>`.
    pub utterances: u64,
    pub viewers_present: BTreeSet<String>,
    /// Platform message ids seen, for dedup of re-delivered platform messages.
    pub seen_platform_msgs: BTreeSet<String>,
    pub counters: Counters,
    pub groups: super::queue::Groups,
    pub recent: super::queue::RecentWindow,
}

impl RoomState {
    pub fn new(room_id: &str) -> RoomState {
        RoomState { room_id: room_id.to_string(), ..Default::default() }
    }

    /// Fold a whole log.
    pub fn from_events<'a>(room_id: &str, events: impl IntoIterator<Item = &'a Envelope>) -> RoomState {
        let mut state = RoomState::new(room_id);
        for e in events {
            state.apply(e);
        }
        state
    }

    pub fn apply(&mut self, envelope: &Envelope) {
        debug_assert!(envelope.seq == self.last_seq + 1, "events must be applied in order without gaps");
        self.last_seq = envelope.seq;
        self.last_ts = envelope.ts;
        self.counters.events += 1;
        if let Some(id) = envelope.event.platform_msg_id() {
            self.seen_platform_msgs.insert(id.to_string());
        }
        match &envelope.event {
            Event::SessionStarted { brand_id, knowledge_version, run_of_show, experiment, disclosure, policy } => {
                self.started = true;
                self.brand_id = brand_id.clone();
                self.knowledge_version = *knowledge_version;
                self.run_of_show = run_of_show.clone();
                self.experiment = experiment.clone();
                self.disclosure = disclosure.clone();
                self.policy = policy.clone();
            }
            Event::SessionEndRequested { .. } => {}
            Event::SessionEnded { .. } => self.ended = true,
            Event::ViewerJoined { viewer, .. } => {
                self.counters.joins += 1;
                if self.viewers_present.insert(viewer.id.clone()) {
                    self.acknowledgements.push_back(Acknowledgement {
                        kind: AckKind::Join,
                        name: display_name(viewer),
                        detail: String::new(),
                        ts: envelope.ts,
                    });
                }
            }
            Event::ViewerLeft { viewer } => {
                self.counters.leaves += 1;
                self.viewers_present.remove(&viewer.id);
            }
            Event::ViewerCommented { viewer, text } => {
                self.counters.comments += 1;
                let norm = crate::compliance::text::normalize(text);
                self.recent.push(envelope.ts, &viewer.id, &norm, self.policy.recent_window_ms);
                self.groups.prune(envelope.ts, self.policy.group_window_ms);
                self.pending_comments.insert(
                    envelope.seq,
                    PendingComment {
                        viewer_id: viewer.id.clone(),
                        viewer_name: display_name(viewer),
                        text: text.clone(),
                        ts: envelope.ts,
                        intent: None,
                        lang: None,
                        awaiting_retrieval: false,
                        norm,
                    },
                );
            }
            Event::ViewerLiked { count, .. } => self.counters.likes += u64::from(*count),
            Event::ViewerGifted { viewer, gift, count, value } => {
                self.counters.gifts += u64::from(*count);
                self.counters.gift_value_cents += to_cents(*value * f64::from(*count));
                self.acknowledgements.push_back(Acknowledgement {
                    kind: AckKind::Gift,
                    name: display_name(viewer),
                    detail: if *count > 1 { format!("{count}个{gift}") } else { gift.clone() },
                    ts: envelope.ts,
                });
            }
            Event::ViewerFollowed { viewer } => {
                self.counters.follows += 1;
                self.acknowledgements.push_back(Acknowledgement {
                    kind: AckKind::Follow,
                    name: display_name(viewer),
                    detail: String::new(),
                    ts: envelope.ts,
                });
            }
            Event::ViewerOrdered { viewer, product_id, amount, .. } => {
                self.counters.orders += 1;
                self.counters.order_value_cents += to_cents(*amount);
                let product = self
                    .run_of_show
                    .iter()
                    .find(|p| &p.product_id == product_id)
                    .map(|p| p.name.clone())
                    .unwrap_or_default();
                self.acknowledgements.push_back(Acknowledgement {
                    kind: AckKind::Order,
                    name: display_name(viewer),
                    detail: product,
                    ts: envelope.ts,
                });
            }
            Event::CommentTriaged { comment_seq, intent, lang, .. } => {
                if let Some(c) = self.pending_comments.get_mut(comment_seq) {
                    c.intent = Some(*intent);
                    c.lang = Some(*lang);
                    c.awaiting_retrieval = intent.wants_answer();
                }
            }
            Event::KnowledgeRetrieved { comment_seq, entries, .. } => {
                if let Some(c) = self.pending_comments.get_mut(comment_seq) {
                    c.awaiting_retrieval = false;
                }
                // the lead's best entry grounds its group's answer
                if let Some(id) = self.groups.by_comment.get(comment_seq).copied()
                    && let Some(group) = self.groups.groups.get_mut(&id)
                    && group.lead == *comment_seq
                    && group.entry.is_none()
                {
                    group.entry = entries.first().map(super::queue::GroupEntry::from);
                }
            }
            Event::UtteranceQueued { .. } => {}
            Event::UtteranceStarted { utterance_id } => {
                if let Some(on_air) = self.on_air.as_mut().filter(|a| &a.utterance_id == utterance_id) {
                    on_air.started = true;
                }
            }
            Event::UtteranceFinished { utterance_id } => {
                if let Some(on_air) = self.on_air.take_if(|a| &a.utterance_id == utterance_id) {
                    self.counters.utterances_finished += 1;
                    self.last_off_air = Some((on_air.utterance_id, on_air.purpose));
                }
            }
            Event::UtteranceCancelled { utterance_id } => {
                if let Some(on_air) = self.on_air.take_if(|a| &a.utterance_id == utterance_id) {
                    self.counters.utterances_cancelled += 1;
                    self.last_off_air = Some((on_air.utterance_id, on_air.purpose));
                }
            }
            Event::OperatorCommandReceived { command } => match command {
                OperatorCommand::Pause => self.paused = true,
                OperatorCommand::Resume => self.paused = false,
                OperatorCommand::Say { text } => self.operator_lines.push_back(text.clone()),
                OperatorCommand::CancelCurrent | OperatorCommand::NextProduct => {}
            },
            Event::DecisionFailed { comment_seq, .. } => {
                self.counters.decision_failures += 1;
                if let Some(c) = comment_seq.and_then(|s| self.pending_comments.get_mut(&s)) {
                    c.awaiting_retrieval = false;
                }
            }
            Event::ReplyDecided { comment_seqs, text, lang, group_id, .. } => {
                // a group's reply decided again (final members and text) replaces the first
                if let Some(queued) = group_id.and_then(|g| self.reply_queue.iter_mut().find(|r| r.group_id == Some(g))) {
                    queued.comment_seqs = comment_seqs.clone();
                    queued.text = text.clone();
                    return;
                }
                self.counters.replies_decided += 1;
                let comment_ts = comment_seqs
                    .iter()
                    .filter_map(|s| self.pending_comments.get(s).map(|c| c.ts))
                    .min()
                    .unwrap_or(envelope.ts);
                self.reply_queue.push_back(QueuedReply {
                    comment_seqs: comment_seqs.clone(),
                    text: text.clone(),
                    lang: *lang,
                    comment_ts,
                    group_id: *group_id,
                });
            }
            Event::CommentSkipped { comment_seq, reason } => {
                *self.counters.comments_skipped.entry(skip_code(*reason)).or_default() += 1;
                self.pending_comments.remove(comment_seq);
                self.groups.leave(*comment_seq);
                // a skipped comment leaves the reply queue too (expiry, cancel)
                for reply in self.reply_queue.iter_mut() {
                    reply.comment_seqs.retain(|s| s != comment_seq);
                }
                self.reply_queue.retain(|r| !r.comment_seqs.is_empty());
            }
            Event::PitchAdvanced { to, .. } => self.cursor = *to,
            Event::UtteranceDispatched { utterance_id, speaker, text, purpose, .. } => {
                self.utterances += 1;
                self.counters.utterances_dispatched += 1;
                self.on_air = Some(OnAir {
                    utterance_id: utterance_id.clone(),
                    speaker: *speaker,
                    purpose: purpose.clone(),
                    text: text.clone(),
                    started: false,
                    cancel_requested: false,
                });
                match purpose {
                    UtterancePurpose::Pitch { .. } => {
                        self.interactions_since_pitch = 0;
                        self.counters.pitch_sentences += 1;
                    }
                    UtterancePurpose::Reply { comment_seqs } => {
                        self.interactions_since_pitch += 1;
                        // the policy picks by priority: not always the front
                        self.reply_queue.retain(|r| !r.comment_seqs.iter().any(|s| comment_seqs.contains(s)));
                        if let Some(id) = comment_seqs.first().and_then(|s| self.groups.by_comment.get(s)).copied() {
                            self.groups.answered(id, envelope.ts);
                            self.counters.groups_answered += 1;
                        }
                        for s in comment_seqs {
                            self.pending_comments.remove(s);
                        }
                    }
                    UtterancePurpose::Thanks | UtterancePurpose::Welcome => {
                        self.interactions_since_pitch += 1;
                        self.acknowledgements.clear();
                    }
                    UtterancePurpose::Operator => {
                        self.operator_lines.pop_front();
                    }
                }
            }
            Event::UtteranceCancelRequested { utterance_id, .. } => {
                if let Some(on_air) = self.on_air.as_mut().filter(|a| &a.utterance_id == utterance_id) {
                    on_air.cancel_requested = true;
                }
            }
            Event::CameraCut { shot, .. } => self.shot = shot.clone(),
            Event::QuestionGrouped { group_id, comment_seq, by } => {
                if *by == GroupedBy::New {
                    self.counters.question_groups += 1;
                }
                if let Some(c) = self.pending_comments.get(comment_seq) {
                    let who = super::queue::Joiner {
                        seq: *comment_seq,
                        viewer_id: &c.viewer_id,
                        norm: &c.norm,
                        lang: c.lang.unwrap_or(Lang::Zh),
                        ts: c.ts,
                    };
                    self.groups.join(*group_id, *by, who);
                }
                // only a group's lead is retrieved for
                if *by != GroupedBy::New
                    && let Some(c) = self.pending_comments.get_mut(comment_seq)
                {
                    c.awaiting_retrieval = false;
                }
            }
            Event::ComplianceFlagged { target, action, .. } => {
                self.counters.compliance_flags += 1;
                if *target == ComplianceTarget::Operator && *action == ComplianceAction::Blocked {
                    self.operator_lines.pop_front();
                }
            }
        }
    }

    /// sha256 of the canonical JSON of the state: equal states, equal digests.
    pub fn digest(&self) -> String {
        // unwrap: the state is plain data with string map keys
        let json = serde_json::to_vec(self).unwrap();
        hex::encode(&Sha256::digest(&json)[..16])
    }

    pub fn product_on_stage(&self) -> Option<&StagedProduct> {
        self.run_of_show.get(self.cursor.product as usize)
    }

    /// The sentence at `pos`, if the run of show has one there.
    pub fn sentence_at(&self, pos: PitchPos) -> Option<&str> {
        self.run_of_show
            .get(pos.product as usize)?
            .segments
            .get(pos.segment as usize)?
            .get(pos.sentence as usize)
            .map(String::as_str)
    }

    /// The pitch position after `pos`: next sentence, next segment, next
    /// product, and round again from the first product at the end.
    pub fn next_pos(&self, pos: PitchPos) -> PitchPos {
        let products = &self.run_of_show;
        if products.is_empty() {
            return pos;
        }
        let mut next = PitchPos { sentence: pos.sentence + 1, ..pos };
        loop {
            let Some(product) = products.get(next.product as usize) else {
                next = PitchPos::default();
                continue;
            };
            match product.segments.get(next.segment as usize) {
                Some(segment) if (next.sentence as usize) < segment.len() => return next,
                Some(_) => next = PitchPos { segment: next.segment + 1, sentence: 0, ..next },
                None => {
                    let product = if (next.product as usize) + 1 < products.len() { next.product + 1 } else { 0 };
                    next = PitchPos { product, segment: 0, sentence: 0 };
                    if products.iter().all(|p| p.segments.iter().all(|s| s.is_empty())) {
                        return next;
                    }
                }
            }
        }
    }

    /// The first sentence of the product after the one on stage.
    pub fn next_product_pos(&self) -> PitchPos {
        let n = self.run_of_show.len() as u32;
        if n == 0 {
            return PitchPos::default();
        }
        let start = PitchPos { product: (self.cursor.product + 1) % n, segment: 0, sentence: 0 };
        if self.sentence_at(start).is_some() { start } else { self.next_pos(start) }
    }
}

/// The name the room may speak: the viewer's name, sanitised (a name with
/// instructions, sensitive words or absolute terms becomes a neutral one).
pub fn display_name(viewer: &crate::events::Viewer) -> String {
    let name = if viewer.name.trim().is_empty() { &viewer.id } else { &viewer.name };
    let fallback = if name.chars().any(crate::events::is_cjk) || viewer.name.trim().is_empty() { "这位朋友" } else { "friend" };
    crate::compliance::sanitize_name(name, fallback)
}

pub fn skip_code(reason: crate::events::SkipReason) -> String {
    // unwrap: a unit enum variant always serialises to a string
    serde_json::to_value(reason).unwrap().as_str().unwrap_or("unknown").to_string()
}

fn to_cents(value: f64) -> i64 {
    if value.is_finite() { (value * 100.0).round() as i64 } else { 0 }
}
