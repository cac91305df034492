//! The built-in preview renderer: one actor per room, playing every
//! speaker's utterances on the room's clock. An utterance lasts as long as
//! `estimate_duration_ms` says; the actor reports queued, started, finished
//! or cancelled to the room.

use std::collections::{HashMap, HashSet, VecDeque};

use actix::prelude::*;

use super::{AckKind, AckSink, Cancel, Cut, RenderAck, Speak, estimate_duration_ms};
use crate::clock::Clock;
use crate::events::Speaker;

pub struct PreviewRenderer {
    clock: Clock,
    acks: AckSink,
    /// Speech rate multiplier (1.0 = natural).
    speed: f64,
    /// Per speaker: what waits to be spoken (a speaker never overlaps itself).
    queues: HashMap<Speaker, VecDeque<Speak>>,
    /// Per speaker: the utterance being spoken and the handle of its timer.
    speaking: HashMap<Speaker, (String, SpawnHandle)>,
    /// Cancels that arrived before their utterance: dropped on arrival.
    cancelled_early: HashSet<String>,
    pub shot: Option<String>,
}

impl PreviewRenderer {
    pub fn new(clock: Clock, acks: AckSink, speed: f64) -> PreviewRenderer {
        PreviewRenderer {
            clock,
            acks,
            speed,
            queues: HashMap::new(),
            speaking: HashMap::new(),
            cancelled_early: HashSet::new(),
            shot: None,
        }
    }

    fn ack(&self, utterance_id: &str, kind: AckKind) {
        self.acks.do_send(RenderAck { utterance_id: utterance_id.to_string(), kind });
    }

    fn start_next(&mut self, speaker: Speaker, ctx: &mut Context<Self>) {
        if self.speaking.contains_key(&speaker) {
            return;
        }
        let Some(next) = self.queues.get_mut(&speaker).and_then(VecDeque::pop_front) else { return };
        self.ack(&next.utterance_id, AckKind::Started);
        let deadline = self.clock.now_ms() + estimate_duration_ms(&next.text, next.lang, self.speed);
        let clock = self.clock.clone();
        let id = next.utterance_id.clone();
        let handle = ctx.spawn(async move { clock.sleep_until(deadline).await }.into_actor(self).map(
            move |_, actor, ctx| {
                if actor.speaking.get(&speaker).is_some_and(|(current, _)| *current == id) {
                    actor.speaking.remove(&speaker);
                    actor.ack(&id, AckKind::Finished);
                    actor.start_next(speaker, ctx);
                }
            },
        ));
        self.speaking.insert(speaker, (next.utterance_id, handle));
    }
}

impl Actor for PreviewRenderer {
    type Context = Context<Self>;
}

impl Handler<Speak> for PreviewRenderer {
    type Result = ();

    fn handle(&mut self, msg: Speak, ctx: &mut Context<Self>) {
        if self.cancelled_early.remove(&msg.utterance_id) {
            self.ack(&msg.utterance_id, AckKind::Cancelled);
            return;
        }
        self.ack(&msg.utterance_id, AckKind::Queued);
        let speaker = msg.speaker;
        self.queues.entry(speaker).or_default().push_back(msg);
        self.start_next(speaker, ctx);
    }
}

impl Handler<Cancel> for PreviewRenderer {
    type Result = ();

    fn handle(&mut self, msg: Cancel, ctx: &mut Context<Self>) {
        let speaking = self.speaking.iter().find(|(_, (id, _))| *id == msg.utterance_id).map(|(s, _)| *s);
        if let Some(speaker) = speaking {
            // unwrap: found just above
            let (_, handle) = self.speaking.remove(&speaker).unwrap();
            ctx.cancel_future(handle);
            self.ack(&msg.utterance_id, AckKind::Cancelled);
            self.start_next(speaker, ctx);
            return;
        }
        for queue in self.queues.values_mut() {
            if let Some(i) = queue.iter().position(|s| s.utterance_id == msg.utterance_id) {
                queue.remove(i);
                self.ack(&msg.utterance_id, AckKind::Cancelled);
                return;
            }
        }
        // not arrived yet (or already over): remember, so it never starts
        self.cancelled_early.insert(msg.utterance_id);
    }
}

impl Handler<Cut> for PreviewRenderer {
    type Result = ();

    fn handle(&mut self, msg: Cut, _: &mut Context<Self>) {
        self.shot = Some(super::super::room::templates::shot_key(&msg.shot, msg.product_id.as_deref()));
    }
}
