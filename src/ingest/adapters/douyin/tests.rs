//! The Douyin decoder on frames built from the documented schema (see
//! `build`): no captured frame with a licence we may copy was found.

use prost::Message as _;

use super::build::{self, user};
use super::proto;
use super::*;

fn payload<T: prost::Message>(message: &T) -> Vec<u8> {
    message.encode_to_vec()
}

fn kinds(step: &Step) -> Vec<PlatformEventKind> {
    step.events.iter().map(|e| e.kind.clone()).collect()
}

#[test]
fn a_frame_of_many_messages_decodes_each_and_asks_for_its_ack() {
    let messages = vec![
        build::chat(101, 1, "小鱼", "能煮粥吗"),
        build::message(
            "WebcastLikeMessage",
            102,
            payload(&proto::LikeMessage { count: 15, total: 900, user: user(2, "点赞"), ..Default::default() }),
        ),
        build::message(
            "WebcastMemberMessage",
            103,
            payload(&proto::MemberMessage { user: user(3, "进来"), member_count: 88, ..Default::default() }),
        ),
        build::message(
            "WebcastSocialMessage",
            104,
            payload(&proto::SocialMessage { user: user(4, "关注"), action: 1, ..Default::default() }),
        ),
        build::message(
            "WebcastRoomUserSeqMessage",
            105,
            payload(&proto::RoomUserSeqMessage { total: 321, total_user: 45_000, ..Default::default() }),
        ),
        build::message(
            "WebcastControlMessage",
            106,
            payload(&proto::ControlMessage { status: 3, ..Default::default() }),
        ),
        build::message(
            "WebcastLiveShoppingMessage",
            107,
            payload(&proto::LiveShoppingMessage { msg_type: 3, promotion_id: 3_456, ..Default::default() }),
        ),
        build::message("WebcastRoomRankMessage", 108, vec![]),
    ];
    let step = DouyinDecoder::default().decode(&build::frame(77, messages, true, "internal-ext-77"));
    assert!(step.errors.is_empty(), "{:?}", step.errors);
    assert_eq!(
        kinds(&step),
        vec![
            PlatformEventKind::Comment { text: "能煮粥吗".into() },
            PlatformEventKind::Like { count: 15 },
            PlatformEventKind::Join,
            PlatformEventKind::Follow,
            PlatformEventKind::RoomStats { online: Some(321), total: Some(45_000) },
            PlatformEventKind::Stream { state: StreamState::Ended },
            PlatformEventKind::ProductChanged {
                product_id: Some("3456".into()),
                detail: "live shopping message type 3".into()
            },
        ]
    );
    assert_eq!(step.ignored, vec!["WebcastRoomRankMessage".to_string()]);
    assert_eq!(step.events[0].viewer.as_ref().unwrap().id, "douyin:1");
    assert_eq!(step.events[0].msg_id.as_deref(), Some("101"));
    // the ack: the frame's log id, the response's internal_ext
    let Message::Binary(ack) = &step.replies[0] else { panic!("the ack is binary") };
    let ack = proto::PushFrame::decode(ack.as_ref()).unwrap();
    assert_eq!((ack.log_id, ack.payload_type.as_str(), ack.payload.as_slice()), (77, "ack", &b"internal-ext-77"[..]));
}

#[test]
fn no_ack_is_sent_unless_asked() {
    let step = DouyinDecoder::default().decode(&build::frame(1, vec![build::chat(1, 1, "a", "hi")], false, "x"));
    assert!(step.replies.is_empty());
}

#[test]
fn a_gift_combo_counts_its_increment_once() {
    let mut decoder = DouyinDecoder::default();
    let mut counted = Vec::new();
    // running counts 1, 3, 3 (replayed after a reconnect), 6, then the end at 6
    for (id, repeat, end) in [(1, 1, false), (2, 3, false), (2, 3, false), (3, 6, false), (4, 6, true)] {
        let step =
            decoder.decode(&build::frame(id, vec![build::gift(id, 9, 463, "小心心", 1, repeat, end)], false, ""));
        for kind in kinds(&step) {
            if let PlatformEventKind::Gift { count, value_cny, .. } = kind {
                counted.push((count, (value_cny * 10.0).round() as u64));
            }
        }
    }
    assert_eq!(counted, vec![(1, 1), (2, 2), (3, 3)]);
    // a new combo of the same gift starts from zero again
    let step = decoder.decode(&build::frame(9, vec![build::gift(9, 9, 463, "小心心", 1, 2, false)], false, ""));
    assert!(matches!(kinds(&step)[0], PlatformEventKind::Gift { count: 2, .. }));
}

#[test]
fn heartbeat_and_close_frames_carry_no_events() {
    let mut decoder = DouyinDecoder::default();
    let step = decoder.decode(&heartbeat_frame());
    assert!(step.events.is_empty() && step.errors.is_empty() && step.close.is_none());
    let close = proto::PushFrame { payload_type: "close".into(), ..Default::default() }.encode_to_vec();
    assert!(decoder.decode(&close).close.is_some());
}

#[test]
fn bad_frames_and_bad_messages_are_reasons_not_panics() {
    let mut decoder = DouyinDecoder::default();
    let not_gzip = proto::PushFrame {
        payload_type: "msg".into(),
        headers: vec![proto::HeaderEntry { key: "compress_type".into(), value: "gzip".into() }],
        payload: b"\x1f\x8bnot really".to_vec(),
        ..Default::default()
    }
    .encode_to_vec();
    for bytes in [vec![0xff, 0xff, 0xff], not_gzip, b"\x0a\x05hello".to_vec()] {
        let step = decoder.decode(&bytes);
        assert!(!step.errors.is_empty(), "{bytes:?}: {step:?}");
    }
    // a broken chat does not lose the good one beside it
    let broken = build::message("WebcastChatMessage", 5, vec![0x12, 0xff, 0x01]);
    let step = decoder.decode(&build::frame(5, vec![broken, build::chat(6, 1, "a", "ok")], false, ""));
    assert_eq!((step.errors.len(), step.events.len()), (1, 1));
}

#[test]
fn the_url_gets_the_webcast_parameters_unless_it_has_them() {
    let args = DouyinArgs {
        ws_url: DEFAULT_WS_URL.into(),
        room_id: Some("7300000000000000001".into()),
        signature: Some("sig".into()),
        cookie: None,
        user_agent: "ua".into(),
        extra_query: "cursor=c1&internal_ext=x".into(),
        heartbeat_secs: 10,
    };
    let url = args.url().unwrap();
    assert!(url.contains("room_id=7300000000000000001") && url.contains("signature=sig") && url.contains("cursor=c1"));
    let given = DouyinArgs { ws_url: "ws://127.0.0.1:9/push?room_id=5".into(), room_id: None, ..args };
    assert_eq!(given.url().unwrap(), "ws://127.0.0.1:9/push?room_id=5");
}
