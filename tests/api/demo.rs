//! The README's main job, as a user runs it: `liveroom demo` on a fresh data
//! directory (embedded durable Postgres), watched through the console
//! websocket, stopped with SIGTERM, then replayed.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio_tungstenite::tungstenite::Message;

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[actix_web::test]
async fn the_demo_room_streams_a_live_show_and_replays_to_the_same_digest() {
    let data_dir = std::env::temp_dir().join(format!("liveroom-demo-test-{}", uuid::Uuid::new_v4().simple()));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_liveroom"))
        .args(["demo", "--port", &port.to_string(), "--data-dir"])
        .arg(&data_dir)
        .env_remove("DATABASE_URL")
        .env("LIVEROOM_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start liveroom demo");
    let mut demo = Killed(child);

    let url = format!("ws://127.0.0.1:{port}/ws/rooms/demo/console");
    let started = Instant::now();
    let mut ws = loop {
        match tokio_tungstenite::connect_async(&url).await {
            Ok((ws, _)) => break ws,
            Err(_) if started.elapsed() < Duration::from_secs(60) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("console websocket never came up: {e}"),
        }
    };
    let watch_from = Instant::now();
    let mut by_type: HashMap<String, usize> = HashMap::new();
    let mut total = 0;
    while total < 100
        || !["viewer_commented", "reply_decided", "utterance_dispatched"].iter().all(|t| by_type.contains_key(*t))
    {
        let left = Duration::from_secs(30).saturating_sub(watch_from.elapsed());
        let msg = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("only {total} events in 30 s: {by_type:?}"));
        if let Some(Ok(Message::Text(t))) = msg {
            let v: serde_json::Value = serde_json::from_str(&t).unwrap();
            *by_type.entry(v["type"].as_str().unwrap_or("?").to_string()).or_default() += 1;
            total += 1;
        }
    }
    let _ = ws.close(None).await;

    unsafe { libc::kill(demo.0.id() as i32, libc::SIGTERM) };
    let output = std::mem::replace(&mut demo.0, Command::new("true").spawn().unwrap()).wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(output.status.success(), "{stdout}");
    let digest = stdout
        .lines()
        .find_map(|l| l.strip_prefix("room demo ended its session; state digest "))
        .unwrap_or_else(|| panic!("no digest printed: {stdout}"))
        .trim()
        .to_string();

    let replay = Command::new(env!("CARGO_BIN_EXE_liveroom"))
        .args(["replay", "demo", "--data-dir"])
        .arg(&data_dir)
        .env_remove("DATABASE_URL")
        .env("LIVEROOM_LOG", "warn")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&replay.stdout);
    assert!(replay.status.success(), "{out}");
    assert!(out.contains(&format!("live digest:  {digest} (match)")), "{out}");
    // the embedded cluster the replay started is stopped again on exit
    let pid_file = data_dir.join("pg").join("postmaster.pid");
    let deadline = Instant::now() + Duration::from_secs(10);
    while pid_file.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!pid_file.exists(), "the embedded postgres was left running");
    let _ = std::fs::remove_dir_all(&data_dir);
}
