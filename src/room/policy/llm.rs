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
use crate::llm::check::{OutputVerdict, check_output};
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
        let request = prompts::answer(&self.state.brand_id, lang, &[(comment.viewer_name.clone(), comment.text.clone())], entries);
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
        self.emit(Event::LlmRequested {
            reply_id: reply_id.clone(),
            comment_seqs: vec![comment_seq],
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
        let verdict = if !figures.is_empty() {
            SentenceVerdict::Ungrounded { figures }
        } else {
            match check_output(text) {
                OutputVerdict::Pass => SentenceVerdict::Passed,
                OutputVerdict::Block { reason } => SentenceVerdict::Blocked { reason },
            }
        };
        let passed = verdict == SentenceVerdict::Passed;
        let spoken = if passed { text.to_string() } else { reply.fallback_text.clone() };
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
                self.emit(Event::ReplyDecided { comment_seqs, text, lang, entry_ids, source: "template_fallback".into() });
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
        if self.state.llm_replies.get(&reply_id).is_some_and(|r| r.pending.is_empty() && !r.stream_open) {
            self.end_llm_reply(&reply_id, "spoken");
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
        if let Some((index, text)) = reply.pending.front().cloned() {
            let purpose = UtterancePurpose::LlmReply { reply_id: id.clone(), index, comment_seqs: reply.comment_seqs.clone() };
            let lang = reply.lang;
            self.dispatch(Speaker::Host, text, lang, purpose, "host_closeup", None);
            return true;
        }
        if reply.stream_open {
            return true;
        }
        self.end_llm_reply(&id, "spoken");
        false
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
        let purpose = UtterancePurpose::LlmReply { reply_id: id.clone(), index, comment_seqs: reply.comment_seqs.clone() };
        let lang = reply.lang;
        self.dispatch(Speaker::Host, text, lang, purpose, "host_closeup", None);
        true
    }
}
