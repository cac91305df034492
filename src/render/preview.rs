//! The built-in preview renderer: one actor per room, playing every
//! speaker's utterances on the room's clock. An utterance lasts as long as
//! `estimate_duration_ms` says; the actor reports queued, started, finished
//! or cancelled to the room.

use std::collections::{HashMap, HashSet, VecDeque};

use actix::prelude::*;

use super::{AckKind, AckSink, Cancel, Cut, RenderAck, Speak, estimate_duration_ms};
use crate::clock::Clock;
use crate::events::Speaker;

/// How many early cancels the renderer remembers.
const CANCELLED_EARLY_KEPT: usize = 256;

pub struct PreviewRenderer {
    clock: Clock,
    acks: AckSink,
    /// Speech rate multiplier (1.0 = natural).
    speed: f64,
    /// Per speaker: what waits to be spoken (a speaker never overlaps itself).
    queues: HashMap<Speaker, VecDeque<Speak>>,
    /// Per speaker: the utterance being spoken and the handle of its timer.
    speaking: HashMap<Speaker, (String, SpawnHandle)>,
    /// Cancels of utterances not (or no longer) here: one that arrives
    /// later is dropped on arrival. Bounded: with in-order delivery the set
    /// only collects cancels of utterances that had already finished.
    cancelled_early: HashSet<String>,
    cancelled_early_order: VecDeque<String>,
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
            cancelled_early_order: VecDeque::new(),
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
        let handle =
            ctx.spawn(async move { clock.sleep_until(deadline).await }.into_actor(self).map(move |_, actor, ctx| {
                if actor.speaking.get(&speaker).is_some_and(|(current, _)| *current == id) {
                    actor.speaking.remove(&speaker);
                    actor.ack(&id, AckKind::Finished);
                    actor.start_next(speaker, ctx);
                }
            }));
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
        if self.cancelled_early.insert(msg.utterance_id.clone()) {
            self.cancelled_early_order.push_back(msg.utterance_id);
            if self.cancelled_early_order.len() > CANCELLED_EARLY_KEPT
                && let Some(oldest) = self.cancelled_early_order.pop_front()
            {
                self.cancelled_early.remove(&oldest);
            }
        }
    }
}

impl Handler<Cut> for PreviewRenderer {
    type Result = ();

    fn handle(&mut self, msg: Cut, _: &mut Context<Self>) {
        self.shot = Some(super::super::room::templates::shot_key(&msg.shot, msg.product_id.as_deref()));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::events::Lang;

    struct Collector(Acks);

    impl Actor for Collector {
        type Context = Context<Self>;
    }

    impl Handler<RenderAck> for Collector {
        type Result = ();

        fn handle(&mut self, ack: RenderAck, _: &mut Context<Self>) {
            self.0.lock().unwrap().push((ack.utterance_id, ack.kind));
        }
    }

    fn speak(id: &str) -> Speak {
        Speak {
            utterance_id: id.into(), speaker: Speaker::Host, text: "一二三四五六七八九十".into(), lang: Lang::Zh
        }
    }

    type Acks = Arc<Mutex<Vec<(String, AckKind)>>>;

    /// A renderer on a virtual clock, its acks collected.
    fn start() -> (Addr<PreviewRenderer>, Arc<crate::clock::VirtualClock>, Acks) {
        let acks = Acks::default();
        let sink = Collector(acks.clone()).start().recipient();
        let (clock, time) = Clock::new_virtual(0);
        (PreviewRenderer::new(clock, sink, 1.0).start(), time, acks)
    }

    async fn settle() {
        for _ in 0..5 {
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    #[actix_rt::test]
    async fn a_cancel_stops_the_utterance_speaking_and_one_that_has_not_arrived() {
        let (renderer, time, acks) = start();
        renderer.do_send(speak("u1"));
        settle().await;
        renderer.do_send(Cancel { utterance_id: "u1".into() });
        // a cancel before its utterance arrives: the utterance never starts
        renderer.do_send(Cancel { utterance_id: "u2".into() });
        renderer.do_send(speak("u2"));
        settle().await;
        time.advance(10_000);
        settle().await;
        let got = acks.lock().unwrap().clone();
        let want = [
            ("u1".to_string(), AckKind::Queued),
            ("u1".to_string(), AckKind::Started),
            ("u1".to_string(), AckKind::Cancelled),
            ("u2".to_string(), AckKind::Cancelled),
        ];
        assert_eq!(got, want);
    }

    #[actix_rt::test]
    async fn an_utterance_finishes_after_its_estimated_duration_on_the_clock() {
        let (renderer, time, acks) = start();
        renderer.do_send(speak("u1"));
        settle().await;
        let duration = estimate_duration_ms("一二三四五六七八九十", Lang::Zh, 1.0);
        time.advance(duration - 1);
        settle().await;
        assert_eq!(acks.lock().unwrap().len(), 2, "queued and started, not finished yet");
        time.advance(1);
        settle().await;
        assert_eq!(acks.lock().unwrap().last().cloned(), Some(("u1".to_string(), AckKind::Finished)));
    }
}
