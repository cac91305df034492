//! The built-in crowd simulator: a danmaku source for the demo. Viewers
//! join, comment (questions about the product on stage, greetings, praise,
//! spam...), like, send gifts, follow, order and leave. It is a client like
//! any other: it sends JSON over the room's ingest websocket.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::knowledge::Catalog;

#[derive(Debug, Clone, Deserialize)]
struct Phrases {
    names: Vec<String>,
    greetings: ByLang,
    praise: ByLang,
    generic_questions: ByLang,
    price_questions: ByLang,
    stock_questions: ByLang,
    spam: ByLang,
    other: ByLang,
    gifts: Vec<Gift>,
}

#[derive(Debug, Clone, Deserialize)]
struct ByLang {
    zh: Vec<String>,
    en: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Gift {
    name: String,
    value: f64,
}

#[derive(Debug, Clone)]
pub struct SimulatorConfig {
    /// Events per second on average.
    pub rate: f64,
    pub seed: u64,
    /// Stop after this many events (None: run until the connection closes).
    pub max_events: Option<u64>,
}

pub struct Crowd {
    phrases: Phrases,
    catalog: Catalog,
    rng: SmallRng,
    present: Vec<(String, String)>,
    next_viewer: u64,
    next_msg: u64,
}

impl Crowd {
    pub fn new(catalog: Catalog, seed: u64) -> Crowd {
        // unwrap: the file is part of the source and a unit test parses it
        let phrases: Phrases = serde_json::from_str(include_str!("crowd_phrases.json")).unwrap();
        Crowd { phrases, catalog, rng: SmallRng::seed_from_u64(seed), present: Vec::new(), next_viewer: 0, next_msg: 0 }
    }

    fn pick<'a>(&mut self, list: &'a [String]) -> &'a str {
        if list.is_empty() { "" } else { &list[self.rng.random_range(0..list.len())] }
    }

    fn line(&mut self, by_lang: &ByLang) -> String {
        let english = self.rng.random_bool(0.2);
        let list = if english && !by_lang.en.is_empty() { &by_lang.en } else { &by_lang.zh };
        self.pick(list).to_string()
    }

    /// A product question from the catalogue's FAQ (the way viewers ask it).
    fn product_question(&mut self) -> String {
        if self.catalog.products.is_empty() {
            return "这个怎么用".into();
        }
        let p = &self.catalog.products[self.rng.random_range(0..self.catalog.products.len())];
        if p.faq.is_empty() {
            return p.name.clone();
        }
        let f = &p.faq[self.rng.random_range(0..p.faq.len())];
        f.questions[self.rng.random_range(0..f.questions.len())].clone()
    }

    /// The next event, as the JSON a client sends.
    pub fn next_event(&mut self) -> Value {
        self.next_msg += 1;
        let msg_id = format!("sim-{}", self.next_msg);
        if self.present.len() < 3 || self.rng.random_bool(0.12) {
            self.next_viewer += 1;
            let name = self.pick(&self.phrases.names.clone()).to_string();
            let id = format!("sim-viewer-{}", self.next_viewer);
            self.present.push((id.clone(), name.clone()));
            return json!({"type": "join", "viewer_id": id, "viewer_name": name, "platform": "sim", "platform_msg_id": msg_id});
        }
        let (id, name) = self.present[self.rng.random_range(0..self.present.len())].clone();
        let base = json!({"viewer_id": id, "viewer_name": name, "platform": "sim", "platform_msg_id": msg_id});
        let roll: f64 = self.rng.random();
        let mut event = base.as_object().cloned().unwrap_or_default();
        let comment = |text: String| json!({"type": "comment", "text": text});
        let extra = match roll {
            r if r < 0.18 => comment(self.product_question()),
            r if r < 0.26 => comment(self.line(&self.phrases.price_questions.clone())),
            r if r < 0.31 => comment(self.line(&self.phrases.stock_questions.clone())),
            r if r < 0.35 => comment(self.line(&self.phrases.generic_questions.clone())),
            r if r < 0.43 => comment(self.line(&self.phrases.greetings.clone())),
            r if r < 0.52 => comment(self.line(&self.phrases.praise.clone())),
            r if r < 0.58 => comment(self.line(&self.phrases.other.clone())),
            r if r < 0.60 => comment(self.line(&self.phrases.spam.clone())),
            r if r < 0.75 => json!({"type": "like", "count": self.rng.random_range(1..20)}),
            r if r < 0.80 => {
                let g = self.phrases.gifts[self.rng.random_range(0..self.phrases.gifts.len())].clone();
                json!({"type": "gift", "gift": g.name, "count": 1, "value": g.value})
            }
            r if r < 0.84 => json!({"type": "follow"}),
            r if r < 0.88 && !self.catalog.products.is_empty() => {
                let p = &self.catalog.products[self.rng.random_range(0..self.catalog.products.len())];
                json!({"type": "order", "product_id": p.id, "quantity": 1, "amount": p.promo_price.unwrap_or(p.price)})
            }
            _ => {
                let i = self.rng.random_range(0..self.present.len());
                let (id, name) = self.present.swap_remove(i);
                json!({"type": "leave", "viewer_id": id, "viewer_name": name})
            }
        };
        if let Some(extra) = extra.as_object() {
            for (k, v) in extra {
                event.insert(k.clone(), v.clone());
            }
        }
        Value::Object(event)
    }
}

/// Drive `url` (a room's ingest websocket) with a simulated crowd until the
/// connection closes or `max_events` are sent.
pub async fn run(url: String, catalog: Catalog, config: SimulatorConfig) -> anyhow::Result<u64> {
    let (ws, _) = tokio_tungstenite::connect_async(&url).await?;
    let (mut tx, mut rx) = ws.split();
    let mut crowd = Crowd::new(catalog, config.seed);
    let mut sent = 0u64;
    let mut rng = SmallRng::seed_from_u64(config.seed ^ 0x5eed);
    // acks are read (and errors logged) concurrently
    let reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = rx.next().await {
            if let Message::Text(text) = msg
                && text.contains("\"code\"")
            {
                tracing::warn!(reply = %text, "simulator event refused");
            }
        }
    });
    loop {
        if config.max_events.is_some_and(|m| sent >= m) {
            break;
        }
        // exponential gaps: a Poisson stream at `rate`
        let u: f64 = rng.random_range(1e-9..1.0);
        let gap = -u.ln() / config.rate.max(0.001);
        tokio::time::sleep(Duration::from_secs_f64(gap.min(10.0))).await;
        let event = crowd.next_event();
        if tx.send(Message::Text(event.to_string().into())).await.is_err() {
            break;
        }
        sent += 1;
    }
    let _ = tx.close().await;
    reader.abort();
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_crowd_only_sends_events_ingest_accepts() {
        let mut crowd = Crowd::new(Catalog::demo(), 7);
        for _ in 0..2000 {
            let event = crowd.next_event();
            crate::ingest::parse_value(event.clone()).unwrap_or_else(|e| panic!("{event}: {e}"));
        }
    }
}
