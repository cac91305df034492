#![no_main]
//! Bilibili web frames: packets, zlib/brotli nesting, commands, the INTERACT_WORD_V2 protobuf.
use libfuzzer_sys::fuzz_target;
use liveroom::ingest::adapters::bilibili::{self, commands::CommandState};

fuzz_target!(|data: &[u8]| {
    let mut state = CommandState::default();
    let _ = bilibili::decode_frame(data, &mut state);
    let _ = bilibili::commands::decode_command(data, &mut state);
});
