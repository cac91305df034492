//! Platform adapters against local fake servers (127.0.0.1): the real
//! clients reconnect after drops, skip garbage, survive late heartbeats,
//! never pass a duplicate, ack Douyin frames only once their events are
//! buffered, sign their bootstrap and open-platform calls; and end to end,
//! `liveroom connect` into a real node logs each comment exactly once
//! across a forced reconnect.

use std::time::Duration;

use liveroom::ingest::adapters::backoff::Backoff;
use liveroom::ingest::adapters::bilibili::{self, BilibiliArgs, BilibiliWeb, packet};
use liveroom::ingest::adapters::fake::{self, Action, FakeHttp, FakeOptions, FakeServer, Flavor};
use liveroom::ingest::adapters::runner::{self, Protocol, RunnerOptions};
use liveroom::ingest::adapters::{AdapterItem, ConnectionState, PlatformEventKind};
use serde_json::{Value, json};
use tokio::sync::{mpsc, watch};
use tokio_tungstenite::tungstenite::Message;

const ZLIB_MESSAGES: &[u8] = include_bytes!("../data/fixtures/bilibili/buffer.packet");

fn fast_options(max_connections: Option<u32>, idle: Duration) -> RunnerOptions {
    RunnerOptions {
        backoff: Backoff::new(Duration::from_millis(50), Duration::from_millis(200), Duration::from_secs(60)),
        idle_timeout: idle,
        max_connections,
        ..RunnerOptions::default()
    }
}

fn bilibili_args(ws_url: Option<String>) -> BilibiliArgs {
    BilibiliArgs {
        platform_room: 23090051,
        ws_url,
        api_url: bilibili::DEFAULT_API_URL.into(),
        web_api_url: bilibili::DEFAULT_WEB_API_URL.into(),
        uid: 0,
        buvid: "buvid-test".into(),
        cookie: None,
        token: "tok".into(),
        heartbeat_secs: 1,
    }
}

/// Run `protocol`, collecting items until `done` holds (or 10 s).
async fn collect_until(
    protocol: impl Protocol,
    options: RunnerOptions,
    capacity: usize,
    done: impl Fn(&[AdapterItem]) -> bool,
) -> (Vec<AdapterItem>, watch::Sender<bool>, tokio::task::JoinHandle<runner::RunnerStats>) {
    let (tx, mut rx) = mpsc::channel(capacity);
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(runner::run(protocol, options, tx, stop_rx));
    let mut items = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !done(&items) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(item)) => items.push(item),
            Ok(None) => break,
            Err(_) => panic!("timed out; items so far: {items:#?}"),
        }
    }
    (items, stop_tx, task)
}

fn comments(items: &[AdapterItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match i {
            AdapterItem::Event(e) => match &e.kind {
                PlatformEventKind::Comment { text } => Some(text.clone()),
                PlatformEventKind::SuperChat { text, .. } => Some(text.clone()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

fn count_connected(items: &[AdapterItem]) -> usize {
    items.iter().filter(|i| matches!(i, AdapterItem::Connection(ConnectionState::Connected { .. }))).count()
}

fn losses(items: &[AdapterItem]) -> Vec<String> {
    items
        .iter()
        .filter_map(|i| match i {
            AdapterItem::Connection(ConnectionState::Lost { reason, .. }) => Some(reason.clone()),
            _ => None,
        })
        .collect()
}

fn auth_body(message: &Message) -> Value {
    let Message::Binary(bytes) = message else { panic!("the auth packet is binary") };
    assert_eq!(u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]), packet::op::AUTH);
    serde_json::from_slice(&bytes[packet::HEADER_LEN..]).expect("the auth body is JSON")
}

#[tokio::test]
async fn the_bilibili_client_reconnects_after_a_drop_skips_garbage_and_passes_each_danmaku_once() {
    let (a, b, c) = (
        fake::danmaku(1, "小鱼", "能煮粥吗", "id-a"),
        fake::danmaku(2, "阿杰", "保修多久", "id-b"),
        fake::danmaku(3, "小红", "多少钱", "id-c"),
    );
    let scripts = vec![
        vec![
            fake::bilibili_auth_ok(),
            Action::Send(Message::binary(ZLIB_MESSAGES.to_vec())),
            Action::Send(fake::bilibili_messages(&[a, b.clone()])),
            Action::Garbage,
            Action::Pause(Duration::from_millis(150)),
            Action::Drop,
        ],
        // after the reconnect the server repeats b
        vec![fake::bilibili_auth_ok(), Action::Send(fake::bilibili_messages(&[b, c]))],
    ];
    let options = FakeOptions { heartbeat_delay: Duration::from_millis(300), ..FakeOptions::new(Flavor::Bilibili) };
    let server = FakeServer::start(scripts, options, false).await.unwrap();
    let client = BilibiliWeb::new(bilibili_args(Some(server.url.clone())));
    let (mut items, stop, task) = collect_until(client, fast_options(None, Duration::from_secs(3)), 64, |items| {
        comments(items).len() >= 3 && count_connected(items) >= 2
    })
    .await;
    // stay on the second connection through a few late heartbeat answers
    tokio::time::sleep(Duration::from_millis(2500)).await;
    stop.send(true).unwrap();
    let stats = task.await.unwrap();
    assert_eq!(comments(&items), vec!["能煮粥吗", "保修多久", "多少钱"]);
    let joins =
        items.iter().filter(|i| matches!(i, AdapterItem::Event(e) if e.kind == PlatformEventKind::Join)).count();
    assert_eq!(joins, 2, "the two viewers of the captured frame");
    items.retain(|i| matches!(i, AdapterItem::Connection(_)));
    assert_eq!(losses(&items).len(), 1, "{items:?}");
    assert_eq!((stats.connections, stats.duplicates, stats.bad_frames), (2, 1, 1));
    let received = server.received();
    let first = received.iter().find(|(n, _)| *n == 1).unwrap();
    let auth = auth_body(&first.1);
    assert_eq!(
        (auth["roomid"].as_u64(), auth["key"].as_str(), auth["protover"].as_u64()),
        (Some(23090051), Some("tok"), Some(3))
    );
    assert_eq!(auth["buvid"], "buvid-test");
    let heartbeats = received
        .iter()
        .filter(|(n, m)| {
            *n == 2 && matches!(m, Message::Binary(b) if b.len() >= 12 && b[11] == packet::op::HEARTBEAT as u8)
        })
        .count();
    assert!(heartbeats >= 2, "heartbeats every second on the second connection, got {heartbeats}");
}

#[tokio::test]
async fn heartbeats_answered_too_late_count_as_a_dead_connection_and_it_reconnects() {
    let scripts = vec![vec![fake::bilibili_auth_ok()]];
    let options = FakeOptions { heartbeat_delay: Duration::from_secs(3), ..FakeOptions::new(Flavor::Bilibili) };
    let server = FakeServer::start(scripts, options, true).await.unwrap();
    let client = BilibiliWeb::new(bilibili_args(Some(server.url.clone())));
    let (items, stop, _task) =
        collect_until(client, fast_options(None, Duration::from_millis(1500)), 64, |items| count_connected(items) >= 2)
            .await;
    stop.send(true).unwrap();
    let lost = losses(&items);
    assert!(lost[0].starts_with("no frame for"), "{lost:?}");
    assert!(server.connection_count() >= 2);
}

#[tokio::test]
async fn a_refused_auth_reconnects_with_its_reason() {
    let refused = Action::Send(Message::binary(packet::encode(packet::op::AUTH_REPLY, 0, 1, br#"{"code":-101}"#)));
    let server = FakeServer::start(vec![vec![refused]], FakeOptions::new(Flavor::Bilibili), true).await.unwrap();
    let client = BilibiliWeb::new(bilibili_args(Some(server.url.clone())));
    let (items, stop, _task) =
        collect_until(client, fast_options(None, Duration::from_secs(5)), 64, |items| losses(items).len() >= 2).await;
    stop.send(true).unwrap();
    assert_eq!(losses(&items)[0], "auth refused: token error (-101)");
    assert_eq!(count_connected(&items), 0);
}

#[tokio::test]
async fn the_bilibili_bootstrap_resolves_the_room_and_signs_get_danmu_info() {
    let server = FakeServer::start(
        vec![vec![
            fake::bilibili_auth_ok(),
            Action::Send(fake::bilibili_messages(&[fake::danmaku(1, "a", "你好", "x1")])),
        ]],
        FakeOptions::new(Flavor::Bilibili),
        false,
    )
    .await
    .unwrap();
    let ws_port = server.url.trim_start_matches("ws://127.0.0.1:").trim_end_matches("/sub").to_string();
    let http = FakeHttp::start(move |request| {
        let path = request.target.split('?').next().unwrap_or("");
        match path {
            "/room/v1/Room/get_info" => (200, json!({"code": 0, "data": {"room_id": 23090051, "uid": 5}})),
            "/x/web-interface/nav" => (
                200,
                json!({"code": -101, "data": {"wbi_img": {
                "img_url": "https://i0.hdslb.com/bfs/wbi/7cd084941338484aae1ad9425b84077c.png",
                "sub_url": "https://i0.hdslb.com/bfs/wbi/4932caff0ff746eab6f01bf08b70ac45.png"}}}),
            ),
            "/xlive/web-room/v1/index/getDanmuInfo" => (
                200,
                json!({"code": 0, "data": {"token": "tok-boot", "host_list": [
                {"host": "127.0.0.1", "port": 2243, "wss_port": 443, "ws_port": ws_port.parse::<u64>().unwrap()}]}}),
            ),
            _ => (404, json!({"code": -404})),
        }
    })
    .await
    .unwrap();
    let mut args = bilibili_args(None);
    args.platform_room = 510;
    args.api_url = http.url.clone();
    args.web_api_url = http.url.clone();
    let (items, stop, _task) =
        collect_until(BilibiliWeb::new(args), fast_options(Some(1), Duration::from_secs(5)), 64, |items| {
            !comments(items).is_empty()
        })
        .await;
    stop.send(true).unwrap();
    assert_eq!(comments(&items), vec!["你好"]);
    let requests = http.requests();
    assert!(requests[0].target.ends_with("get_info?room_id=510"), "{:?}", requests[0].target);
    let danmu = requests.iter().find(|r| r.target.contains("getDanmuInfo")).unwrap();
    let query = danmu.target.split_once('?').unwrap().1;
    let wts: u64 = query.split('&').find_map(|p| p.strip_prefix("wts=")).unwrap().parse().unwrap();
    let mixin = bilibili::wbi::mixin_key("7cd084941338484aae1ad9425b84077c", "4932caff0ff746eab6f01bf08b70ac45");
    let expected = bilibili::wbi::sign(
        &[("id", "23090051".into()), ("type", "0".into()), ("web_location", "444.8".into())],
        &mixin,
        wts,
    );
    assert_eq!(query, expected);
    let auth = auth_body(&server.received()[0].1);
    assert_eq!((auth["roomid"].as_u64(), auth["key"].as_str()), (Some(23090051), Some("tok-boot")));
}

#[tokio::test]
async fn the_open_platform_signs_start_heartbeat_and_end_and_reads_its_commands() {
    use liveroom::ingest::adapters::bilibili_open::{self, BilibiliOpen, BilibiliOpenArgs};
    let server = FakeServer::start(
        vec![vec![
            fake::bilibili_auth_ok(),
            Action::Send(fake::bilibili_messages(&[json!({"cmd": "LIVE_OPEN_PLATFORM_SUPER_CHAT", "data": {
                "open_id": "o-1", "uname": "sc", "message": "能煮粥吗", "rmb": 30, "msg_id": "m-1"}})])),
        ]],
        FakeOptions::new(Flavor::Bilibili),
        false,
    )
    .await
    .unwrap();
    let ws_url = server.url.clone();
    let http = FakeHttp::start(move |request| {
        // the fake checks the signature as the open platform does
        let signature = bilibili_open::signature("secret", &request.headers);
        if request.header("authorization") != Some(signature.as_str()) {
            return (200, json!({"code": -403, "message": "bad signature"}));
        }
        match request.target.as_str() {
            "/v2/app/start" => (
                200,
                json!({"code": 0, "data": {"game_info": {"game_id": "g-1"},
                "websocket_info": {"auth_body": "AUTH-BODY", "wss_link": [ws_url]},
                "anchor_info": {"room_id": 1, "uid": 2}}}),
            ),
            "/v2/app/heartbeat" | "/v2/app/end" => (200, json!({"code": 0, "data": {}})),
            _ => (404, json!({"code": -404})),
        }
    })
    .await
    .unwrap();
    let args = BilibiliOpenArgs {
        access_key_id: "key".into(),
        access_key_secret: "secret".into(),
        app_id: 77,
        auth_code: "CODE".into(),
        api_url: http.url.clone(),
        ws_url: None,
        app_heartbeat_secs: 1,
        heartbeat_secs: 30,
    };
    let (items, stop, task) =
        collect_until(BilibiliOpen::new(args), fast_options(None, Duration::from_secs(5)), 64, |items| {
            !comments(items).is_empty()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1300)).await;
    stop.send(true).unwrap();
    task.await.unwrap();
    let event = items.iter().find_map(|i| match i {
        AdapterItem::Event(e) => Some(e.clone()),
        _ => None,
    });
    let event = event.unwrap();
    assert_eq!(event.kind, PlatformEventKind::SuperChat { text: "能煮粥吗".into(), value_cny: 30.0 });
    assert_eq!(event.viewer.unwrap().id, "bilibili_open:o-1");
    let paths: Vec<String> = http.requests().iter().map(|r| r.target.clone()).collect();
    assert_eq!(paths.first().map(String::as_str), Some("/v2/app/start"));
    assert!(paths.iter().any(|p| p == "/v2/app/heartbeat"), "{paths:?}");
    assert_eq!(paths.last().map(String::as_str), Some("/v2/app/end"));
    let start: Value = serde_json::from_slice(&http.requests()[0].body).unwrap();
    assert_eq!(start, json!({"code": "CODE", "app_id": 77}));
    let Message::Binary(auth) = &server.received()[0].1 else { panic!("binary auth") };
    assert_eq!(&auth[packet::HEADER_LEN..], b"AUTH-BODY");
}

#[tokio::test]
async fn douyin_frames_are_acked_only_once_their_events_are_buffered_and_replays_are_dropped() {
    use liveroom::ingest::adapters::douyin::{Douyin, DouyinArgs, build, proto};
    let frame = |i: u64| {
        Action::Send(Message::binary(build::frame(
            i,
            vec![build::chat(1000 + i, i, "观众", &format!("第{i}条"))],
            true,
            &format!("ext-{i}"),
        )))
    };
    let mut first: Vec<Action> = (1..=30).map(frame).collect();
    first.push(Action::Pause(Duration::from_millis(2000)));
    first.push(Action::Drop);
    let mut second: Vec<Action> = (25..=31).map(frame).collect();
    second.push(Action::Garbage);
    let server = FakeServer::start(vec![first, second], FakeOptions::new(Flavor::Douyin), false).await.unwrap();
    let args = DouyinArgs {
        ws_url: format!("{}?room_id=7300000000000000001", server.url),
        room_id: None,
        signature: None,
        cookie: Some("ttwid=t".into()),
        user_agent: "ua".into(),
        extra_query: String::new(),
        heartbeat_secs: 1,
    };
    let (tx, mut rx) = mpsc::channel(1);
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(runner::run(Douyin::new(args), fast_options(None, Duration::from_secs(5)), tx, stop_rx));
    // nobody reads the channel: the client must stop reading, and acking
    tokio::time::sleep(Duration::from_millis(700)).await;
    let acks = |server: &FakeServer, connection: u32| -> Vec<u64> {
        server
            .received()
            .iter()
            .filter(|(n, _)| *n == connection)
            .filter_map(|(_, m)| match m {
                Message::Binary(b) => <proto::PushFrame as prost::Message>::decode(b.as_ref()).ok(),
                _ => None,
            })
            .filter(|f| f.payload_type == "ack")
            .map(|f| {
                assert_eq!(f.payload, format!("ext-{}", f.log_id).into_bytes());
                f.log_id
            })
            .collect()
    };
    let early = acks(&server, 1);
    assert!(early.len() <= 2, "acked {early:?} with a full buffer");
    let mut texts = Vec::new();
    while texts.len() < 31 {
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.expect("events keep coming") {
            Some(AdapterItem::Event(e)) => {
                if let PlatformEventKind::Comment { text } = e.kind {
                    texts.push(text);
                }
            }
            Some(_) => {}
            None => panic!("the runner stopped"),
        }
    }
    stop_tx.send(true).unwrap();
    let stats = task.await.unwrap();
    assert_eq!(texts, (1..=31).map(|i| format!("第{i}条")).collect::<Vec<_>>());
    assert_eq!(acks(&server, 1), (1..=30).collect::<Vec<_>>());
    assert_eq!(stats.duplicates, 6);
    assert_eq!(stats.bad_frames, 1);
    let heartbeats =
        server.received().iter().filter(|(n, m)| *n == 1 && matches!(m, Message::Binary(b) if b.len() < 8)).count();
    assert!(heartbeats >= 1, "heartbeat frames kept going while the buffer was full");
}

#[tokio::test]
async fn barragegrab_and_a_generic_feed_pass_their_events_and_skip_garbage() {
    use liveroom::ingest::adapters::barragegrab::{BarrageGrab, BarrageGrabArgs};
    use liveroom::ingest::adapters::generic::{GenericArgs, GenericFeed};
    let owner = json!({"UserId": "42", "SecUid": "sec"});
    let pack = |kind: u64, data: Value| {
        Action::Send(Message::text(
            json!({"Type": kind, "ProcessName": "直播伴侣", "Data": data.to_string()}).to_string(),
        ))
    };
    let server = FakeServer::start(
        vec![vec![
            pack(1, json!({"MsgId": 1, "User": {"Id": 7, "Nickname": "a"}, "Content": "能煮粥吗", "Owner": owner})),
            Action::Send(Message::text("{oops")),
            pack(1, json!({"MsgId": 2, "User": {"Id": 8, "Nickname": "b"}, "Content": "别的直播间", "Owner": {"UserId": "9"}})),
            pack(5, json!({"MsgId": 3, "User": {"Id": 7, "Nickname": "a"}, "GiftName": "小心心", "GiftCount": 3, "DiamondCount": 1, "Owner": owner})),
            pack(1, json!({"MsgId": 4, "User": {"Id": 7, "Nickname": "a"}, "Content": "多少钱", "Owner": owner})),
        ]],
        FakeOptions::new(Flavor::Json),
        false,
    )
    .await
    .unwrap();
    let args = BarrageGrabArgs { ws_url: server.url.clone(), owner_id: Some("42".into()), owner_sec_uid: None };
    let (items, stop, _task) =
        collect_until(BarrageGrab::new(args), fast_options(Some(1), Duration::from_secs(5)), 64, |items| {
            comments(items).len() >= 2
        })
        .await;
    stop.send(true).unwrap();
    assert_eq!(comments(&items), vec!["能煮粥吗", "多少钱"]);
    assert!(
        items
            .iter()
            .any(|i| matches!(i, AdapterItem::Event(e) if matches!(e.kind, PlatformEventKind::Gift { count: 3, .. })))
    );

    let feed = FakeServer::start(
        vec![vec![
            Action::Send(Message::text(
                json!([{"type": "comment", "viewer_id": "u1", "text": "hi", "platform_msg_id": "1"}]).to_string(),
            )),
            Action::Garbage,
            Action::Send(Message::text(
                json!({"type": "comment", "viewer_id": "u1", "text": "hi", "platform_msg_id": "1"}).to_string(),
            )),
            Action::Send(Message::text(json!({"type": "comment", "viewer_id": "u2", "text": "there"}).to_string())),
        ]],
        FakeOptions::new(Flavor::Json),
        false,
    )
    .await
    .unwrap();
    let args = GenericArgs {
        ws_url: feed.url.clone(),
        mapping: None,
        feed_platform: Some("kuaishou".into()),
        hello: Some("subscribe".into()),
    };
    let (items, stop, _task) =
        collect_until(GenericFeed::new(args).unwrap(), fast_options(Some(1), Duration::from_secs(5)), 64, |items| {
            comments(items).len() >= 2
        })
        .await;
    stop.send(true).unwrap();
    assert_eq!(comments(&items), vec!["hi", "there"]);
    // the fake records what it reads on its own task: give it a moment
    for _ in 0..100 {
        if !feed.received().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(matches!(&feed.received()[0].1, Message::Text(t) if t.as_str() == "subscribe"));
}

#[actix_web::test]
async fn connect_feeds_a_real_node_and_each_comment_is_logged_once_across_a_forced_reconnect() {
    let app = crate::helpers::spawn_app().await;
    let session = app.open_room("adapter-e2e").await;
    let (a, b, c) = (
        fake::danmaku(1, "小鱼", "能煮粥吗", "e2e-a"),
        fake::danmaku(2, "阿杰", "保修多久", "e2e-b"),
        fake::danmaku(3, "小红", "有什么颜色", "e2e-c"),
    );
    let scripts = vec![
        vec![
            fake::bilibili_auth_ok(),
            Action::Send(fake::bilibili_messages(&[a, b.clone()])),
            Action::Send(Message::binary(ZLIB_MESSAGES.to_vec())),
            Action::Pause(Duration::from_millis(300)),
            Action::Drop,
        ],
        vec![
            fake::bilibili_auth_ok(),
            Action::Send(fake::bilibili_messages(&[b, c, json!({"cmd": "WATCHED_CHANGE", "data": {"num": 12}})])),
            Action::Pause(Duration::from_millis(500)),
            Action::Close,
        ],
    ];
    let server = FakeServer::start(scripts, FakeOptions::new(Flavor::Bilibili), false).await.unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_liveroom"))
        .args(["connect", "bilibili", "--room", "adapter-e2e", "--node", &app.base, "--key", "k-test"])
        .args([
            "--platform-room",
            "23090051",
            "--ws-url",
            &server.url,
            "--max-connections",
            "2",
            "--max-backoff-ms",
            "200",
        ])
        .env("LIVEROOM_LOG", "warn")
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output).await.expect("connect exits").expect("runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(summary["runner"]["connections"], 2);
    assert_eq!(summary["runner"]["duplicates"], 1);
    assert_eq!(summary["feeder"]["unmapped"]["room_stats"], 1);
    assert_eq!(summary["feeder"]["lost"], 2);
    let events = app.wait_for(session, |events| crate::helpers::count(events, "viewer_commented") >= 3, false).await;
    let texts: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.event {
            liveroom::events::Event::ViewerCommented { text, viewer } => {
                assert!(viewer.id.starts_with("bilibili:"));
                Some(text.clone())
            }
            _ => None,
        })
        .collect();
    assert_eq!(texts, vec!["能煮粥吗", "保修多久", "有什么颜色"]);
    assert_eq!(crate::helpers::count(&events, "viewer_joined"), 2);
    app.stop().await;
}
