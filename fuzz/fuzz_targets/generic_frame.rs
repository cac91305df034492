#![no_main]
//! Generic JSON feed frames through the default mapping, and their mapping onto ingest events.
use libfuzzer_sys::fuzz_target;
use liveroom::ingest::adapters::generic::FeedMapping;
use liveroom::ingest::adapters::wire;

fuzz_target!(|data: &[u8]| {
    let step = FeedMapping::default().decode_frame(&String::from_utf8_lossy(data));
    for event in &step.events {
        if let wire::Mapped::Events(events) = wire::map_event(event, "id") {
            // the node must accept whatever the mapping makes
            liveroom::ingest::parse_value(serde_json::Value::Array(events)).expect("mapped events are valid");
        }
    }
});
