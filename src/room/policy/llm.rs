//! The policy's part in generated replies. Still pure: the request is an
//! effect, its sentences come back as `LlmSentence` inputs, and every
//! sentence passes grounding and the output check here, in the policy, so
//! replay decides exactly as the live room did.
//!
//! A generated reply takes the floor with its first checked sentence (like
//! a template reply, never inside a sentence on air) and then holds it: each
//! next sentence is dispatched as soon as the previous one is over and it is
//! there, or as soon as it arrives. Cancel ends the reply: the sentence on
//! air is cancelled, undispatched sentences are dropped, the stream stopped.

use super::{Ctx, Effect};
use crate::events::{Event, Lang, RetrievedEntry, SentenceVerdict, SkipReason, Speaker, UtterancePurpose};
use crate::llm::{grounding, prompts};
use crate::room::templates;

/// A reply's id: from the first comment it answers.
pub fn reply_id(comment_seq: i64) -> String {
    format!("r{comment_seq}")
}

impl Ctx<'_> {
    pub(super) fn request_llm_reply(&mut self, comment_seq: i64, entries: &[RetrievedEntry]) {
        let Some(comment) = self.state.pending_comments.get(&comment_seq) else { return };
        let Some(best) = entries.first() else { return };
        let lang = comment.lang.unwrap_or(Lang::Zh);
        let fallback_text = templates::reply(&comment.viewer_name, best, lang);
        let request = prompts::answer(
            &self.state.brand_id,
            lang,
            &[(comment.viewer_name.clone(), comment.text.clone())],
            entries,
        );
        let facts: Vec<String> = entries
            .iter()
            .flat_map(|e| {
                let mut texts = vec![e.answer.clone()];
                texts.extend(e.answer_en.clone());
                texts.extend(e.product_name.clone());
                texts
            })
            .collect();
        let reply_id = reply_id(comment_seq);
        // the whole question group it leads, as it stands now
        let comment_seqs = self.group_of_lead(comment_seq);
        self.emit(Event::LlmRequested {
            reply_id: reply_id.clone(),
            comment_seqs,
            task: request.task.clone(),
            prompt_version: request.prompt_version.clone(),
            entry_ids: entries.iter().map(|e| e.entry_id).collect(),
            lang,
            facts,
            fallback_text,
        });
        self.effect(Effect::Generate { reply_id, request });
    }

    pub(super) fn on_llm_sentence(&mut self, reply_id: &str, index: u32, text: &str) {
        // a reply that ended (cancelled, replaced, expired) takes no more sentences
        let Some(reply) = self.state.llm_replies.get(reply_id).filter(|r| r.stream_open) else { return };
        let figures = grounding::unsupported(text, &reply.facts, &reply.viewer_names);
        let fallback = reply.fallback_text.clone();
        // grounding first; then the output review, which records what fired
        let (verdict, spoken) = if !figures.is_empty() {
            (SentenceVerdict::Ungrounded { figures }, fallback)
        } else {
            match self.review(text.to_string(), crate::compliance::ComplianceTarget::Reply) {
                Some(reviewed) => (SentenceVerdict::Passed, reviewed),
                None => (SentenceVerdict::Blocked { reason: "compliance".into() }, fallback),
            }
        };
        let passed = verdict == SentenceVerdict::Passed;
        self.emit(Event::LlmSentenceChecked { reply_id: reply_id.to_string(), index, verdict, text: spoken });
        if !passed {
            self.effect(Effect::StopLlm { reply_id: reply_id.to_string() });
        }
        self.fill_floor();
    }

    pub(super) fn on_llm_stream_over(&mut self, reply_id: &str, failed: bool) {
        let Some(reply) = self.state.llm_replies.get(reply_id) else { return };
        if !reply.started && reply.pending.is_empty() {
            // nothing usable came: the template answer, as without an LLM
            let comment_seqs: Vec<i64> =
                reply.comment_seqs.iter().copied().filter(|s| self.state.pending_comments.contains_key(s)).collect();
            let (text, lang, entry_ids) = (reply.fallback_text.clone(), reply.lang, reply.entry_ids.clone());
            let outcome = if failed { "failed_fallback" } else { "empty_fallback" };
            self.end_llm_reply(reply_id, outcome);
            if !comment_seqs.is_empty() {
                let group_id = comment_seqs.first().and_then(|s| self.state.groups.by_comment.get(s)).copied();
                self.emit(Event::ReplyDecided {
                    comment_seqs,
                    text,
                    lang,
                    entry_ids,
                    source: "template_fallback".into(),
                    group_id,
                });
            }
        } else if reply.started && reply.pending.is_empty() && !self.on_air_is(reply_id) {
            self.end_llm_reply(reply_id, if failed { "failed" } else { "spoken" });
        }
        self.fill_floor();
    }

    fn on_air_is(&self, reply_id: &str) -> bool {
        self.state
            .on_air
            .as_ref()
            .is_some_and(|a| matches!(&a.purpose, UtterancePurpose::LlmReply { reply_id: r, .. } if r == reply_id))
    }

    /// After a sentence of a reply went off air: the reply is over when
    /// nothing is pending and the stream is closed.
    pub(super) fn llm_after_utterance(&mut self, utterance_id: &str) {
        let Some((id, UtterancePurpose::LlmReply { reply_id, .. })) = &self.state.last_off_air else { return };
        if id != utterance_id {
            return;
        }
        let reply_id = reply_id.clone();
        if let Some(r) = self.state.llm_replies.get(&reply_id).filter(|r| r.pending.is_empty() && !r.stream_open) {
            let outcome = if r.failed { "failed" } else { "spoken" };
            self.end_llm_reply(&reply_id, outcome);
        }
    }

    fn end_llm_reply(&mut self, reply_id: &str, outcome: &str) {
        let Some(reply) = self.state.llm_replies.get(reply_id) else { return };
        let (dropped, open) = (reply.pending.len() as u32, reply.stream_open);
        self.emit(Event::LlmReplyEnded { reply_id: reply_id.to_string(), outcome: outcome.into(), dropped });
        if open {
            self.effect(Effect::StopLlm { reply_id: reply_id.to_string() });
        }
    }

    /// The reply that has the floor (its first sentence went on air).
    fn active_llm_reply(&self) -> Option<String> {
        self.state.llm_replies.iter().find(|(_, r)| r.started).map(|(id, _)| id.clone())
    }

    /// Operator cancel: the reply on the floor ends at once (its sentence on
    /// air was cancelled by `cancel_on_air`).
    pub(super) fn cancel_llm_reply_on_floor(&mut self, reason: &str) {
        if let Some(id) = self.active_llm_reply() {
            self.end_llm_reply(&id, if reason == "operator" { "cancelled" } else { reason });
            if self.state.on_air.is_none() {
                self.fill_floor();
            }
        }
    }

    pub(super) fn end_all_llm_replies(&mut self, outcome: &str) {
        let ids: Vec<String> = self.state.llm_replies.keys().cloned().collect();
        for id in ids {
            self.end_llm_reply(&id, outcome);
        }
    }

    /// A reply on the floor goes on with its next sentence, or holds the
    /// floor while its stream is open. (The floor is free when this runs.)
    pub(super) fn llm_reply_holds_floor(&mut self) -> bool {
        let Some(id) = self.active_llm_reply() else { return false };
        // unwrap: found just above
        let reply = self.state.llm_replies.get(&id).unwrap();
        let yield_after = self.state.policy.llm_yield_after_sentences;
        let more_to_come = !reply.pending.is_empty() || reply.stream_open;
        if yield_after > 0 && reply.dispatched >= yield_after && more_to_come && self.thanks_may_barge_in() {
            // at a sentence boundary: nothing of the reply is on air
            self.end_llm_reply(&id, "barged_in");
            return false;
        }
        if let Some((index, text)) = reply.pending.front().cloned() {
            let purpose =
                UtterancePurpose::LlmReply { reply_id: id.clone(), index, comment_seqs: reply.comment_seqs.clone() };
            let lang = reply.lang;
            self.dispatch(Speaker::Host, text, lang, purpose, "host_closeup", None);
            return true;
        }
        if reply.stream_open {
            return true;
        }
        let outcome = if reply.failed { "failed" } else { "spoken" };
        self.end_llm_reply(&id, outcome);
        false
    }

    /// A thank-you for a gift or an order waits, and the floor would go to
    /// it (the interaction budget between pitch sentences allows it).
    fn thanks_may_barge_in(&self) -> bool {
        self.interaction_budget_left() && super::thanks_first(&self.fresh_acknowledgements())
    }

    /// The oldest generated reply with a sentence ready takes the floor,
    /// unless an older template reply waits. Replies past the deadline end.
    pub(super) fn llm_reply_takes_floor(&mut self) -> bool {
        if self.state.llm_replies.is_empty() {
            return false;
        }
        let deadline = self.state.policy.reply_deadline_ms;
        let expired: Vec<(String, Vec<i64>)> = self
            .state
            .llm_replies
            .iter()
            .filter(|(_, r)| !r.started && self.input.ts - r.comment_ts > deadline)
            .map(|(id, r)| (id.clone(), r.comment_seqs.clone()))
            .collect();
        for (id, seqs) in expired {
            self.end_llm_reply(&id, "expired");
            for seq in seqs {
                if self.state.pending_comments.contains_key(&seq) {
                    self.skip(seq, SkipReason::Expired);
                }
            }
        }
        let template_ts = self.state.reply_queue.front().map(|r| r.comment_ts);
        let Some((id, reply)) = self
            .state
            .llm_replies
            .iter()
            .filter(|(_, r)| !r.started && !r.pending.is_empty())
            .min_by_key(|(id, r)| (r.comment_ts, (*id).clone()))
        else {
            return false;
        };
        if template_ts.is_some_and(|t| t < reply.comment_ts) {
            return false;
        }
        // unwrap: filtered on a pending sentence
        let (index, text) = reply.pending.front().cloned().unwrap();
        let purpose =
            UtterancePurpose::LlmReply { reply_id: id.clone(), index, comment_seqs: reply.comment_seqs.clone() };
        let lang = reply.lang;
        let asked: Vec<i64> = reply.comment_seqs.clone();
        self.dispatch(Speaker::Host, text, lang, purpose, "host_closeup", None);
        // askers who joined the group after the request hear the same answer
        let late: Vec<i64> = asked
            .first()
            .and_then(|s| self.state.groups.by_comment.get(s))
            .and_then(|g| self.state.groups.get(*g))
            .map(|g| {
                g.members
                    .iter()
                    .copied()
                    .filter(|m| !asked.contains(m) && self.state.pending_comments.contains_key(m))
                    .collect()
            })
            .unwrap_or_default();
        for seq in late {
            self.skip(seq, SkipReason::AlreadyAnswered);
        }
        true
    }
}

#[cfg(test)]
mod tests {

    use super::super::Step;
    use super::*;
    use crate::events::{Intent, OperatorCommand, StagedProduct, Viewer};
    use crate::room::state::{LlmPolicy, PolicyConfig, RoomState};

    struct Room {
        state: RoomState,
        ts: i64,
    }

    impl Room {
        fn with_llm() -> Room {
            let mut r = Room { state: RoomState::new("t"), ts: 0 };
            r.when(Event::SessionStarted {
                brand_id: "b".into(),
                knowledge_version: 1,
                run_of_show: vec![StagedProduct {
                    product_id: "p".into(),
                    name: "P".into(),
                    segments: vec![vec!["s1。".into(), "s2。".into(), "s3。".into()]],
                }],
                experiment: None,
                disclosure: "AI".into(),
                policy: PolicyConfig { llm: Some(LlmPolicy { model: "m".into() }), ..PolicyConfig::default() },
            });
            r
        }

        fn when(&mut self, event: Event) -> Step {
            self.ts += 100;
            super::super::tests::step_at(&mut self.state, self.ts, event)
        }

        /// A price question retrieved; returns the reply id and the step of retrieval.
        fn question(&mut self) -> (String, Step) {
            let viewer = Viewer { id: "v".into(), name: "小鱼".into(), platform_msg_id: None };
            self.when(Event::ViewerCommented { viewer, text: "多少钱".into() });
            let seq = self.state.last_seq;
            self.when(Event::CommentTriaged {
                comment_seq: seq,
                intent: Intent::PriceAsk,
                lang: Lang::Zh,
                classifier: "t".into(),
                confidence: None,
                similar_to: None,
            });
            let entry = RetrievedEntry {
                entry_id: 7,
                product_id: Some("p".into()),
                product_name: Some("P".into()),
                kind: "price".into(),
                answer: "到手价一百二十九元。".into(),
                answer_en: None,
                score: 1.0,
                reason: String::new(),
            };
            let step =
                self.when(Event::KnowledgeRetrieved { comment_seq: seq, query: String::new(), entries: vec![entry] });
            (reply_id(seq), step)
        }

        fn sentence(&mut self, reply: &str, index: u32, text: &str) -> Step {
            self.when(Event::LlmSentence { reply_id: reply.into(), index, text: text.into() })
        }
    }

    fn types(step: &Step) -> Vec<&'static str> {
        step.decisions.iter().map(|d| d.event.type_name()).collect()
    }

    fn dispatched(step: &Step) -> Vec<String> {
        step.decisions
            .iter()
            .filter_map(|d| match &d.event {
                Event::UtteranceDispatched { text, .. } => Some(text.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn sentences_are_checked_as_they_stream_and_spoken_one_after_another_then_the_pitch_resumes() {
        let mut r = Room::with_llm();
        let (id, step) = r.question();
        assert_eq!(types(&step), ["llm_requested"]);
        assert!(
            matches!(&step.effects[..], [Effect::Generate { reply_id, request }] if *reply_id == id && request.task == "answer_viewer")
        );
        // the pitch sentence u1 is on air: the first sentence waits for it
        assert_eq!(types(&r.sentence(&id, 0, "小鱼你好！")), ["llm_sentence_checked"]);
        let step = r.when(Event::UtteranceFinished { utterance_id: "u1".into() });
        assert_eq!(dispatched(&step), ["小鱼你好！"]);
        // the next sentence goes out as soon as the previous one is over
        assert!(dispatched(&r.sentence(&id, 1, "现在到手价129元。")).is_empty());
        assert_eq!(dispatched(&r.when(Event::UtteranceFinished { utterance_id: "u2".into() })), ["现在到手价129元。"]);
        // floor free and the stream open: the reply holds the floor
        assert!(r.when(Event::UtteranceFinished { utterance_id: "u3".into() }).decisions.is_empty());
        assert_eq!(dispatched(&r.sentence(&id, 2, "快下单吧！")), ["快下单吧！"]);
        r.when(Event::LlmFinished { reply_id: id.clone(), sentences: 3, model: "m".into(), ttft_ms: 1, total_ms: 2 });
        let step = r.when(Event::UtteranceFinished { utterance_id: "u4".into() });
        assert_eq!(types(&step)[0], "llm_reply_ended");
        assert!(matches!(
            &step.decisions.last().unwrap().event,
            Event::UtteranceDispatched { purpose: UtterancePurpose::Pitch { .. }, .. }
        ));
        assert!(r.state.llm_replies.is_empty());
    }

    #[test]
    fn a_sentence_with_a_figure_no_fact_states_is_replaced_by_the_template_answer_and_the_stream_stops() {
        let mut r = Room::with_llm();
        let (id, _) = r.question();
        let step = r.sentence(&id, 0, "今天只要九十九元！");
        match &step.decisions[0].event {
            Event::LlmSentenceChecked { verdict: SentenceVerdict::Ungrounded { figures }, text, .. } => {
                assert_eq!(figures, &["九十九"]);
                assert_eq!(text, "小鱼，到手价一百二十九元。");
            }
            other => panic!("{other:?}"),
        }
        assert!(step.effects.contains(&Effect::StopLlm { reply_id: id.clone() }));
        // later sentences of the stream are not taken
        assert!(r.sentence(&id, 1, "真的很便宜。").decisions.is_empty());
        let step = r.when(Event::UtteranceFinished { utterance_id: "u1".into() });
        assert_eq!(dispatched(&step), ["小鱼，到手价一百二十九元。"]);
    }

    #[test]
    fn cancel_stops_the_stream_drops_what_is_not_dispatched_and_nothing_of_the_reply_is_spoken_after() {
        let mut r = Room::with_llm();
        let (id, _) = r.question();
        r.sentence(&id, 0, "小鱼你好！");
        r.when(Event::UtteranceFinished { utterance_id: "u1".into() });
        r.sentence(&id, 1, "到手价129元。");
        let step = r.when(Event::OperatorCommandReceived { command: OperatorCommand::CancelCurrent });
        assert_eq!(types(&step), ["utterance_cancel_requested", "llm_reply_ended"]);
        assert!(
            matches!(&step.decisions[1].event, Event::LlmReplyEnded { outcome, dropped: 1, .. } if outcome == "cancelled")
        );
        assert!(step.effects.contains(&Effect::Cancel { utterance_id: "u2".into() }));
        assert!(step.effects.contains(&Effect::StopLlm { reply_id: id.clone() }));
        assert!(r.sentence(&id, 2, "快下单吧！").decisions.is_empty());
        let step = r.when(Event::UtteranceCancelled { utterance_id: "u2".into() });
        let spoken = dispatched(&step);
        assert!(
            matches!(
                &step.decisions.last().unwrap().event,
                Event::UtteranceDispatched { purpose: UtterancePurpose::Pitch { .. }, .. }
            ),
            "{spoken:?}"
        );
    }

    #[test]
    fn an_order_barges_in_at_a_sentence_boundary_after_two_sentences_and_the_stream_stops() {
        let mut r = Room::with_llm();
        let (id, _) = r.question();
        r.sentence(&id, 0, "小鱼你好！");
        r.when(Event::UtteranceFinished { utterance_id: "u1".into() });
        let buyer = Viewer { id: "b".into(), name: "阿杰".into(), platform_msg_id: None };
        // one sentence spoken: the reply keeps the floor, the thanks wait
        r.when(Event::ViewerOrdered { viewer: buyer.clone(), product_id: "p".into(), quantity: 1, amount: 129.0 });
        assert_eq!(dispatched(&r.sentence(&id, 1, "到手价129元。")), Vec::<String>::new());
        assert_eq!(dispatched(&r.when(Event::UtteranceFinished { utterance_id: "u2".into() })), ["到手价129元。"]);
        // two spoken, a third ready: at the boundary the thanks take the floor
        r.sentence(&id, 2, "快下单吧！");
        let step = r.when(Event::UtteranceFinished { utterance_id: "u3".into() });
        assert!(
            matches!(&step.decisions[0].event, Event::LlmReplyEnded { outcome, dropped: 1, .. } if outcome == "barged_in"),
            "{:?}",
            types(&step)
        );
        assert!(step.effects.contains(&Effect::StopLlm { reply_id: id.clone() }));
        assert!(
            matches!(&step.decisions.last().unwrap().event, Event::UtteranceDispatched { speaker: Speaker::Assistant, text, .. } if text.contains("阿杰"))
        );
        // what the stream still sends is not taken
        assert!(r.sentence(&id, 3, "库存不多了！").decisions.is_empty());
        assert!(r.state.llm_replies.is_empty());
    }

    #[test]
    fn without_a_waiting_thanks_or_with_barge_in_off_the_reply_keeps_the_floor() {
        for (order, yield_after) in [(false, 2), (true, 0)] {
            let mut r = Room::with_llm();
            r.state.policy.llm_yield_after_sentences = yield_after;
            let (id, _) = r.question();
            r.sentence(&id, 0, "小鱼你好！");
            r.when(Event::UtteranceFinished { utterance_id: "u1".into() });
            if order {
                let buyer = Viewer { id: "b".into(), name: "阿杰".into(), platform_msg_id: None };
                r.when(Event::ViewerOrdered { viewer: buyer, product_id: "p".into(), quantity: 1, amount: 129.0 });
            }
            r.sentence(&id, 1, "到手价129元。");
            r.when(Event::UtteranceFinished { utterance_id: "u2".into() });
            r.sentence(&id, 2, "快下单吧！");
            let step = r.when(Event::UtteranceFinished { utterance_id: "u3".into() });
            assert_eq!(dispatched(&step), ["快下单吧！"], "order {order}, yield after {yield_after}");
        }
    }

    #[test]
    fn a_stream_that_fails_before_any_sentence_falls_back_to_the_template_reply() {
        let mut r = Room::with_llm();
        let (id, _) = r.question();
        let step = r.when(Event::LlmFailed {
            reply_id: id,
            kind: "timeout".into(),
            error: "x".into(),
            sentences: 0,
            elapsed_ms: 2000,
        });
        assert_eq!(types(&step), ["llm_reply_ended", "reply_decided"]);
        assert!(
            matches!(&step.decisions[1].event, Event::ReplyDecided { text, source, .. } if text == "小鱼，到手价一百二十九元。" && source == "template_fallback")
        );
        let step = r.when(Event::UtteranceFinished { utterance_id: "u1".into() });
        assert_eq!(dispatched(&step), ["小鱼，到手价一百二十九元。"]);
    }
}
