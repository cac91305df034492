#![no_main]
//! Bilibili open-platform frames and LIVE_OPEN_PLATFORM_* commands.
use libfuzzer_sys::fuzz_target;
use liveroom::ingest::adapters::bilibili_open;

fuzz_target!(|data: &[u8]| {
    let _ = bilibili_open::decode_frame(data);
    let _ = bilibili_open::decode_command(data);
});
