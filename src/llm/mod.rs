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
