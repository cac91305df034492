//! The real binary, killed and restarted.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use liveroom::events::Event;
use serde_json::json;

use crate::helpers::*;

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        // a failed assertion must not leave a server running
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post_json(http: &reqwest::Client, url: String, body: serde_json::Value) -> serde_json::Value {
    http.post(url).json(&body).send().await.unwrap().json().await.unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn start_server(db_url: &str, port: u16) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_liveroom"))
        .args(["serve", "--port", &port.to_string()])
        .env("DATABASE_URL", db_url)
        .env("LIVEROOM_LOG", "warn")
        .env("LIVEROOM_RENDER_SPEED", "20")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start liveroom serve");
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            return Server { child, base };
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("liveroom serve did not come up");
}

#[actix_web::test]
async fn a_killed_server_loses_no_acknowledged_event_and_resumes_the_room() {
    let db_url = fresh_database().await;
    let pool = liveroom::db::connect(&db_url, 4).await.unwrap();
    liveroom::db::migrate(&pool).await.unwrap();
    liveroom::knowledge::import_catalog(&pool, &test_catalog(), "test").await.unwrap();
    let port = free_port();
    let mut server = start_server(&db_url, port).await;
    let http = reqwest::Client::new();
    let opened =
        post_json(&http, format!("{}/api/rooms", server.base), json!({"room_id": "crash", "brand_id": "testbrand"}))
            .await;
    let session: uuid::Uuid = opened["session_id"].as_str().unwrap().parse().unwrap();

    // waves of concurrent batches; the server is killed (SIGKILL) in the middle of the last
    let mut acknowledged: Vec<(i64, String)> = Vec::new();
    for wave in 0..4 {
        let requests = (0..8).map(|b| {
            let http = http.clone();
            let url = format!("{}/api/rooms/crash/events", server.base);
            let batch: Vec<_> = (0..25)
                .map(|i| json!({"type": "comment", "viewer_id": format!("v{i}"), "text": "能煮粥吗", "platform": "t", "platform_msg_id": format!("{wave}-{b}-{i}")}))
                .collect();
            async move {
                let resp = http.post(url).json(&batch).send().await.ok()?;
                if resp.status() != 200 {
                    return None;
                }
                let body: serde_json::Value = resp.json().await.ok()?;
                let seqs: Vec<i64> = body["seqs"].as_array()?.iter().filter_map(|s| s.as_i64()).collect();
                Some(seqs.into_iter().zip((0..25).map(move |i| format!("t:{wave}-{b}-{i}"))).collect::<Vec<_>>())
            }
        });
        if wave == 3 {
            let all = futures_util::future::join_all(requests);
            tokio::pin!(all);
            // let some requests complete, then kill
            let _ = tokio::time::timeout(Duration::from_millis(15), &mut all).await;
            server.child.kill().unwrap();
            server.child.wait().unwrap();
            for acks in all.await.into_iter().flatten() {
                acknowledged.extend(acks);
            }
        } else {
            for acks in futures_util::future::join_all(requests).await.into_iter().flatten() {
                acknowledged.extend(acks);
            }
        }
    }
    assert!(acknowledged.len() >= 75 * 8, "three full waves were acknowledged");

    let logged = liveroom::eventlog::read_session(&pool, session, 0).await.unwrap();
    for (seq, msg_id) in &acknowledged {
        let e = logged.iter().find(|e| e.seq == *seq).unwrap_or_else(|| panic!("acknowledged seq {seq} lost"));
        assert_eq!(e.event.platform_msg_id(), Some(msg_id.as_str()));
    }
    let last_before = logged.last().unwrap().seq;

    // restart: the room resumes its session from the log
    let mut server = start_server(&db_url, port).await;
    let snapshot: serde_json::Value =
        http.get(format!("{}/api/rooms/crash", server.base)).send().await.unwrap().json().await.unwrap();
    assert_eq!(snapshot["session_id"], opened["session_id"]);
    let resp = post_json(
        &http,
        format!("{}/api/rooms/crash/events", server.base),
        json!({"type": "join", "viewer_id": "after-restart"}),
    )
    .await;
    assert!(resp["seqs"][0].as_i64().unwrap() > last_before);

    // SIGTERM: the session ends cleanly with the room's digest
    unsafe { libc::kill(server.child.id() as i32, libc::SIGTERM) };
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let logged = liveroom::eventlog::read_session(&pool, session, 0).await.unwrap();
    let Event::SessionEnded { state_digest, reason } = &logged.last().unwrap().event else {
        panic!(
            "the last event is not session_ended: {:?}",
            logged.iter().rev().take(6).map(|e| (e.seq, e.event.type_name())).collect::<Vec<_>>()
        )
    };
    assert_eq!(reason, "shutdown");
    let ended_at = logged.len() - 1;
    let before_end = liveroom::room::state::RoomState::from_events("crash", &logged[..ended_at]);
    assert_eq!(&before_end.digest(), state_digest);

    // `liveroom replay` agrees, with no server running
    let out = Command::new(env!("CARGO_BIN_EXE_liveroom"))
        .args(["replay", &session.to_string()])
        .env("DATABASE_URL", &db_url)
        .env("LIVEROOM_LOG", "warn")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains(&format!("live digest:  {state_digest} (match)")), "{stdout}");
}
