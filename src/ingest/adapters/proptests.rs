//! Bounded property runs of every decoder: arbitrary bytes and mutated
//! valid frames give events or reasons, never a panic; whatever the
//! mapping makes, the node's ingest accepts. (The open-ended runs are the
//! cargo-fuzz targets under `fuzz/`.)

use proptest::prelude::*;
use serde_json::Value;

use super::bilibili::{commands::CommandState, packet};
use super::wire::{Mapped, map_event};
use super::{Platform, PlatformEvent, PlatformEventKind, PlatformViewer};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 384, failure_persistence: None, ..ProptestConfig::default() }
}

/// A header of any shape in front of any body, possibly compressed.
fn bilibili_packet() -> impl Strategy<Value = Vec<u8>> {
    (0u16..5, 0u32..10, proptest::collection::vec(any::<u8>(), 0..200), any::<bool>(), any::<i8>()).prop_map(
        |(ver, op, body, compress, skew)| {
            let mut bytes = if compress && ver >= 2 {
                packet::encode_compressed(ver.min(3), &body)
            } else {
                packet::encode(op, ver, 0, &body)
            };
            // a lying packet_len
            let len = (bytes.len() as i64 + i64::from(skew)).max(0) as u32;
            bytes[..4].copy_from_slice(&len.to_be_bytes());
            bytes
        },
    )
}

fn kind() -> impl Strategy<Value = PlatformEventKind> {
    let text = ".{0,600}";
    prop_oneof![
        text.prop_map(|text| PlatformEventKind::Comment { text }),
        Just(PlatformEventKind::Join),
        any::<u64>().prop_map(|count| PlatformEventKind::Like { count }),
        (text, any::<u64>(), any::<f64>()).prop_map(|(name, count, value_cny)| PlatformEventKind::Gift {
            gift_id: "1".into(),
            name,
            count,
            value_cny,
            combo: None
        }),
        (text, any::<f64>()).prop_map(|(text, value_cny)| PlatformEventKind::SuperChat { text, value_cny }),
        (any::<u8>(), any::<u64>(), any::<f64>()).prop_map(|(level, count, value_cny)| PlatformEventKind::Guard {
            level,
            count,
            value_cny
        }),
        (".{0,200}", any::<u64>(), any::<f64>()).prop_map(|(product_id, quantity, amount_cny)| {
            PlatformEventKind::Order { product_id, quantity, amount_cny }
        }),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn bilibili_frames_never_panic(frames in proptest::collection::vec(bilibili_packet(), 1..4), noise in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut bytes: Vec<u8> = frames.concat();
        bytes.extend_from_slice(&noise);
        let _ = super::bilibili::decode_frame(&bytes, &mut CommandState::default());
        let _ = super::bilibili_open::decode_frame(&bytes);
    }

    #[test]
    fn bilibili_commands_of_any_json_never_panic(cmd in "(DANMU_MSG|SEND_GIFT|COMBO_SEND|INTERACT_WORD|INTERACT_WORD_V2|GUARD_BUY|SUPER_CHAT_MESSAGE|LIVE_OPEN_PLATFORM_DM|LIVE_OPEN_PLATFORM_SEND_GIFT|LIVE_OPEN_PLATFORM_GUARD)", data in "[\\[\\]{}\",:0-9a-z_ -]{0,120}") {
        let body = format!(r#"{{"cmd":"{cmd}","data":{data},"info":{data}}}"#);
        let _ = super::bilibili::commands::decode_command(body.as_bytes(), &mut CommandState::default());
        let _ = super::bilibili_open::decode_command(body.as_bytes());
    }

    #[test]
    fn douyin_frames_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), flip in any::<usize>()) {
        let mut decoder = super::douyin::DouyinDecoder::default();
        let _ = decoder.decode(&bytes);
        // a valid frame with one byte changed
        let mut frame = super::douyin::build::frame(1, vec![super::douyin::build::chat(1, 2, "a", "hi")], true, "x");
        let i = flip % frame.len();
        frame[i] ^= bytes.first().copied().unwrap_or(0x55) | 1;
        let _ = decoder.decode(&frame);
    }

    #[test]
    fn json_bridges_never_panic(text in ".{0,300}", kind in 0u64..15, data in "[\\[\\]{}\",:0-9A-Za-z_ -]{0,120}") {
        let filter = super::barragegrab::OwnerFilter::default();
        let _ = super::barragegrab::decode_message(&text, &filter);
        let pack = serde_json::json!({"Type": kind, "Data": data}).to_string();
        let _ = super::barragegrab::decode_message(&pack, &filter);
        let _ = super::generic::FeedMapping::default().decode_frame(&text);
        let _ = super::generic::FeedMapping::default().decode_frame(&data);
    }

    #[test]
    fn whatever_the_mapping_makes_the_node_accepts(kind in kind(), id in ".{1,300}", name in ".{0,100}", masked in any::<bool>()) {
        let event = PlatformEvent {
            platform: Platform::Bilibili,
            msg_id: None,
            viewer: Some(PlatformViewer { id: format!("bilibili:{id}"), name, name_masked: masked }),
            kind,
        };
        if let Mapped::Events(events) = map_event(&event, &id) {
            let parsed = crate::ingest::parse_value(Value::Array(events.clone()));
            prop_assert!(parsed.is_ok(), "{events:?} refused: {parsed:?}");
        }
    }
}
