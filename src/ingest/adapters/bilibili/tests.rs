//! The decoder on the three real frames of tests/data/fixtures/bilibili
//! (bililive-rs captures, MIT), and on business messages built from the
//! documented layouts (FIELD §4.1, blivedm) where no capture exists.

use serde_json::json;

use super::commands::CommandState;
use super::packet::{self, Packet, op, protover};
use super::*;
use crate::ingest::adapters::{PlatformEvent, PlatformEventKind, StreamState};

const AUTH_REPLY: &[u8] = include_bytes!("../../../../tests/data/fixtures/bilibili/json.packet");
const HEARTBEAT_REPLY: &[u8] = include_bytes!("../../../../tests/data/fixtures/bilibili/int32be.packet");
const ZLIB_MESSAGES: &[u8] = include_bytes!("../../../../tests/data/fixtures/bilibili/buffer.packet");

fn message(body: serde_json::Value) -> Vec<u8> {
    packet::encode(op::SEND_MSG_REPLY, protover::JSON, 0, body.to_string().as_bytes())
}

fn events(frame: &[u8], state: &mut CommandState) -> Vec<PlatformEvent> {
    let step = decode_frame(frame, state);
    assert!(step.errors.is_empty(), "{:?}", step.errors);
    step.events
}

#[test]
fn the_captured_auth_reply_authenticates() {
    let step = decode_frame(AUTH_REPLY, &mut CommandState::default());
    assert!(step.authenticated && step.close.is_none() && step.errors.is_empty());
}

#[test]
fn the_captured_heartbeat_reply_reads_its_popularity_and_ignores_the_echo() {
    assert_eq!(packet::decode_frame(HEARTBEAT_REPLY).packets, vec![Packet::HeartbeatReply { popularity: 358069 }]);
    // the server echoes the client's heartbeat body after the popularity, outside packet_len
    let mut with_echo = HEARTBEAT_REPLY.to_vec();
    with_echo.extend_from_slice(b"[object Object]");
    let frame = packet::decode_frame(&with_echo);
    assert_eq!(frame.packets, vec![Packet::HeartbeatReply { popularity: 358069 }]);
    assert!(frame.errors.is_empty());
}

#[test]
fn the_captured_zlib_frame_holds_two_viewers_entering() {
    let events = events(ZLIB_MESSAGES, &mut CommandState::default());
    let joined: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            assert_eq!(e.kind, PlatformEventKind::Join);
            let viewer = e.viewer.as_ref().unwrap();
            assert!(!viewer.name_masked);
            (viewer.id.as_str(), viewer.name.as_str())
        })
        .collect();
    assert_eq!(joined, vec![("bilibili:174102117", "vioIet・伊芙加登"), ("bilibili:321964609", "消失的私家车")]);
    assert_eq!(events[0].msg_id.as_deref(), Some("iw:174102117:1:1626324623404263200"));
}

#[test]
fn the_same_packets_decode_alike_under_brotli_and_nested_compression() {
    let zlib = packet::decode_frame(ZLIB_MESSAGES);
    let inner: Vec<u8> = zlib
        .packets
        .iter()
        .flat_map(|p| match p {
            Packet::Message { body } => packet::encode(op::SEND_MSG_REPLY, protover::JSON, 0, body),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    let brotli = packet::encode_compressed(protover::BROTLI, &inner);
    assert_eq!(packet::decode_frame(&brotli).packets, zlib.packets);
    // zlib around brotli around the messages
    let nested = packet::encode_compressed(protover::ZLIB, &brotli);
    assert_eq!(packet::decode_frame(&nested).packets, zlib.packets);
}

#[test]
fn several_packets_in_one_frame_are_all_decoded() {
    let mut frame = AUTH_REPLY.to_vec();
    frame.extend_from_slice(ZLIB_MESSAGES);
    frame.extend_from_slice(&message(json!({"cmd": "LIVE"})));
    let step = decode_frame(&frame, &mut CommandState::default());
    assert!(step.authenticated);
    assert_eq!(step.events.len(), 3);
    assert_eq!(step.events[2].kind, PlatformEventKind::Stream { state: StreamState::Live });
}

#[test]
fn a_danmaku_with_a_command_suffix_is_a_comment() {
    // the DANMU_MSG layout: info[0] meta (ts ms at 4, mode_info at 15), info[1] text, info[2] user
    let body = json!({"cmd": "DANMU_MSG:4:0:2:2:2:0", "info": [
        [0, 1, 25, 16777215, 1_700_000_000_123u64, 0, 0, "abc", 0, 0, 0, "", 0, "{}", "{}",
         {"extra": "{\"id_str\":\"f00d\",\"content\":\"能煮粥吗\"}", "mode": 0}],
        "能煮粥吗", [42, "小鱼", 0, 0, 0, 10000, 1, ""], [], [12, 0, 0, ">50000", 0], ["", ""], 0, 0, null,
        {"ts": 1_700_000_000, "ct": "AB12"}, 0, 0, null, null, 0, 7]});
    let events = events(&message(body), &mut CommandState::default());
    assert_eq!(events[0].kind, PlatformEventKind::Comment { text: "能煮粥吗".into() });
    assert_eq!(events[0].viewer.as_ref().unwrap().id, "bilibili:42");
    assert_eq!(events[0].msg_id.as_deref(), Some("f00d"));
}

#[test]
fn a_gift_combo_counts_each_gift_once() {
    let mut state = CommandState::default();
    let send = |num: u64, total: u64, tid: &str| {
        message(json!({"cmd": "SEND_GIFT", "data": {"uid": 7, "uname": "阿杰", "giftId": 31036, "giftName": "小花花",
            "num": num, "price": 100, "coin_type": "gold", "batch_combo_id": "batch:1", "super_gift_num": total, "tid": tid}}))
    };
    let mut counted = 0;
    let mut value = 0.0;
    for (num, total, tid) in [(1, 1, "t1"), (1, 2, "t2"), (3, 5, "t3")] {
        for e in events(&send(num, total, tid), &mut state) {
            if let PlatformEventKind::Gift { count, value_cny, .. } = e.kind {
                counted += count;
                value += value_cny;
            }
        }
    }
    // the combo's summary repeats the total: nothing more to count
    let combo = message(json!({"cmd": "COMBO_SEND", "data": {"uid": 7, "uname": "阿杰", "gift_id": 31036,
        "gift_name": "小花花", "batch_combo_id": "batch:1", "total_num": 5, "combo_total_coin": 500}}));
    assert!(events(&combo, &mut state).is_empty());
    assert_eq!((counted, value), (5, 0.5));
    // a silver gift is free
    let silver = message(json!({"cmd": "SEND_GIFT", "data": {"uid": 8, "uname": "b", "giftId": 1, "giftName": "辣条",
        "num": 10, "price": 100, "coin_type": "silver", "tid": "t9"}}));
    assert!(matches!(events(&silver, &mut state)[0].kind, PlatformEventKind::Gift { count: 10, value_cny: 0.0, .. }));
}

#[test]
fn interact_word_v2_decodes_its_protobuf() {
    for (msg_type, expected) in
        [(1, PlatformEventKind::Join), (2, PlatformEventKind::Follow), (3, PlatformEventKind::Share)]
    {
        let pb = pb::encode_interact_word(&pb::InteractWord {
            uid: 99,
            uname: "观众".into(),
            msg_type,
            timestamp: 1_700_000_000,
        });
        let events =
            events(&message(json!({"cmd": "INTERACT_WORD_V2", "data": {"pb": pb}})), &mut CommandState::default());
        assert_eq!(events[0].kind, expected);
        assert_eq!(events[0].viewer.as_ref().unwrap().id, "bilibili:99");
    }
    let bad = message(json!({"cmd": "INTERACT_WORD_V2", "data": {"pb": "!!not base64!!"}}));
    let step = decode_frame(&bad, &mut CommandState::default());
    assert_eq!(step.errors.len(), 1, "{step:?}");
}

#[test]
fn guards_super_chats_likes_and_room_state_are_decoded() {
    let mut state = CommandState::default();
    let frame: Vec<u8> = [
        json!({"cmd": "GUARD_BUY", "data": {"uid": 5, "username": "舰长大人", "guard_level": 3, "num": 1, "price": 198000, "start_time": 1}}),
        json!({"cmd": "SUPER_CHAT_MESSAGE", "data": {"id": 321, "uid": 6, "price": 30, "message": "这个能煮粥吗", "user_info": {"uname": "sc"}}}),
        json!({"cmd": "LIKE_INFO_V3_CLICK", "data": {"uid": 7, "uname": "赞"}}),
        json!({"cmd": "WATCHED_CHANGE", "data": {"num": 1234, "text_small": "1234"}}),
        json!({"cmd": "PREPARING", "roomid": "1"}),
        json!({"cmd": "STOP_LIVE_ROOM_LIST", "data": {}}),
    ]
    .into_iter()
    .flat_map(message)
    .collect();
    let step = decode_frame(&packet::encode_compressed(protover::BROTLI, &frame), &mut state);
    assert!(step.errors.is_empty());
    let kinds: Vec<PlatformEventKind> = step.events.into_iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            PlatformEventKind::Guard { level: 3, count: 1, value_cny: 198.0 },
            PlatformEventKind::SuperChat { text: "这个能煮粥吗".into(), value_cny: 30.0 },
            PlatformEventKind::Like { count: 1 },
            PlatformEventKind::RoomStats { online: None, total: Some(1234) },
            PlatformEventKind::Stream { state: StreamState::Preparing },
        ]
    );
    assert_eq!(step.ignored, vec!["STOP_LIVE_ROOM_LIST".to_string()]);
}

#[test]
fn after_log_in_notice_names_are_marked_masked() {
    let mut state = CommandState::default();
    let entered = |uid: u64, name: &str| {
        message(
            json!({"cmd": "INTERACT_WORD", "data": {"uid": uid, "uname": name, "msg_type": 1, "trigger_time": uid}}),
        )
    };
    assert!(!events(&entered(1, "小鱼"), &mut state)[0].viewer.as_ref().unwrap().name_masked);
    events(
        &message(json!({"cmd": "LOG_IN_NOTICE", "data": {"notice_msg": "为保护用户隐私，未登录无法查看他人昵称"}})),
        &mut state,
    );
    let masked = events(&entered(0, "提***"), &mut state);
    let viewer = masked[0].viewer.as_ref().unwrap();
    assert!(viewer.name_masked);
    assert_eq!(viewer.id, "bilibili:masked:提***");
}

#[test]
fn bad_frames_are_reasons_not_panics() {
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0; 5],
        ZLIB_MESSAGES[..100].to_vec(),
        packet::encode(op::SEND_MSG_REPLY, protover::ZLIB, 0, b"not zlib at all"),
        packet::encode(op::SEND_MSG_REPLY, protover::BROTLI, 0, b"\xff\xff\xff\xff"),
        packet::encode(op::SEND_MSG_REPLY, protover::JSON, 0, b"{not json"),
        packet::encode(op::SEND_MSG_REPLY, protover::JSON, 0, br#"{"cmd":"DANMU_MSG"}"#),
        packet::encode(op::HEARTBEAT_REPLY, protover::JSON, 0, b""),
        [0u8, 0, 0, 16, 0, 4, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0].to_vec(),
    ];
    for frame in cases {
        let step = decode_frame(&frame, &mut CommandState::default());
        assert!(!step.errors.is_empty() || frame.is_empty(), "{frame:?} gave {step:?}");
        assert!(step.events.is_empty());
    }
    // a bad packet does not lose its good sibling
    let mut frame = packet::encode(op::SEND_MSG_REPLY, protover::JSON, 0, b"{not json");
    frame.extend_from_slice(&message(json!({"cmd": "LIVE"})));
    let step = decode_frame(&frame, &mut CommandState::default());
    assert_eq!((step.errors.len(), step.events.len()), (1, 1));
}

#[test]
fn an_auth_refusal_closes_the_connection_with_its_reason() {
    let refused = packet::encode(op::AUTH_REPLY, protover::JSON, 1, br#"{"code":-101}"#);
    let step = decode_frame(&refused, &mut CommandState::default());
    assert_eq!(step.close.as_deref(), Some("auth refused: token error (-101)"));
}
