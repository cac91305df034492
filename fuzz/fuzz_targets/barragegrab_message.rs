#![no_main]
//! BarrageGrab bridge messages ({Type, ProcessName, Data} with Data a JSON string).
use libfuzzer_sys::fuzz_target;
use liveroom::ingest::adapters::barragegrab::{OwnerFilter, decode_message};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = decode_message(&text, &OwnerFilter::default());
    let _ = decode_message(&text, &OwnerFilter { owner_id: Some("1".into()), owner_sec_uid: None });
});
