//! The room's policy: state + event -> decisions. Pure: no I/O, no clock, no
//! randomness. Time is the event's timestamp.
//!
//! `step` folds the input into the state, then decides; every decision is an
//! event that is folded in as soon as it is emitted, so the rest of the step
//! sees it. The decisions come back as envelopes (seq, ts and causation
//! assigned) with the effects the room must run once they are durable.
//! Replay runs the same `step` over the logged inputs and checks that it
//! yields exactly the logged decisions.

use crate::events::{
    Envelope, Event, Intent, Lang, OperatorCommand, PitchPos, SCHEMA_VERSION, SkipReason, Speaker, UtterancePurpose,
};

use super::state::{QueuedReply, RoomState};
use super::templates;

mod llm;

/// The id of the generated reply to the comment at `comment_seq`.
pub fn reply_id_for(comment_seq: i64) -> String {
    llm::reply_id(comment_seq)
}

/// Something the room must do after the decisions are durable. Effects are
/// not logged: their results come back as input events.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Classify a comment; the result comes back as `CommentTriaged`.
    Triage { comment_seq: i64, text: String },
    /// Find knowledge for a comment; the result comes back as `KnowledgeRetrieved`.
    Retrieve { comment_seq: i64, text: String, lang: Lang, product_id: Option<String> },
    /// Render an utterance; acks come back as `Utterance{Queued,Started,Finished,Cancelled}`.
    Speak { utterance_id: String, speaker: Speaker, text: String, lang: Lang },
    /// Stop an utterance at every stage.
    Cancel { utterance_id: String },
    /// Switch the camera.
    Cut { shot: String, product_id: Option<String> },
    /// Stream a reply from the LLM; sentences come back as `LlmSentence`,
    /// the end as `LlmFinished` or `LlmFailed`.
    Generate { reply_id: String, request: crate::llm::LlmRequest },
    /// Stop the LLM stream of a reply.
    StopLlm { reply_id: String },
}

#[derive(Debug, Default)]
pub struct Step {
    pub decisions: Vec<Envelope>,
    pub effects: Vec<Effect>,
}

/// Fold `input` into `state` and decide what follows from it.
pub fn step(state: &mut RoomState, input: &Envelope) -> Step {
    debug_assert!(!input.event.is_decision(), "decisions are emitted by the policy, never stepped");
    state.apply(input);
    let mut ctx = Ctx { state, input, out: Step::default() };
    ctx.decide();
    ctx.out
}

struct Ctx<'a> {
    state: &'a mut RoomState,
    input: &'a Envelope,
    out: Step,
}

impl Ctx<'_> {
    fn emit(&mut self, event: Event) {
        let envelope = Envelope {
            room_id: self.input.room_id.clone(),
            session_id: self.input.session_id,
            seq: self.state.last_seq + 1,
            ts: self.input.ts,
            version: SCHEMA_VERSION,
            causation: Some(self.input.seq),
            event,
        };
        self.state.apply(&envelope);
        self.out.decisions.push(envelope);
    }

    fn effect(&mut self, effect: Effect) {
        self.out.effects.push(effect);
    }

    fn decide(&mut self) {
        if self.state.ended {
            return;
        }
        match &self.input.event {
            Event::SessionStarted { .. } => self.fill_floor(),
            Event::SessionEndRequested { .. } => self.end_session(),
            Event::SessionEnded { .. } => {}
            Event::ViewerCommented { text, .. } => {
                self.effect(Effect::Triage { comment_seq: self.input.seq, text: text.clone() });
            }
            Event::ViewerJoined { .. }
            | Event::ViewerGifted { .. }
            | Event::ViewerFollowed { .. }
            | Event::ViewerOrdered { .. } => self.fill_floor(),
            Event::ViewerLeft { .. } | Event::ViewerLiked { .. } => {}
            Event::CommentTriaged { comment_seq, intent, lang, .. } => self.on_triaged(*comment_seq, *intent, *lang),
            Event::KnowledgeRetrieved { comment_seq, entries, .. } => {
                let Some(comment) = self.state.pending_comments.get(comment_seq) else { return };
                let Some(best) = entries.first() else {
                    self.skip(*comment_seq, SkipReason::NoKnowledgeMatch);
                    return;
                };
                if self.state.policy.llm.is_some() {
                    self.request_llm_reply(*comment_seq, entries);
                    return;
                }
                let lang = comment.lang.unwrap_or(Lang::Zh);
                let text = templates::reply(&comment.viewer_name, best, lang);
                self.emit(Event::ReplyDecided {
                    comment_seqs: vec![*comment_seq],
                    text,
                    lang,
                    entry_ids: vec![best.entry_id],
                    source: "template".into(),
                });
                self.fill_floor();
            }
            Event::DecisionFailed { comment_seq: Some(seq), .. } => {
                if self.state.pending_comments.contains_key(seq) {
                    self.skip(*seq, SkipReason::RetrievalFailed);
                }
            }
            Event::DecisionFailed { comment_seq: None, .. } => {}
            Event::UtteranceQueued { .. } | Event::UtteranceStarted { .. } => {}
            Event::UtteranceFinished { utterance_id } => self.on_utterance_over(utterance_id, true),
            Event::UtteranceCancelled { utterance_id } => self.on_utterance_over(utterance_id, false),
            Event::OperatorCommandReceived { command } => self.on_operator(command),
            // decisions are never inputs (see `step`)
            Event::ReplyDecided { .. }
            | Event::CommentSkipped { .. }
            | Event::PitchAdvanced { .. }
            | Event::UtteranceDispatched { .. }
            | Event::UtteranceCancelRequested { .. }
            | Event::CameraCut { .. }
            | Event::LlmRequested { .. }
            | Event::LlmSentenceChecked { .. }
            | Event::LlmReplyEnded { .. } => {}
            Event::LlmSentence { reply_id, index, text } => self.on_llm_sentence(reply_id, *index, text),
            Event::LlmFinished { reply_id, .. } => self.on_llm_stream_over(reply_id, false),
            Event::LlmFailed { reply_id, .. } => self.on_llm_stream_over(reply_id, true),
        }
    }

    fn on_triaged(&mut self, comment_seq: i64, intent: Intent, lang: Lang) {
        let Some(comment) = self.state.pending_comments.get(&comment_seq) else { return };
        if !intent.wants_answer() {
            let reason = match intent {
                Intent::Spam => SkipReason::Spam,
                Intent::Abuse => SkipReason::Abuse,
                _ => SkipReason::NotAQuestion,
            };
            self.skip(comment_seq, reason);
            return;
        }
        let normalized = normalize(&comment.text);
        let duplicate = self.state.pending_comments.iter().any(|(seq, other)| {
            *seq != comment_seq
                && other.viewer_id == comment.viewer_id
                && other.intent.is_some_and(Intent::wants_answer)
                && normalize(&other.text) == normalized
        });
        if duplicate {
            self.skip(comment_seq, SkipReason::DuplicateQuestion);
            return;
        }
        let awaiting = self
            .state
            .pending_comments
            .iter()
            .filter(|(seq, c)| **seq != comment_seq && c.awaiting_retrieval)
            .count();
        let queued: usize = self.state.reply_queue.iter().map(|r| r.comment_seqs.len()).sum::<usize>()
            + self.state.llm_replies.values().map(|r| r.comment_seqs.len()).sum::<usize>();
        if awaiting + queued >= self.state.policy.max_pending_replies {
            self.skip(comment_seq, SkipReason::ReplyQueueFull);
            return;
        }
        let text = comment.text.clone();
        let product_id = self.state.product_on_stage().map(|p| p.product_id.clone());
        self.effect(Effect::Retrieve { comment_seq, text, lang, product_id });
    }

    fn on_utterance_over(&mut self, utterance_id: &str, finished: bool) {
        if finished && let Some(pos) = self.finished_pitch_pos(utterance_id) {
            if self.state.cursor == pos {
                let to = self.state.next_pos(pos);
                let product_changed = to.product != pos.product;
                self.emit(Event::PitchAdvanced { from: pos, to, product_changed });
            }
        }
        self.llm_after_utterance(utterance_id);
        self.fill_floor();
    }

    /// The pitch position of the utterance that just ended, if it was a pitch
    /// sentence (`apply` keeps the last one that went off air).
    fn finished_pitch_pos(&self, utterance_id: &str) -> Option<PitchPos> {
        match &self.state.last_off_air {
            Some((id, UtterancePurpose::Pitch { pos })) if id == utterance_id => Some(*pos),
            _ => None,
        }
    }

    fn on_operator(&mut self, command: &OperatorCommand) {
        match command {
            OperatorCommand::CancelCurrent => {
                self.cancel_on_air("operator");
                self.cancel_llm_reply_on_floor("operator");
            }
            OperatorCommand::NextProduct => {
                let from = self.state.cursor;
                let to = self.state.next_product_pos();
                self.emit(Event::PitchAdvanced { from, to, product_changed: to.product != from.product });
                let pitch_on_air = self
                    .state
                    .on_air
                    .as_ref()
                    .is_some_and(|a| matches!(a.purpose, UtterancePurpose::Pitch { .. }));
                if pitch_on_air {
                    self.cancel_on_air("next_product");
                } else {
                    self.fill_floor();
                }
            }
            OperatorCommand::Say { .. } | OperatorCommand::Resume => self.fill_floor(),
            OperatorCommand::Pause => {}
        }
    }

    fn cancel_on_air(&mut self, reason: &str) {
        let Some(on_air) = self.state.on_air.as_ref().filter(|a| !a.cancel_requested) else { return };
        let utterance_id = on_air.utterance_id.clone();
        self.emit(Event::UtteranceCancelRequested { utterance_id: utterance_id.clone(), reason: reason.into() });
        self.effect(Effect::Cancel { utterance_id });
    }

    fn end_session(&mut self) {
        self.cancel_on_air("session_ended");
        let pending: Vec<i64> = self.state.pending_comments.keys().copied().collect();
        for seq in pending {
            self.skip(seq, SkipReason::SessionEnded);
        }
        self.end_all_llm_replies("session_ended");
    }

    fn skip(&mut self, comment_seq: i64, reason: SkipReason) {
        self.emit(Event::CommentSkipped { comment_seq, reason });
    }

    fn cut(&mut self, shot: &str, product_id: Option<String>) {
        let key = templates::shot_key(shot, product_id.as_deref());
        if self.state.shot != key {
            self.emit(Event::CameraCut { shot: shot.into(), product_id: product_id.clone() });
            self.effect(Effect::Cut { shot: shot.into(), product_id });
        }
    }

    /// If nobody is speaking, choose who speaks next and what:
    /// operator lines, then (up to the interaction budget) replies, then
    /// thanks and welcomes, then the next pitch sentence.
    fn fill_floor(&mut self) {
        if self.state.on_air.is_some() || !self.state.started || self.state.ended {
            return;
        }
        if let Some(text) = self.state.operator_lines.front().cloned() {
            let lang = Lang::detect(&text);
            self.dispatch(Speaker::Host, text, lang, UtterancePurpose::Operator, "host_closeup", None);
            return;
        }
        if self.llm_reply_holds_floor() {
            return;
        }
        let pitch_available = !self.state.paused && self.state.sentence_at(self.state.cursor).is_some();
        let budget_left =
            !pitch_available || self.state.interactions_since_pitch < self.state.policy.max_interactions_between_pitch;
        if budget_left && self.llm_reply_takes_floor() {
            return;
        }
        if budget_left && let Some(reply) = self.next_fresh_reply() {
            let purpose = UtterancePurpose::Reply { comment_seqs: reply.comment_seqs.clone() };
            self.dispatch(Speaker::Host, reply.text, reply.lang, purpose, "host_closeup", None);
            return;
        }
        if budget_left && !self.state.acknowledgements.is_empty() {
            let (text, purpose) = templates::acknowledgements(&self.state.acknowledgements);
            self.dispatch(Speaker::Assistant, text, Lang::Zh, purpose, "assistant", None);
            return;
        }
        if pitch_available {
            let pos = self.state.cursor;
            // unwrap: pitch_available checked the sentence exists
            let text = self.state.sentence_at(pos).unwrap().to_string();
            let product_id = self.state.product_on_stage().map(|p| p.product_id.clone());
            self.dispatch(Speaker::Host, text, Lang::Zh, UtterancePurpose::Pitch { pos }, "product", product_id);
        }
    }

    /// The first queued reply that has not expired; expired ones are skipped
    /// (with their reason) on the way.
    fn next_fresh_reply(&mut self) -> Option<QueuedReply> {
        loop {
            let front = self.state.reply_queue.front()?.clone();
            if self.input.ts - front.comment_ts > self.state.policy.reply_deadline_ms {
                for seq in front.comment_seqs {
                    self.skip(seq, SkipReason::Expired);
                }
                continue;
            }
            return Some(front);
        }
    }

    fn dispatch(
        &mut self,
        speaker: Speaker,
        text: String,
        lang: Lang,
        purpose: UtterancePurpose,
        shot: &str,
        product_id: Option<String>,
    ) {
        self.cut(shot, product_id);
        let utterance_id = format!("u{}", self.state.utterances + 1);
        self.emit(Event::UtteranceDispatched {
            utterance_id: utterance_id.clone(),
            speaker,
            text: text.clone(),
            lang,
            purpose,
        });
        self.effect(Effect::Speak { utterance_id, speaker, text, lang });
    }
}

/// Comparison form of a comment: no whitespace or punctuation, lowercase.
fn normalize(text: &str) -> String {
    text.chars().filter(|c| c.is_alphanumeric() || crate::events::is_cjk(*c)).flat_map(char::to_lowercase).collect()
}

#[cfg(test)]
mod tests {
    //! Given events / when an input / then decisions: the policy alone.
    use uuid::Uuid;

    use super::*;
    use crate::events::{RetrievedEntry, StagedProduct, Viewer};
    use crate::room::state::PolicyConfig;

    struct Given {
        state: RoomState,
        ts: i64,
    }

    impl Given {
        fn session(policy: PolicyConfig) -> (Given, Step) {
            let mut g = Given { state: RoomState::new("t"), ts: 0 };
            let step = g.when(Event::SessionStarted {
                brand_id: "b".into(),
                knowledge_version: 1,
                run_of_show: vec![StagedProduct {
                    product_id: "p".into(),
                    name: "P".into(),
                    segments: vec![vec!["s1。".into(), "s2。".into()]],
                }],
                experiment: None,
                disclosure: "AI".into(),
                policy,
            });
            (g, step)
        }

        fn when(&mut self, event: Event) -> Step {
            self.ts += 1000;
            let input = Envelope {
                room_id: "t".into(),
                session_id: Uuid::nil(),
                seq: self.state.last_seq + 1,
                ts: self.ts,
                version: SCHEMA_VERSION,
                causation: None,
                event,
            };
            step(&mut self.state, &input)
        }

        /// A comment, triaged as a price question; returns its seq.
        fn question(&mut self, viewer: &str, text: &str) -> (i64, Step) {
            let viewer = Viewer { id: viewer.into(), name: viewer.into(), platform_msg_id: None };
            self.when(Event::ViewerCommented { viewer, text: text.into() });
            let seq = self.state.last_seq;
            let step = self.when(Event::CommentTriaged { comment_seq: seq, intent: Intent::PriceAsk, lang: Lang::Zh, classifier: "t".into(), confidence: None, similar_to: None });
            (seq, step)
        }

        fn knowledge(&mut self, comment_seq: i64) -> Step {
            let entry = RetrievedEntry {
                entry_id: 7,
                product_id: Some("p".into()),
                product_name: Some("P".into()),
                kind: "price".into(),
                answer: "九十九元。".into(),
                answer_en: None,
                score: 1.0,
                reason: String::new(),
            };
            self.when(Event::KnowledgeRetrieved { comment_seq, query: String::new(), entries: vec![entry] })
        }
    }

    fn types(step: &Step) -> Vec<&'static str> {
        step.decisions.iter().map(|d| d.event.type_name()).collect()
    }

    #[test]
    fn the_show_opens_on_the_product_with_the_first_pitch_sentence() {
        let (_, step) = Given::session(PolicyConfig::default());
        assert_eq!(types(&step), ["camera_cut", "utterance_dispatched"]);
        assert!(matches!(&step.effects[..], [Effect::Cut { .. }, Effect::Speak { utterance_id, .. }] if utterance_id == "u1"));
    }

    #[test]
    fn a_reply_waits_for_the_sentence_on_air_then_the_pitch_resumes_after_it() {
        let (mut g, _) = Given::session(PolicyConfig::default());
        let (seq, step) = g.question("v", "多少钱");
        assert!(matches!(&step.effects[..], [Effect::Retrieve { comment_seq, .. }] if *comment_seq == seq));
        let step = g.knowledge(seq);
        assert_eq!(types(&step), ["reply_decided"], "the floor is taken: no barge-in inside a sentence");
        let step = g.when(Event::UtteranceFinished { utterance_id: "u1".into() });
        assert_eq!(types(&step), ["pitch_advanced", "camera_cut", "utterance_dispatched"]);
        assert!(matches!(&step.decisions[2].event, Event::UtteranceDispatched { text, .. } if text == "v，九十九元。"));
        let step = g.when(Event::UtteranceFinished { utterance_id: "u2".into() });
        let pos = PitchPos { product: 0, segment: 0, sentence: 1 };
        assert!(matches!(&step.decisions.last().unwrap().event, Event::UtteranceDispatched { purpose: UtterancePurpose::Pitch { pos: p }, .. } if *p == pos));
    }

    #[test]
    fn questions_beyond_the_reply_queue_are_skipped_with_a_reason_and_not_retrieved() {
        let (mut g, _) = Given::session(PolicyConfig { max_pending_replies: 1, ..PolicyConfig::default() });
        g.question("a", "多少钱");
        let (seq, step) = g.question("b", "价格多少");
        assert!(step.effects.is_empty());
        assert!(matches!(&step.decisions[..], [d] if d.event == Event::CommentSkipped { comment_seq: seq, reason: SkipReason::ReplyQueueFull }));
    }

    #[test]
    fn the_same_question_from_the_same_viewer_is_answered_once() {
        let (mut g, _) = Given::session(PolicyConfig::default());
        g.question("a", "多少钱？");
        let (seq, step) = g.question("a", "多少钱");
        assert!(matches!(&step.decisions[..], [d] if d.event == Event::CommentSkipped { comment_seq: seq, reason: SkipReason::DuplicateQuestion }));
    }

    #[test]
    fn a_reply_that_waited_past_its_deadline_is_skipped_as_expired() {
        let (mut g, _) = Given::session(PolicyConfig { reply_deadline_ms: 1500, ..PolicyConfig::default() });
        let (seq, _) = g.question("v", "多少钱");
        g.knowledge(seq);
        let step = g.when(Event::UtteranceFinished { utterance_id: "u1".into() });
        assert!(step.decisions.iter().any(|d| d.event == Event::CommentSkipped { comment_seq: seq, reason: SkipReason::Expired }));
        assert!(matches!(&step.decisions.last().unwrap().event, Event::UtteranceDispatched { purpose: UtterancePurpose::Pitch { .. }, .. }));
    }

    #[test]
    fn ending_the_session_cancels_the_utterance_on_air_and_skips_every_pending_comment() {
        let (mut g, _) = Given::session(PolicyConfig::default());
        let (a, _) = g.question("a", "多少钱");
        let (b, _) = g.question("b", "有货吗");
        g.knowledge(a);
        let step = g.when(Event::SessionEndRequested { reason: "test".into() });
        assert_eq!(types(&step), ["utterance_cancel_requested", "comment_skipped", "comment_skipped"]);
        for (d, seq) in step.decisions[1..].iter().zip([a, b]) {
            assert_eq!(d.event, Event::CommentSkipped { comment_seq: seq, reason: SkipReason::SessionEnded });
        }
        assert!(g.state.reply_queue.is_empty() && g.state.pending_comments.is_empty());
    }
}
