//! Rendering sits behind one protocol: the room sends `Speak` and `Cancel`
//! commands with utterance ids and camera `Cut`s; a renderer answers with
//! `RenderAck`s (queued, started, finished, cancelled) that the room logs as
//! events. The preview backend is built in; real avatar renderers implement
//! the same messages.

pub mod preview;

use actix::prelude::*;

use crate::events::{Lang, Speaker};

/// Render `text` as utterance `utterance_id`.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Speak {
    pub utterance_id: String,
    pub speaker: Speaker,
    pub text: String,
    pub lang: Lang,
}

/// Stop `utterance_id` wherever it is: queued, speaking, or not yet arrived.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Cancel {
    pub utterance_id: String,
}

#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct Cut {
    pub shot: String,
    pub product_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckKind {
    Queued,
    Started,
    Finished,
    Cancelled,
}

/// A renderer's acknowledgement, sent back to the room.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub struct RenderAck {
    pub utterance_id: String,
    pub kind: AckKind,
}

/// Where a renderer sends its acks.
pub type AckSink = Recipient<RenderAck>;

/// Speaking time of a text: characters per second for Chinese, words per
/// second for English, never under 600 ms.
pub fn estimate_duration_ms(text: &str, lang: Lang, speed: f64) -> i64 {
    let seconds = match lang {
        Lang::Zh => {
            let chars = text.chars().filter(|c| c.is_alphanumeric()).count() as f64;
            chars / 4.5
        }
        Lang::En => text.split_whitespace().count() as f64 / 2.6,
    };
    ((seconds * 1000.0 / speed.max(0.01)) as i64).max(600)
}
