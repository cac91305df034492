//! Integration tests: real Postgres, real HTTP and websockets, the real
//! binary for crash and replay tests. Test names are sentences.

mod adapters;
mod analytics;
mod console;
mod demo;
mod flood;
mod flow;
mod helpers;
mod ingest;
mod knowledge;
mod llm;
mod replay;
mod restart;
mod retrieval;
mod takeover;
mod triage;
mod video;
mod writer_faults;
