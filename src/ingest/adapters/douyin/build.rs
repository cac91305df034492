//! Douyin frames built from the documented schema (FIELD §4.2), the way the
//! push server sends them: for the fake server, the bench and the tests.
//! No captured Douyin frame under a licence we can copy was found, so these
//! are built, not recorded.

use std::io::Write;

use prost::Message as _;

use super::proto;

pub fn user(id: u64, nick_name: &str) -> Option<proto::User> {
    Some(proto::User { id, nick_name: nick_name.into(), ..Default::default() })
}

fn common(method: &str, msg_id: u64) -> Option<proto::Common> {
    Some(proto::Common {
        method: method.into(),
        msg_id,
        room_id: 7_300_000_000_000_000_001,
        create_time: 1_700_000_000,
    })
}

pub fn message(method: &str, msg_id: u64, payload: Vec<u8>) -> proto::Message {
    proto::Message { method: method.into(), payload, msg_id: msg_id as i64, msg_type: 0, offset: 0 }
}

pub fn chat(msg_id: u64, user_id: u64, nick_name: &str, text: &str) -> proto::Message {
    let chat = proto::ChatMessage {
        common: common("WebcastChatMessage", msg_id),
        user: user(user_id, nick_name),
        content: text.into(),
        event_time: 1_700_000_000,
    };
    message("WebcastChatMessage", msg_id, chat.encode_to_vec())
}

/// A gift message: `repeat_count` is the combo's running count.
pub fn gift(
    msg_id: u64,
    user_id: u64,
    gift_id: u64,
    name: &str,
    diamonds: u32,
    repeat_count: u64,
    end: bool,
) -> proto::Message {
    let gift = proto::GiftMessage {
        common: common("WebcastGiftMessage", msg_id),
        gift_id,
        group_count: 1,
        repeat_count,
        combo_count: repeat_count,
        user: user(user_id, "送礼的人"),
        repeat_end: u32::from(end),
        group_id: 1_700_000_000_000 + user_id,
        gift: Some(proto::GiftStruct { id: gift_id, diamond_count: diamonds, name: name.into() }),
        ..Default::default()
    };
    message("WebcastGiftMessage", msg_id, gift.encode_to_vec())
}

/// A `PushFrame` of a gzip `Response` holding `messages`.
pub fn frame(log_id: u64, messages: Vec<proto::Message>, need_ack: bool, internal_ext: &str) -> Vec<u8> {
    let response = proto::Response {
        messages,
        cursor: format!("t-{log_id}"),
        internal_ext: internal_ext.into(),
        heartbeat_duration: 15_000,
        need_ack,
        ..Default::default()
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // unwrap: writing to a Vec cannot fail
    gz.write_all(&response.encode_to_vec()).unwrap();
    let payload = gz.finish().unwrap();
    proto::PushFrame {
        seq_id: log_id,
        log_id,
        service: 88,
        method: 8,
        headers: vec![proto::HeaderEntry { key: "compress_type".into(), value: "gzip".into() }],
        payload_encoding: "pb".into(),
        payload_type: "msg".into(),
        payload,
    }
    .encode_to_vec()
}
