//! The event model: one envelope, one typed enum of past-tense events.
//!
//! Every input to a room and every decision the room takes is one `Event`
//! wrapped in an `Envelope`. The log stores the envelope's fields as columns
//! and the event as JSONB (`{"type": "...", "data": {...}}`). Events are
//! facts: they are never changed once appended.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Schema version written with every event; bump it (and add an upcaster in
/// `Event::from_stored`) when a variant changes shape.
pub const SCHEMA_VERSION: i16 = 1;

/// Who speaks an utterance: each speaker is its own render target and never
/// speaks two utterances at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Host,
    Assistant,
}

/// Language of a comment or an utterance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    /// A text with any CJK ideograph is Chinese; anything else is English.
    pub fn detect(text: &str) -> Lang {
        if text.chars().any(is_cjk) { Lang::Zh } else { Lang::En }
    }
}

pub fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x4E00..=0x9FFF | 0x3400..=0x4DBF | 0xF900..=0xFAFF | 0x20000..=0x2A6DF)
}

/// Intent of a comment as triage sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// A question about a product (features, usage, suitability).
    ProductQuestion,
    /// Price or promotion.
    PriceAsk,
    /// Stock, size, shipping.
    StockAsk,
    PurchaseIntent,
    Complaint,
    Praise,
    Greeting,
    Spam,
    Abuse,
    Other,
}

impl Intent {
    /// Whether the host should try to answer it from product knowledge.
    pub fn wants_answer(self) -> bool {
        matches!(self, Intent::ProductQuestion | Intent::PriceAsk | Intent::StockAsk | Intent::Complaint)
    }
}

/// Position in the run of show: product index, segment index, sentence index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
pub struct PitchPos {
    pub product: u32,
    pub segment: u32,
    pub sentence: u32,
}

/// What an utterance is for: the policy resumes the pitch from `Pitch` acks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UtterancePurpose {
    Pitch {
        pos: PitchPos,
    },
    Reply {
        comment_seqs: Vec<i64>,
    },
    Thanks,
    Welcome,
    Operator,
    /// One sentence of a generated (LLM) reply.
    LlmReply {
        reply_id: String,
        index: u32,
        comment_seqs: Vec<i64>,
    },
}

/// One knowledge entry as retrieval returned it. The facts a reply is built
/// from travel in the event, so replay never needs the knowledge base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievedEntry {
    pub entry_id: i64,
    pub product_id: Option<String>,
    pub product_name: Option<String>,
    /// `faq`, `price`, `stock`, `attribute`, `selling_point`.
    pub kind: String,
    pub answer: String,
    pub answer_en: Option<String>,
    pub score: f64,
    /// Why it matched: `product_on_stage` or `brand`, plus the matched terms.
    pub reason: String,
}

/// A product as the room stages it: taken from the knowledge base when the
/// session starts and recorded in `SessionStarted`, so the run of show is part
/// of the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagedProduct {
    pub product_id: String,
    pub name: String,
    pub segments: Vec<Vec<String>>,
}

/// An A/B experiment the room runs: viewers are assigned to a variant
/// deterministically from their id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Experiment {
    pub name: String,
    pub variants: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Event {
    // ---- session lifecycle ----
    SessionStarted {
        brand_id: String,
        knowledge_version: i64,
        run_of_show: Vec<StagedProduct>,
        experiment: Option<Experiment>,
        /// The room's permanent disclosure: this host is an AI digital human.
        disclosure: String,
        /// The policy's tunables for this session.
        policy: crate::room::state::PolicyConfig,
    },
    /// The session is to end: the policy settles what is open (cancels the
    /// utterance on air, skips pending comments). `SessionEnded` follows.
    SessionEndRequested {
        reason: String,
    },
    /// The session's last event.
    SessionEnded {
        reason: String,
        /// Digest of the room state folded up to (not including) this event.
        state_digest: String,
    },

    // ---- viewer inputs ----
    ViewerJoined {
        viewer: Viewer,
        variant: Option<String>,
    },
    ViewerLeft {
        viewer: Viewer,
    },
    ViewerCommented {
        viewer: Viewer,
        text: String,
    },
    ViewerLiked {
        viewer: Viewer,
        count: u32,
    },
    ViewerGifted {
        viewer: Viewer,
        gift: String,
        count: u32,
        value: f64,
    },
    ViewerFollowed {
        viewer: Viewer,
    },
    ViewerOrdered {
        viewer: Viewer,
        product_id: String,
        quantity: u32,
        amount: f64,
    },

    // ---- nondeterministic results entering as events ----
    CommentTriaged {
        comment_seq: i64,
        intent: Intent,
        lang: Lang,
        classifier: String,
        /// The classifier's probability for `intent`, where it has one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        confidence: Option<f32>,
        /// An earlier comment of this session that says nearly the same thing
        /// (embedding similarity), found by the triage stage.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        similar_to: Option<i64>,
    },
    KnowledgeRetrieved {
        comment_seq: i64,
        query: String,
        entries: Vec<RetrievedEntry>,
    },
    /// The renderer accepted the utterance into its queue.
    UtteranceQueued {
        utterance_id: String,
    },
    UtteranceStarted {
        utterance_id: String,
    },
    UtteranceFinished {
        utterance_id: String,
    },
    UtteranceCancelled {
        utterance_id: String,
    },
    OperatorCommandReceived {
        command: OperatorCommand,
    },
    DecisionFailed {
        stage: String,
        error: String,
        comment_seq: Option<i64>,
    },

    // ---- decisions of the policy ----
    /// A reply to one comment or to a question group: a group's reply is
    /// decided again, with every member and the final text, just before it
    /// is spoken.
    ReplyDecided {
        comment_seqs: Vec<i64>,
        text: String,
        lang: Lang,
        entry_ids: Vec<i64>,
        source: String,
        /// The question group it answers (its size is `comment_seqs.len()`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<u64>,
    },
    CommentSkipped {
        comment_seq: i64,
        reason: SkipReason,
    },
    PitchAdvanced {
        from: PitchPos,
        to: PitchPos,
        product_changed: bool,
    },
    UtteranceDispatched {
        utterance_id: String,
        speaker: Speaker,
        text: String,
        lang: Lang,
        purpose: UtterancePurpose,
    },
    UtteranceCancelRequested {
        utterance_id: String,
        reason: String,
    },
    CameraCut {
        shot: String,
        product_id: Option<String>,
    },

    // ---- generated replies (src/llm/) ----
    /// Decision: ask the LLM for a reply. With the logged retrieval entries
    /// and the prompt version, the request can be rebuilt from the log.
    LlmRequested {
        reply_id: String,
        comment_seqs: Vec<i64>,
        task: String,
        prompt_version: String,
        entry_ids: Vec<i64>,
        lang: Lang,
        /// The texts of the entries given as facts: every figure spoken must be one of theirs.
        facts: Vec<String>,
        /// The template answer, spoken instead when a sentence fails a check
        /// or generation fails before any sentence.
        fallback_text: String,
    },
    /// Input: one complete sentence as the model streamed it (before checks).
    LlmSentence {
        reply_id: String,
        index: u32,
        text: String,
    },
    /// Input: the stream ended normally.
    LlmFinished {
        reply_id: String,
        sentences: u32,
        model: String,
        ttft_ms: i64,
        total_ms: i64,
    },
    /// Input: the stream failed: `kind` is `timeout`, `http_status`,
    /// `malformed`, `disconnected`, `not_configured`, `interrupted`, `request`.
    LlmFailed {
        reply_id: String,
        kind: String,
        error: String,
        sentences: u32,
        elapsed_ms: i64,
    },
    /// Decision: the checks' verdict on a streamed sentence, and the text
    /// that will be spoken for it (the template answer when it failed).
    LlmSentenceChecked {
        reply_id: String,
        index: u32,
        verdict: SentenceVerdict,
        text: String,
    },
    /// Decision: the generated reply is over (`spoken`, `cancelled`,
    /// `failed_fallback`, `empty_fallback`, `failed`, `expired`,
    /// `session_ended`); `dropped` sentences were never dispatched.
    LlmReplyEnded {
        reply_id: String,
        outcome: String,
        dropped: u32,
    },
    /// A question joined a question group (or opened one: `by` = `new`);
    /// a group is answered once, for all its members.
    QuestionGrouped {
        group_id: u64,
        comment_seq: i64,
        by: GroupedBy,
    },
    /// A compliance rule fired on a comment or on an output: what fired and
    /// what was done. For outputs, `original` is the text as composed and
    /// `text` what is spoken instead (`None`: nothing).
    ComplianceFlagged {
        target: crate::compliance::ComplianceTarget,
        comment_seq: Option<i64>,
        hits: Vec<crate::compliance::ComplianceHit>,
        action: crate::compliance::ComplianceAction,
        original: Option<String>,
        text: Option<String>,
    },
}

/// What the checks say about one generated sentence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum SentenceVerdict {
    Passed,
    /// It states figures no knowledge entry supports: replaced by the
    /// template answer, and the stream is stopped.
    Ungrounded {
        figures: Vec<String>,
    },
    /// The output check refused it: replaced by the template answer, and the
    /// stream is stopped.
    Blocked {
        reason: String,
    },
}

/// Why a question joined its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupedBy {
    /// The first question of a new group.
    New,
    /// The same normalised text as a member.
    Text,
    /// Triage found it near-identical to a member (embedding similarity).
    Similar,
    /// Retrieval answered it with the group's knowledge entry.
    Entry,
}

/// Why a comment gets no reply. Stable snake_case codes: analysts group by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Triage found nothing to answer (greeting, praise, other).
    NotAQuestion,
    /// Spam or advertising.
    Spam,
    Abuse,
    /// Retrieval found no knowledge entry to ground an answer in.
    NoKnowledgeMatch,
    /// The reply queue was full when the comment was triaged.
    ReplyQueueFull,
    /// Waited longer than the reply deadline before the host was free.
    Expired,
    /// The same question from the same viewer is already answered or queued.
    DuplicateQuestion,
    /// Retrieval failed (see the `DecisionFailed` event).
    RetrievalFailed,
    /// The session ended before the reply was spoken.
    SessionEnded,
    /// An operator cancelled the reply.
    CancelledByOperator,
    /// The same viewer said the same thing again within the window.
    Duplicate,
    /// Many viewers pasted the same non-question within the window.
    Flood,
    /// Only emoji, stickers or punctuation.
    EmojiOnly,
    /// The viewer wrote more comments within the window than the limit.
    ViewerRateLimited,
    /// The question's group was already answered (within the group window).
    AlreadyAnswered,
    /// A compliance rule blocked the comment or its reply (see `ComplianceFlagged`).
    ComplianceBlocked,
    /// The comment tries to instruct the host (see `ComplianceFlagged`).
    PromptInjection,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Viewer {
    pub id: String,
    #[serde(default)]
    pub name: String,
    /// The platform's message id, for dedup; absent for synthetic events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform_msg_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum OperatorCommand {
    /// Stop what the host is saying now (the pitch resumes at that sentence).
    CancelCurrent,
    /// Move the pitch to the next product.
    NextProduct,
    /// The host says this text next, before anything queued.
    Say {
        text: String,
    },
    Pause,
    Resume,
}

impl Event {
    /// The stable snake_case name stored in the log's `event_type` column.
    pub fn type_name(&self) -> &'static str {
        match self {
            Event::SessionStarted { .. } => "session_started",
            Event::SessionEndRequested { .. } => "session_end_requested",
            Event::SessionEnded { .. } => "session_ended",
            Event::ViewerJoined { .. } => "viewer_joined",
            Event::ViewerLeft { .. } => "viewer_left",
            Event::ViewerCommented { .. } => "viewer_commented",
            Event::ViewerLiked { .. } => "viewer_liked",
            Event::ViewerGifted { .. } => "viewer_gifted",
            Event::ViewerFollowed { .. } => "viewer_followed",
            Event::ViewerOrdered { .. } => "viewer_ordered",
            Event::CommentTriaged { .. } => "comment_triaged",
            Event::KnowledgeRetrieved { .. } => "knowledge_retrieved",
            Event::UtteranceQueued { .. } => "utterance_queued",
            Event::UtteranceStarted { .. } => "utterance_started",
            Event::UtteranceFinished { .. } => "utterance_finished",
            Event::UtteranceCancelled { .. } => "utterance_cancelled",
            Event::OperatorCommandReceived { .. } => "operator_command_received",
            Event::DecisionFailed { .. } => "decision_failed",
            Event::ReplyDecided { .. } => "reply_decided",
            Event::CommentSkipped { .. } => "comment_skipped",
            Event::PitchAdvanced { .. } => "pitch_advanced",
            Event::UtteranceDispatched { .. } => "utterance_dispatched",
            Event::UtteranceCancelRequested { .. } => "utterance_cancel_requested",
            Event::CameraCut { .. } => "camera_cut",
            Event::LlmRequested { .. } => "llm_requested",
            Event::LlmSentence { .. } => "llm_sentence",
            Event::LlmFinished { .. } => "llm_finished",
            Event::LlmFailed { .. } => "llm_failed",
            Event::LlmSentenceChecked { .. } => "llm_sentence_checked",
            Event::LlmReplyEnded { .. } => "llm_reply_ended",
            Event::QuestionGrouped { .. } => "question_grouped",
            Event::ComplianceFlagged { .. } => "compliance_flagged",
        }
    }

    /// Decisions are what the policy emits; everything else is an input.
    /// Replay re-runs the policy on every input and checks that it emits
    /// exactly the decisions the log holds.
    pub fn is_decision(&self) -> bool {
        matches!(
            self,
            Event::ReplyDecided { .. }
                | Event::CommentSkipped { .. }
                | Event::PitchAdvanced { .. }
                | Event::UtteranceDispatched { .. }
                | Event::UtteranceCancelRequested { .. }
                | Event::CameraCut { .. }
                | Event::LlmRequested { .. }
                | Event::LlmSentenceChecked { .. }
                | Event::LlmReplyEnded { .. }
                | Event::QuestionGrouped { .. }
                | Event::ComplianceFlagged { .. }
        )
    }

    /// The platform message id of a viewer input, for dedup.
    pub fn platform_msg_id(&self) -> Option<&str> {
        self.viewer().and_then(|v| v.platform_msg_id.as_deref())
    }

    pub fn viewer(&self) -> Option<&Viewer> {
        match self {
            Event::ViewerJoined { viewer, .. }
            | Event::ViewerLeft { viewer }
            | Event::ViewerCommented { viewer, .. }
            | Event::ViewerLiked { viewer, .. }
            | Event::ViewerGifted { viewer, .. }
            | Event::ViewerFollowed { viewer }
            | Event::ViewerOrdered { viewer, .. } => Some(viewer),
            _ => None,
        }
    }
}

/// An event with its place in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    pub room_id: String,
    pub session_id: Uuid,
    /// Per-session sequence number, from 1, without gaps.
    pub seq: i64,
    /// Milliseconds since the Unix epoch, from the room's clock (virtual in tests).
    pub ts: i64,
    pub version: i16,
    /// The seq of the event this one was decided in response to.
    pub causation: Option<i64>,
    #[serde(flatten)]
    pub event: Event,
}

impl Envelope {
    /// The JSON the console streams and the log's JSONB column holds
    /// (the log stores only the `{type, data}` part).
    pub fn to_json(&self) -> String {
        // unwrap: every field is plain data that serde_json always serialises
        serde_json::to_string(self).unwrap()
    }

    pub fn event_json(&self) -> String {
        // unwrap: as above
        serde_json::to_string(&self.event).unwrap()
    }
}
