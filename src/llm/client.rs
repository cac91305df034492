//! The streaming LLM client: `async-openai` against any OpenAI-compatible
//! endpoint (llama.cpp's server, vLLM, Ollama, hosted APIs).
//!
//! `stream` turns a request into `StreamItem`s: each complete sentence as
//! soon as it ends, then `Finished` or `Failed`. Every way a stream can go
//! wrong ends in one `Failed` with a kind: no first token within
//! `first_token_timeout_ms` (which also bounds async-openai's built-in
//! retries with backoff of 429 and 5xx answers), no chunk within `idle_timeout_ms`, longer than `total_timeout_ms`,
//! an HTTP error status, a malformed chunk, or a stream cut off before the
//! model said it was done.

use std::time::{Duration, Instant};

use async_openai::Client;
use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use super::prompts::{LlmRequest, Role};
use super::sentences::{DEFAULT_CAP, SentenceSplitter};

/// Where and how to call the model.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmConfig {
    /// Base URL including `/v1`, e.g. `http://127.0.0.1:8081/v1`.
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub first_token_timeout_ms: u64,
    pub idle_timeout_ms: u64,
    pub total_timeout_ms: u64,
    pub max_tokens: u32,
    pub temperature: f32,
    /// Longest sentence in characters.
    pub sentence_cap: usize,
}

impl LlmConfig {
    pub fn new(base_url: &str, model: &str) -> LlmConfig {
        LlmConfig {
            base_url: base_url.trim_end_matches('/').to_string(),
            model: model.to_string(),
            api_key: None,
            first_token_timeout_ms: 2_000,
            idle_timeout_ms: 2_000,
            total_timeout_ms: 20_000,
            max_tokens: 256,
            temperature: 0.7,
            sentence_cap: DEFAULT_CAP,
        }
    }
}

/// What a stream yields.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    Sentence { index: u32, text: String },
    Finished { sentences: u32, model: String, ttft_ms: i64, total_ms: i64 },
    Failed { kind: String, error: String, sentences: u32, elapsed_ms: i64 },
}

#[derive(Clone)]
pub struct LlmClient {
    client: Client<OpenAIConfig>,
    pub config: LlmConfig,
}

/// A chunk as OpenAI-compatible servers send it; only what we read, so
/// servers that leave other fields out still parse.
#[derive(Debug, Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<ChunkChoice>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ChunkChoice {
    #[serde(default)]
    delta: Option<Delta>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Delta {
    #[serde(default)]
    content: Option<String>,
}

fn failure_kind(e: &OpenAIError) -> &'static str {
    match e {
        OpenAIError::ApiError(_) => "http_status",
        OpenAIError::Reqwest(_) => "request",
        OpenAIError::JSONDeserialize(..) => "malformed",
        OpenAIError::StreamError(_) => "disconnected",
        _ => "request",
    }
}

impl LlmClient {
    pub fn new(config: LlmConfig) -> LlmClient {
        let mut oc = OpenAIConfig::new().with_api_base(config.base_url.clone());
        // local servers take any key; async-openai sends one in any case
        oc = oc.with_api_key(config.api_key.clone().unwrap_or_else(|| "none".into()));
        LlmClient { client: Client::with_config(oc), config }
    }

    fn body(&self, request: &LlmRequest) -> serde_json::Value {
        let messages: Vec<serde_json::Value> = request
            .messages
            .iter()
            .map(|m| json!({"role": match m.role { Role::System => "system", Role::User => "user" }, "content": m.content}))
            .collect();
        json!({
            "model": self.config.model,
            "messages": messages,
            "stream": true,
            "max_tokens": self.config.max_tokens,
            "temperature": self.config.temperature,
        })
    }

    /// Stream `request`; `emit` gets every item, the last one `Finished` or `Failed`.
    pub async fn stream(&self, request: &LlmRequest, mut emit: impl FnMut(StreamItem)) {
        let started = Instant::now();
        let elapsed = |s: Instant| s.elapsed().as_millis() as i64;
        let total = Duration::from_millis(self.config.total_timeout_ms);
        let mut splitter = SentenceSplitter::new(self.config.sentence_cap);
        let mut sentences = 0u32;
        let fail = |kind: &str, error: String, sentences: u32, emit: &mut dyn FnMut(StreamItem)| {
            emit(StreamItem::Failed { kind: kind.into(), error, sentences, elapsed_ms: elapsed(started) });
        };
        let first_deadline = Duration::from_millis(self.config.first_token_timeout_ms);
        let opened =
            tokio::time::timeout(first_deadline, self.client.chat().create_stream_byot::<_, Chunk>(self.body(request)))
                .await;
        let mut stream = match opened {
            Err(_) => {
                return fail("timeout", format!("no response within {} ms", first_deadline.as_millis()), 0, &mut emit);
            }
            Ok(Err(e)) => return fail(failure_kind(&e), e.to_string(), 0, &mut emit),
            Ok(Ok(s)) => s,
        };
        let mut ttft_ms = None;
        let mut model = self.config.model.clone();
        let mut done = false;
        loop {
            let wait = if ttft_ms.is_none() {
                first_deadline.saturating_sub(started.elapsed())
            } else {
                Duration::from_millis(self.config.idle_timeout_ms)
            };
            let wait = wait.min(total.saturating_sub(started.elapsed()));
            let next = match tokio::time::timeout(wait, stream.next()).await {
                Err(_) => {
                    let what = if ttft_ms.is_none() { "first token" } else { "next chunk" };
                    return fail("timeout", format!("no {what} within {} ms", wait.as_millis()), sentences, &mut emit);
                }
                Ok(n) => n,
            };
            let chunk = match next {
                None => break,
                Some(Err(e)) => return fail(failure_kind(&e), e.to_string(), sentences, &mut emit),
                Some(Ok(c)) => c,
            };
            if let Some(m) = chunk.model.filter(|m| !m.is_empty()) {
                model = m;
            }
            for choice in chunk.choices {
                if let Some(text) = choice.delta.and_then(|d| d.content).filter(|t| !t.is_empty()) {
                    ttft_ms.get_or_insert_with(|| elapsed(started));
                    for s in splitter.push(&text) {
                        emit(StreamItem::Sentence { index: sentences, text: s });
                        sentences += 1;
                    }
                }
                if choice.finish_reason.is_some() {
                    done = true;
                }
            }
        }
        if !done {
            // the connection ended without the model's finish: cut off
            return fail("disconnected", "the stream ended before the model finished".into(), sentences, &mut emit);
        }
        if let Some(s) = splitter.finish() {
            emit(StreamItem::Sentence { index: sentences, text: s });
            sentences += 1;
        }
        emit(StreamItem::Finished { sentences, model, ttft_ms: ttft_ms.unwrap_or(-1), total_ms: elapsed(started) });
    }

    /// The whole text of a request (for offline uses such as video scripts).
    pub async fn complete(&self, request: &LlmRequest) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        let mut error = None;
        self.stream(request, |item| match item {
            StreamItem::Sentence { text, .. } => out.push(text),
            StreamItem::Failed { kind, error: e, .. } => error = Some(format!("{kind}: {e}")),
            StreamItem::Finished { .. } => {}
        })
        .await;
        match error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Lang, RetrievedEntry};
    use crate::llm::prompts;
    use crate::llm::testserver::{self, End, Script, TestServer};

    fn request() -> LlmRequest {
        let entry = RetrievedEntry {
            entry_id: 1,
            product_id: None,
            product_name: Some("电饭煲".into()),
            kind: "price".into(),
            answer: "到手价299元".into(),
            answer_en: None,
            score: 1.0,
            reason: String::new(),
        };
        prompts::answer("b", Lang::Zh, &[("小鱼".into(), "多少钱".into())], &[entry])
    }

    async fn run(server: &TestServer, tweak: impl FnOnce(&mut LlmConfig)) -> Vec<StreamItem> {
        let mut config = LlmConfig::new(&server.base_url, "test-model");
        config.first_token_timeout_ms = 400;
        config.idle_timeout_ms = 300;
        tweak(&mut config);
        let client = LlmClient::new(config);
        let mut items = Vec::new();
        client.stream(&request(), |i| items.push(i)).await;
        items
    }

    fn failure(items: &[StreamItem]) -> (String, u32) {
        match items.last() {
            Some(StreamItem::Failed { kind, sentences, .. }) => (kind.clone(), *sentences),
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_stream_comes_out_sentence_by_sentence_and_the_first_after_the_first_token_delay() {
        let server = TestServer::start(testserver::grounded(80, 5)).await.unwrap();
        let items = run(&server, |_| {}).await;
        let sentences: Vec<&str> = items
            .iter()
            .filter_map(|i| match i {
                StreamItem::Sentence { text, .. } => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(sentences, ["小鱼你好呀！", "到手价299元。", "喜欢的话点下方小黄车哦！"]);
        match items.last() {
            Some(StreamItem::Finished { sentences: 3, ttft_ms, model, .. }) => {
                assert!(*ttft_ms >= 80, "ttft {ttft_ms}");
                assert_eq!(model, "test-model");
            }
            other => panic!("{other:?}"),
        }
        let body = server.requests();
        assert_eq!(body, 1);
    }

    #[tokio::test]
    async fn every_failure_ends_in_one_failed_item_with_its_kind() {
        let server =
            TestServer::start(testserver::failing(Script::Status { code: 400, message: "bad".into() })).await.unwrap();
        assert_eq!(failure(&run(&server, |_| {}).await), ("http_status".into(), 0));

        // 429 and 5xx are retried by async-openai with backoff: the first-token deadline bounds it
        for code in [429, 500, 503] {
            server.set_behavior(testserver::failing(Script::Status { code, message: "busy".into() }));
            let t = Instant::now();
            let (kind, _) = failure(&run(&server, |_| {}).await);
            assert!(kind == "timeout" || kind == "http_status", "{code}: {kind}");
            assert!(t.elapsed() < Duration::from_millis(1000), "{code}: {:?}", t.elapsed());
        }

        let tokens = testserver::tokens("你好呀！到手价299元。还有呢", 3);
        for (end, want) in [(End::Drop, "disconnected"), (End::Malformed, "malformed"), (End::Stall, "timeout")] {
            server.set_behavior(testserver::failing(Script::Stream {
                first_delay_ms: 0,
                token_delay_ms: 0,
                tokens: tokens.clone(),
                end,
            }));
            let items = run(&server, |_| {}).await;
            assert_eq!(failure(&items), (want.to_string(), 2), "{end:?}: {items:?}");
        }

        server.set_behavior(testserver::grounded(1000, 0));
        assert_eq!(failure(&run(&server, |_| {}).await).0, "timeout");

        // nobody listening any more
        let url = server.base_url.clone();
        drop(server);
        tokio::time::sleep(Duration::from_millis(20)).await;
        let client = LlmClient::new(LlmConfig { first_token_timeout_ms: 400, ..LlmConfig::new(&url, "m") });
        let mut items = Vec::new();
        client.stream(&request(), |i| items.push(i)).await;
        let (kind, _) = failure(&items);
        assert!(kind == "request" || kind == "timeout", "{kind}");
    }
}
