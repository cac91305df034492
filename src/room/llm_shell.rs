//! The room actor's LLM effect: run a reply's stream off the room's thread
//! and feed its sentences, end and failures back in as input events.

use actix::prelude::*;

use super::actor::Room;
use super::policy::Effect;
use crate::events::Event;
use crate::llm::{LlmRequest, StreamItem};

/// One item of a reply's stream, for the room.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LlmOutput {
    pub reply_id: String,
    pub item: StreamItem,
}

/// Effects that may start before their batch is durable, in rooms with
/// generated replies: a knowledge lookup and an LLM request show nothing to
/// anyone, and what they return enters as input events logged after that
/// batch (the writer keeps order). Starting them early takes a log commit
/// off the time to the first sentence; render commands still wait.
pub(super) fn is_early(effect: &Effect) -> bool {
    matches!(effect, Effect::Generate { .. } | Effect::Retrieve { .. })
}

/// An effect's result, to be logged and acted on as an input.
#[derive(Message)]
#[rtype(result = "()")]
pub struct EffectResult(pub Event);

impl Handler<EffectResult> for Room {
    type Result = ();

    fn handle(&mut self, msg: EffectResult, ctx: &mut Context<Self>) {
        self.log_input(msg.0, ctx);
    }
}

impl Room {
    pub(super) fn run_early_effects(&mut self, effects: Vec<Effect>, ctx: &Context<Self>) {
        for effect in effects {
            match effect {
                Effect::Generate { reply_id, request } => {
                    if let Some(failed) = self.start_llm_stream(reply_id, request, ctx) {
                        ctx.address().do_send(EffectResult(failed));
                    }
                }
                Effect::Retrieve { comment_seq, text, lang: _, product_id } => {
                    let retriever = self.deps.retriever.clone();
                    let brand = self.state().brand_id.clone();
                    // the session's pinned knowledge version
                    let version = Some(self.state().knowledge_version);
                    let addr = ctx.address();
                    actix_rt::spawn(async move {
                        let event = match retriever.retrieve(&brand, version, product_id.as_deref(), &text).await {
                            Ok(entries) => Event::KnowledgeRetrieved { comment_seq, query: text, entries },
                            Err(e) => Event::DecisionFailed {
                                stage: "retrieval".into(),
                                error: format!("{e:#}"),
                                comment_seq: Some(comment_seq),
                            },
                        };
                        addr.do_send(EffectResult(event));
                    });
                }
                other => tracing::error!(effect = ?other, "not an early effect"),
            }
        }
    }

    /// Start streaming `request`; without an LLM configured, the failure
    /// event to log instead (the policy falls back to the template).
    pub(super) fn start_llm_stream(
        &mut self,
        reply_id: String,
        request: LlmRequest,
        ctx: &Context<Self>,
    ) -> Option<Event> {
        let Some(client) = self.deps.llm.clone() else {
            return Some(Event::LlmFailed {
                reply_id,
                kind: "not_configured".into(),
                error: "no LLM endpoint is configured in this process".into(),
                sentences: 0,
                elapsed_ms: 0,
            });
        };
        let addr = ctx.address();
        let id = reply_id.clone();
        let task = tokio::spawn(async move {
            client.stream(&request, |item| addr.do_send(LlmOutput { reply_id: id.clone(), item })).await;
        });
        if let Some(old) = self.llm_streams.insert(reply_id, task.abort_handle()) {
            old.abort();
        }
        None
    }

    pub(super) fn interrupt_llm_streams(&mut self, ctx: &Context<Self>) {
        let open: Vec<String> =
            self.state().llm_replies.iter().filter(|(_, r)| r.stream_open).map(|(id, _)| id.clone()).collect();
        for reply_id in open {
            let event = Event::LlmFailed {
                reply_id,
                kind: "interrupted".into(),
                error: "the process that ran the stream stopped".into(),
                sentences: 0,
                elapsed_ms: 0,
            };
            self.log_input(event, ctx);
        }
    }
}

impl Handler<LlmOutput> for Room {
    type Result = ();

    fn handle(&mut self, msg: LlmOutput, ctx: &mut Context<Self>) {
        let LlmOutput { reply_id, item } = msg;
        let event = match item {
            StreamItem::Sentence { index, text } => Event::LlmSentence { reply_id, index, text },
            StreamItem::Finished { sentences, model, ttft_ms, total_ms } => {
                self.llm_stream_over(&reply_id);
                Event::LlmFinished { reply_id, sentences, model, ttft_ms, total_ms }
            }
            StreamItem::Failed { kind, error, sentences, elapsed_ms } => {
                self.llm_stream_over(&reply_id);
                Event::LlmFailed { reply_id, kind, error, sentences, elapsed_ms }
            }
        };
        self.log_input(event, ctx);
    }
}
