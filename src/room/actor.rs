//! The room actor: the effect shell around the pure core.
//!
//! For every input it assigns the next seq and the clock's timestamp, runs
//! `policy::step` (fold + decide, in memory), and hands the input and its
//! decisions to the log writer as one batch. Nothing leaves the room before
//! that batch is durable: effects (render commands, triage, retrieval),
//! console lines and the caller's acknowledgement all wait for the writer's
//! callback, which arrives in batch order.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use actix::prelude::*;
use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

use super::policy::{self, Effect};
use super::state::RoomState;
use crate::clock::Clock;
use crate::eventlog::{LogError, LogRow, LogWriter};
use crate::events::{Envelope, Event, OperatorCommand, SCHEMA_VERSION};
use crate::knowledge::Retriever;
use crate::render::{self, AckKind, RenderAck, preview::PreviewRenderer};
use crate::triage::{TriageService, Triager};

/// One logged event as the console streams it.
#[derive(Debug, Clone)]
pub struct ConsoleLine {
    pub seq: i64,
    pub json: Arc<str>,
}

/// What a room needs from the process around it.
#[derive(Clone)]
pub struct RoomDeps {
    pub pool: sqlx::PgPool,
    pub writer: LogWriter,
    pub retriever: Retriever,
    pub triager: Arc<dyn Triager>,
    /// The node's triage service; when it has a model, triage runs there
    /// (off this thread) instead of `triager`.
    pub triage: TriageService,
    pub clock: Clock,
    /// Preview speech rate multiplier.
    pub render_speed: f64,
    /// The LLM for generated replies; `None`: template replies.
    pub llm: Option<Arc<crate::llm::LlmClient>>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum RoomError {
    #[error("the room's event log is unavailable: {0}")]
    LogUnavailable(String),
    #[error("the room's session has ended")]
    Ended,
    #[error("the room stopped")]
    Stopped,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct IngestReceipt {
    pub accepted: usize,
    pub duplicates: usize,
    /// Seqs of the accepted events, in order.
    pub seqs: Vec<i64>,
}

pub struct Room {
    room_id: Arc<str>,
    session_id: Uuid,
    state: RoomState,
    pub(super) deps: RoomDeps,
    renderer: Option<Addr<PreviewRenderer>>,
    console: broadcast::Sender<ConsoleLine>,
    /// Batches handed to the writer and not yet durable, oldest first.
    in_flight: VecDeque<InFlight>,
    next_batch: u64,
    /// Set when an append failed: the in-memory state is ahead of the log,
    /// so the room accepts nothing more and must be reopened from its log.
    failed: Option<LogError>,
    /// Effects to run once the first batch is durable (resuming after a crash).
    resume_effects: Vec<Effect>,
    /// LLM streams running, by reply id.
    pub(super) llm_streams: HashMap<String, tokio::task::AbortHandle>,
}

struct InFlight {
    batch: u64,
    lines: Vec<ConsoleLine>,
    effects: Vec<Effect>,
    waiter: Option<oneshot::Sender<Result<(), RoomError>>>,
}

impl Room {
    /// A room over `state` (a fresh one, or one folded from the log).
    pub fn new(
        room_id: &str,
        session_id: Uuid,
        state: RoomState,
        deps: RoomDeps,
        console: broadcast::Sender<ConsoleLine>,
    ) -> Room {
        Room {
            room_id: room_id.into(),
            session_id,
            state,
            deps,
            renderer: None,
            console,
            in_flight: VecDeque::new(),
            next_batch: 0,
            failed: None,
            resume_effects: Vec::new(),
            llm_streams: HashMap::new(),
        }
    }

    fn envelope(&self, event: Event) -> Envelope {
        Envelope {
            room_id: self.room_id.to_string(),
            session_id: self.session_id,
            seq: self.state.last_seq + 1,
            ts: self.deps.clock.now_ms(),
            version: SCHEMA_VERSION,
            causation: None,
            event,
        }
    }

    /// Step one input through the policy; returns its seq and adds its rows
    /// and effects to `batch`.
    fn step(&mut self, event: Event, batch: &mut Batch) -> i64 {
        let input = self.envelope(event);
        let seq = input.seq;
        let step = policy::step(&mut self.state, &input);
        batch.push(&self.room_id, &input);
        for decision in &step.decisions {
            batch.push(&self.room_id, decision);
        }
        if self.state.policy.llm.is_some() {
            // generated replies: retrieval and the LLM request start at once
            // (see `llm_shell::is_early`); everything else waits for durability
            let (early, late): (Vec<Effect>, Vec<Effect>) =
                step.effects.into_iter().partition(super::llm_shell::is_early);
            batch.early.extend(early);
            batch.effects.extend(late);
        } else {
            batch.effects.extend(step.effects);
        }
        seq
    }

    /// Hand a batch to the writer; `waiter` hears when it is durable.
    fn append(
        &mut self,
        mut batch: Batch,
        waiter: Option<oneshot::Sender<Result<(), RoomError>>>,
        ctx: &Context<Self>,
    ) {
        if !batch.early.is_empty() {
            self.run_early_effects(std::mem::take(&mut batch.early), ctx);
        }
        if batch.rows.is_empty() {
            if let Some(w) = waiter {
                let _ = w.send(Ok(()));
            }
            return;
        }
        let no = self.next_batch;
        self.next_batch += 1;
        self.in_flight.push_back(InFlight { batch: no, lines: batch.lines, effects: batch.effects, waiter });
        let addr = ctx.address();
        self.deps.writer.append(batch.rows, Box::new(move |result| addr.do_send(BatchDurable { batch: no, result })));
    }

    fn run_effects(&mut self, effects: Vec<Effect>, ctx: &mut Context<Self>) {
        let mut follow_up = Batch::default();
        let mut model_triage: Vec<(i64, String)> = Vec::new();
        for effect in effects {
            match effect {
                Effect::Triage { comment_seq, text } if self.deps.triage.uses_model() => {
                    // gathered: one model request set, one append for the batch's comments
                    model_triage.push((comment_seq, text));
                }
                Effect::Triage { comment_seq, text } => {
                    // The rule triager costs microseconds: inline.
                    let (intent, lang) = self.deps.triager.classify(&text);
                    let classifier = self.deps.triager.name().to_string();
                    self.step(
                        Event::CommentTriaged {
                            comment_seq,
                            intent,
                            lang,
                            classifier,
                            confidence: None,
                            similar_to: None,
                        },
                        &mut follow_up,
                    );
                }
                Effect::Retrieve { comment_seq, text, lang: _, product_id } => {
                    let retriever = self.deps.retriever.clone();
                    let brand = self.state.brand_id.clone();
                    // the session's pinned knowledge version
                    let version = Some(self.state.knowledge_version);
                    let fut = async move {
                        match retriever.retrieve(&brand, version, product_id.as_deref(), &text).await {
                            Ok(entries) => Event::KnowledgeRetrieved { comment_seq, query: text, entries },
                            Err(e) => Event::DecisionFailed {
                                stage: "retrieval".into(),
                                error: format!("{e:#}"),
                                comment_seq: Some(comment_seq),
                            },
                        }
                    };
                    ctx.spawn(fut.into_actor(self).map(|event, room, ctx| room.input(event, None, ctx)));
                }
                Effect::Speak { utterance_id, speaker, text, lang } => {
                    if let Some(r) = &self.renderer {
                        r.do_send(render::Speak { utterance_id, speaker, text, lang });
                    }
                }
                Effect::Cancel { utterance_id } => {
                    if let Some(r) = &self.renderer {
                        r.do_send(render::Cancel { utterance_id });
                    }
                }
                Effect::Cut { shot, product_id } => {
                    if let Some(r) = &self.renderer {
                        r.do_send(render::Cut { shot, product_id });
                    }
                }
                Effect::Generate { reply_id, request } => {
                    if let Some(failed) = self.start_llm_stream(reply_id, request, ctx) {
                        self.step(failed, &mut follow_up);
                    }
                }
                Effect::StopLlm { reply_id } => {
                    if let Some(stream) = self.llm_streams.remove(&reply_id) {
                        stream.abort();
                    }
                }
            }
        }
        self.append(follow_up, None, ctx);
        if !model_triage.is_empty() {
            // the model runs on the service's worker threads; the results of
            // one batch of comments come back together, as one append
            let (service, session) = (self.deps.triage.clone(), self.session_id);
            let fut = async move {
                let runs = model_triage.iter().map(|(comment_seq, text)| {
                    let service = service.clone();
                    async move {
                        match service.triage(session, *comment_seq, text).await {
                            Ok(t) => Event::CommentTriaged {
                                comment_seq: *comment_seq,
                                intent: t.intent,
                                lang: t.lang,
                                classifier: t.classifier,
                                confidence: t.confidence,
                                similar_to: t.similar_to,
                            },
                            Err(e) => Event::DecisionFailed {
                                stage: "triage".into(),
                                error: format!("{e:#}"),
                                comment_seq: Some(*comment_seq),
                            },
                        }
                    }
                });
                futures_util::future::join_all(runs).await
            };
            ctx.spawn(fut.into_actor(self).map(|events, room, ctx| room.inputs(events, ctx)));
        }
    }

    /// Log and act on several inputs from inside the process, as one append.
    fn inputs(&mut self, events: Vec<Event>, ctx: &Context<Self>) {
        if self.state.ended || self.failed.is_some() {
            for event in events {
                self.input(event, None, ctx);
            }
            return;
        }
        let mut batch = Batch::default();
        for event in events {
            self.step(event, &mut batch);
        }
        self.append(batch, None, ctx);
    }

    /// Log and act on one input from inside the process.
    fn input(&mut self, event: Event, waiter: Option<oneshot::Sender<Result<(), RoomError>>>, ctx: &Context<Self>) {
        if self.state.ended {
            // `SessionEnded` is a session's last event: late render acks and
            // effect results of an ended session have nothing left to act on
            tracing::debug!(room = %self.room_id, event = event.type_name(), "input after the session ended, not logged");
            if let Some(w) = waiter {
                let _ = w.send(Err(RoomError::Ended));
            }
            return;
        }
        if let Some(e) = &self.failed {
            if let Some(w) = waiter {
                let _ = w.send(Err(RoomError::LogUnavailable(e.to_string())));
            }
            return;
        }
        let mut batch = Batch::default();
        self.step(event, &mut batch);
        self.append(batch, waiter, ctx);
    }

    /// Log and act on an input from an effect (LLM stream items).
    pub(super) fn log_input(&mut self, event: Event, ctx: &Context<Self>) {
        self.input(event, None, ctx);
    }

    pub(super) fn state(&self) -> &RoomState {
        &self.state
    }

    pub(super) fn llm_stream_over(&mut self, reply_id: &str) {
        self.llm_streams.remove(reply_id);
    }

    /// Start a new session: the room's first event.
    pub fn start_session(&mut self, started: Event, ctx: &Context<Self>) {
        self.input(started, None, ctx);
    }
}

/// Rows, console lines and effects of one append.
#[derive(Default)]
struct Batch {
    rows: Vec<LogRow>,
    lines: Vec<ConsoleLine>,
    effects: Vec<Effect>,
    /// Effects that start before the batch is durable (LLM mode only).
    early: Vec<Effect>,
}

impl Batch {
    fn push(&mut self, room_id: &Arc<str>, envelope: &Envelope) {
        self.rows.push(LogRow::from_envelope(envelope, room_id.clone()));
        self.lines.push(ConsoleLine { seq: envelope.seq, json: envelope.to_json().into() });
    }
}

impl Actor for Room {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // acks and durability callbacks come with do_send, which the mailbox
        // never refuses; ingest requests (send) wait when it is full: backpressure
        ctx.set_mailbox_capacity(256);
        let renderer =
            PreviewRenderer::new(self.deps.clock.clone(), ctx.address().recipient(), self.deps.render_speed).start();
        self.renderer = Some(renderer);
        if !self.state.started {
            return;
        }
        // Resuming from the log: what was in flight when the last owner
        // stopped is settled through events, never silently.
        if let Some(on_air) = self.state.on_air.clone() {
            // the renderer that played it is gone: the utterance was cut off
            self.input(Event::UtteranceCancelled { utterance_id: on_air.utterance_id }, None, ctx);
        }
        // LLM streams of the last owner are gone too: their replies fall back or end
        self.interrupt_llm_streams(ctx);
        let mut effects = Vec::new();
        for (seq, c) in &self.state.pending_comments {
            if c.intent.is_none() {
                effects.push(Effect::Triage { comment_seq: *seq, text: c.text.clone() });
            } else if c.awaiting_retrieval {
                effects.push(Effect::Retrieve {
                    comment_seq: *seq,
                    text: c.text.clone(),
                    lang: c.lang.unwrap_or(crate::events::Lang::Zh),
                    product_id: self.state.product_on_stage().map(|p| p.product_id.clone()),
                });
            }
        }
        if self.in_flight.is_empty() {
            self.run_effects(effects, ctx);
        } else {
            self.resume_effects = effects;
        }
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        for (_, stream) in self.llm_streams.drain() {
            stream.abort();
        }
        if let Some(r) = self.renderer.take() {
            r.do_send(StopRenderer);
        }
    }
}

/// The writer's callback for batch `batch`.
#[derive(Message)]
#[rtype(result = "()")]
struct BatchDurable {
    batch: u64,
    result: Result<(), LogError>,
}

impl Handler<BatchDurable> for Room {
    type Result = ();

    fn handle(&mut self, msg: BatchDurable, ctx: &mut Context<Self>) {
        let Some(done) = self.in_flight.pop_front() else { return };
        debug_assert_eq!(done.batch, msg.batch, "the writer acknowledges batches in order");
        match msg.result {
            Ok(()) => {
                for line in done.lines {
                    let _ = self.console.send(line);
                }
                if let Some(w) = done.waiter {
                    let _ = w.send(Ok(()));
                }
                let mut effects = done.effects;
                effects.append(&mut self.resume_effects);
                self.run_effects(effects, ctx);
            }
            Err(e) => {
                tracing::error!(room = %self.room_id, error = %e, "append failed; the room stops and must be reopened from its log");
                if let Some(w) = done.waiter {
                    let _ = w.send(Err(RoomError::LogUnavailable(e.to_string())));
                }
                for later in self.in_flight.drain(..) {
                    if let Some(w) = later.waiter {
                        let _ = w.send(Err(RoomError::LogUnavailable(e.to_string())));
                    }
                }
                self.failed = Some(e);
                ctx.stop();
            }
        }
    }
}

impl Handler<RenderAck> for Room {
    type Result = ();

    fn handle(&mut self, ack: RenderAck, ctx: &mut Context<Self>) {
        let utterance_id = ack.utterance_id;
        let event = match ack.kind {
            AckKind::Queued => Event::UtteranceQueued { utterance_id },
            AckKind::Started => Event::UtteranceStarted { utterance_id },
            AckKind::Finished => Event::UtteranceFinished { utterance_id },
            AckKind::Cancelled => Event::UtteranceCancelled { utterance_id },
        };
        self.input(event, None, ctx);
    }
}

/// Viewer events from ingest (HTTP, websocket, simulator): logged, then acted on.
#[derive(Message)]
#[rtype(result = "Result<IngestReceipt, RoomError>")]
pub struct Ingest {
    pub events: Vec<Event>,
}

impl Handler<Ingest> for Room {
    type Result = ResponseFuture<Result<IngestReceipt, RoomError>>;

    fn handle(&mut self, msg: Ingest, ctx: &mut Context<Self>) -> Self::Result {
        if let Some(e) = &self.failed {
            let e = RoomError::LogUnavailable(e.to_string());
            return Box::pin(async move { Err(e) });
        }
        if self.state.ended {
            return Box::pin(async { Err(RoomError::Ended) });
        }
        let mut batch = Batch::default();
        let mut seqs = Vec::with_capacity(msg.events.len());
        let mut duplicates = 0;
        let mut in_batch: HashSet<String> = HashSet::new();
        for mut event in msg.events {
            if let (Event::ViewerJoined { viewer, variant: variant @ None }, Some(experiment)) =
                (&mut event, &self.state.experiment)
            {
                *variant = crate::ingest::assign_variant(experiment, &viewer.id);
            }
            if let Some(id) = event.platform_msg_id()
                && (self.state.seen_platform_msgs.contains(id) || !in_batch.insert(id.to_string()))
            {
                duplicates += 1;
                continue;
            }
            seqs.push(self.step(event, &mut batch));
        }
        let (tx, rx) = oneshot::channel();
        self.append(batch, Some(tx), ctx);
        Box::pin(async move {
            rx.await.map_err(|_| RoomError::Stopped)??;
            Ok(IngestReceipt { accepted: seqs.len(), duplicates, seqs })
        })
    }
}

/// An operator's command: logged, then acted on. Answers with its seq.
#[derive(Message)]
#[rtype(result = "Result<i64, RoomError>")]
pub struct Operate {
    pub command: OperatorCommand,
}

impl Handler<Operate> for Room {
    type Result = ResponseFuture<Result<i64, RoomError>>;

    fn handle(&mut self, msg: Operate, ctx: &mut Context<Self>) -> Self::Result {
        if self.state.ended {
            return Box::pin(async { Err(RoomError::Ended) });
        }
        let seq = self.state.last_seq + 1;
        let (tx, rx) = oneshot::channel();
        self.input(Event::OperatorCommandReceived { command: msg.command }, Some(tx), ctx);
        Box::pin(async move {
            rx.await.map_err(|_| RoomError::Stopped)??;
            Ok(seq)
        })
    }
}

/// End the session: the last event carries the state digest. Answers with
/// the digest once the event is durable; the room then stops.
#[derive(Message)]
#[rtype(result = "Result<String, RoomError>")]
pub struct EndSession {
    pub reason: String,
}

impl Handler<EndSession> for Room {
    type Result = ResponseFuture<Result<String, RoomError>>;

    fn handle(&mut self, msg: EndSession, ctx: &mut Context<Self>) -> Self::Result {
        if self.state.ended {
            return Box::pin(async { Err(RoomError::Ended) });
        }
        // one batch: the request (and the policy's settling of what is
        // open), then the ended event with the digest of the state before it
        let mut batch = Batch::default();
        self.step(Event::SessionEndRequested { reason: msg.reason.clone() }, &mut batch);
        let state_digest = self.state.digest();
        self.step(Event::SessionEnded { reason: msg.reason, state_digest: state_digest.clone() }, &mut batch);
        let (tx, rx) = oneshot::channel();
        self.append(batch, Some(tx), ctx);
        let pool = self.deps.pool.clone();
        let session_id = self.session_id;
        let addr = ctx.address();
        Box::pin(async move {
            rx.await.map_err(|_| RoomError::Stopped)??;
            if let Err(e) = crate::eventlog::mark_session_ended(&pool, session_id, &state_digest).await {
                tracing::warn!(error = %e, "session ended in the log but not in the listing");
            }
            addr.do_send(StopRoom);
            Ok(state_digest)
        })
    }
}

#[derive(Message)]
#[rtype(result = "()")]
pub struct StopRoom;

impl Handler<StopRoom> for Room {
    type Result = ();

    fn handle(&mut self, _: StopRoom, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

#[derive(Message)]
#[rtype(result = "()")]
struct StopRenderer;

impl Handler<StopRenderer> for PreviewRenderer {
    type Result = ();

    fn handle(&mut self, _: StopRenderer, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

/// A view of the room for the API and tests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoomSnapshot {
    pub room_id: String,
    pub session_id: Uuid,
    /// The room's permanent disclosure: the host is an AI digital human.
    pub disclosure: String,
    pub last_seq: i64,
    pub digest: String,
    pub ended: bool,
    pub on_air: Option<super::state::OnAir>,
    pub cursor: crate::events::PitchPos,
    pub product_on_stage: Option<String>,
    pub pending_comments: usize,
    pub queued_replies: usize,
    pub counters: super::state::Counters,
    /// Batches appended but not yet durable.
    pub in_flight_batches: usize,
}

#[derive(Message)]
#[rtype(result = "RoomSnapshot")]
pub struct GetSnapshot;

impl Handler<GetSnapshot> for Room {
    type Result = MessageResult<GetSnapshot>;

    fn handle(&mut self, _: GetSnapshot, _: &mut Context<Self>) -> Self::Result {
        MessageResult(RoomSnapshot {
            room_id: self.room_id.to_string(),
            session_id: self.session_id,
            disclosure: self.state.disclosure.clone(),
            last_seq: self.state.last_seq,
            digest: self.state.digest(),
            ended: self.state.ended,
            on_air: self.state.on_air.clone(),
            cursor: self.state.cursor,
            product_on_stage: self.state.product_on_stage().map(|p| p.product_id.clone()),
            pending_comments: self.state.pending_comments.len(),
            queued_replies: self.state.reply_queue.len(),
            counters: self.state.counters.clone(),
            in_flight_batches: self.in_flight.len(),
        })
    }
}

/// How many appended batches are not yet durable (cheap, unlike a snapshot).
#[derive(Message)]
#[rtype(result = "usize")]
pub struct InFlightBatches;

impl Handler<InFlightBatches> for Room {
    type Result = usize;

    fn handle(&mut self, _: InFlightBatches, _: &mut Context<Self>) -> usize {
        self.in_flight.len()
    }
}

/// Start a session in a freshly started room.
#[derive(Message)]
#[rtype(result = "()")]
pub struct BeginSession {
    pub started: Event,
}

impl Handler<BeginSession> for Room {
    type Result = ();

    fn handle(&mut self, msg: BeginSession, ctx: &mut Context<Self>) {
        self.start_session(msg.started, ctx);
    }
}
