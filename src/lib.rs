//! liveroom: the brain of an AI-hosted live room, as an event-sourced actor
//! system.
//!
//! Data flow: viewer events arrive through `ingest` (HTTP, websocket, the
//! crowd simulator) -> the `room` actor stamps each with the next seq and
//! runs the pure core (`room::state` fold + `room::policy`) -> input and
//! decisions go to the `eventlog` writer as one batch -> once durable, the
//! room runs the effects: `triage` and `knowledge` retrieval (their results
//! come back as events) and `render` commands (their acks come back as
//! events) -> the `console` streams every logged event.
//!
//! Code map:
//! - `events`: the envelope and the one event enum.
//! - `eventlog`: the append-only log in Postgres and its group-commit writer.
//! - `room`: state fold, policy, templates (pure); the room actor and registry.
//! - `knowledge`: brand catalogues, jieba full-text retrieval.
//! - `triage`: comment classification.
//! - `render`: the render protocol and the built-in preview renderer.
//! - `ingest`: validation of incoming events; the crowd simulator.
//! - `console`, `api`: websockets and HTTP routes.
//! - `db`: Postgres, embedded or given; `app`: wiring; `cli`: commands.
//! - `replay`, `bench`: analysis and measurement.

pub mod analytics;
pub mod api;
pub mod app;
pub mod auth;
pub mod bench;
pub mod cli;
pub mod clock;
pub mod compliance;
pub mod console;
pub mod db;
pub mod embed;
pub mod eval;
pub mod eventlog;
pub mod events;
pub mod ingest;
pub mod knowledge;
pub mod llm;
pub mod render;
pub mod replay;
pub mod room;
pub mod triage;
pub mod video;
