//! Replies and pitches with an LLM: any OpenAI-compatible endpoint through
//! `async-openai`, streamed sentence by sentence.
//!
//! - `prompts`: versioned templates from `prompts/` and request builders.
//! - `sentences`: streamed text -> complete sentences.
//! - `grounding`: figures of a sentence vs the facts it was given.
//! - `check`: the output-check hook (pass-through until the compliance check lands).
//! - `client`: the streaming client, with timeouts and failure kinds.
//! - `testserver`: a local OpenAI-compatible SSE server with controllable
//!   delays and failures, for tests and `liveroom bench replies`.

pub mod check;
pub mod client;
pub mod grounding;
pub mod prompts;
pub mod sentences;
pub mod testserver;

pub use client::{LlmClient, LlmConfig, StreamItem};
pub use prompts::LlmRequest;

/// Command-line and environment settings of the LLM endpoint. Without a
/// base URL, rooms reply with templates.
#[derive(Debug, Clone, clap::Args)]
pub struct LlmArgs {
    /// OpenAI-compatible base URL including `/v1` (llama.cpp server, vLLM, Ollama, hosted).
    #[arg(long = "llm-base-url", env = "LIVEROOM_LLM_BASE_URL")]
    pub base_url: Option<String>,
    #[arg(long = "llm-model", env = "LIVEROOM_LLM_MODEL", default_value = "default")]
    pub model: String,
    #[arg(long = "llm-api-key", env = "LIVEROOM_LLM_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// No first token within this: the reply falls back to its template.
    #[arg(long = "llm-first-token-timeout-ms", env = "LIVEROOM_LLM_FIRST_TOKEN_TIMEOUT_MS", default_value_t = 2000)]
    pub first_token_timeout_ms: u64,
    /// No next chunk within this: the stream is failed.
    #[arg(long = "llm-idle-timeout-ms", env = "LIVEROOM_LLM_IDLE_TIMEOUT_MS", default_value_t = 2000)]
    pub idle_timeout_ms: u64,
    #[arg(long = "llm-total-timeout-ms", env = "LIVEROOM_LLM_TOTAL_TIMEOUT_MS", default_value_t = 20000)]
    pub total_timeout_ms: u64,
    #[arg(long = "llm-max-tokens", env = "LIVEROOM_LLM_MAX_TOKENS", default_value_t = 256)]
    pub max_tokens: u32,
}

impl LlmArgs {
    pub fn config(&self) -> Option<LlmConfig> {
        let base = self.base_url.as_deref().map(str::trim).filter(|b| !b.is_empty())?;
        Some(LlmConfig {
            api_key: self.api_key.clone().filter(|k| !k.is_empty()),
            first_token_timeout_ms: self.first_token_timeout_ms,
            idle_timeout_ms: self.idle_timeout_ms,
            total_timeout_ms: self.total_timeout_ms,
            max_tokens: self.max_tokens,
            ..LlmConfig::new(base, &self.model)
        })
    }
}
