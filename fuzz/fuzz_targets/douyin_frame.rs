#![no_main]
//! Douyin PushFrames: protobuf, gzip, Response, every payload message.
use libfuzzer_sys::fuzz_target;
use liveroom::ingest::adapters::douyin::DouyinDecoder;

fuzz_target!(|data: &[u8]| {
    let _ = DouyinDecoder::default().decode(data);
});
