//! Test harness: a real Postgres server (DATABASE_URL, or a throwaway
//! cluster started once per test process), a fresh database per test, and
//! the application on a free port with a virtual clock.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use liveroom::app::{Application, Settings, TriageMode};
use liveroom::clock::{Clock, VirtualClock};
use liveroom::db::{Durability, EmbeddedPostgres};
use liveroom::events::{Envelope, Event};
use liveroom::knowledge::Catalog;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

struct Server {
    url: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();
static CLUSTER: OnceLock<std::sync::Mutex<Option<EmbeddedPostgres>>> = OnceLock::new();

extern "C" fn stop_cluster() {
    if let Some(cell) = CLUSTER.get()
        && let Ok(mut guard) = cell.lock()
        && let Some(mut pg) = guard.take()
    {
        pg.stop();
    }
}

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("DATABASE_URL") {
            return Server { url };
        }
        let dir = std::env::temp_dir().join(format!("liveroom-test-{}", std::process::id()));
        let pg = EmbeddedPostgres::start(&dir, Durability::Throwaway).expect("start a throwaway postgres for tests");
        let url = pg.url().to_string();
        CLUSTER.get_or_init(|| std::sync::Mutex::new(Some(pg)));
        unsafe { libc::atexit(stop_cluster) };
        Server { url }
    })
}

/// A new, empty database on the test server; returns its URL.
pub async fn fresh_database() -> String {
    let base = server().url.clone();
    liveroom::db::embedded::wait_ready(&admin(&base), Duration::from_secs(30)).await.expect("postgres is up");
    let name = format!("test_{}", Uuid::new_v4().simple());
    let url = with_database(&base, &name);
    liveroom::db::ensure_database(&url).await.expect("create the test database");
    url
}

fn admin(url: &str) -> String {
    with_database(url, "postgres")
}

fn with_database(url: &str, name: &str) -> String {
    liveroom::db::with_database(url, name).expect("the test server url is a postgres url")
}

pub struct TestApp {
    pub base: String,
    pub port: u16,
    pub pool: PgPool,
    pub clock: Arc<VirtualClock>,
    pub http: reqwest::Client,
    /// The app's rooms and log writer, for tests that reach past the API.
    pub rooms: Arc<liveroom::room::Rooms>,
    pub writer: liveroom::eventlog::LogWriter,
    handle: actix_web::dev::ServerHandle,
}

/// The test app's admin token.
pub const ADMIN_TOKEN: &str = "test-admin-token";

pub fn test_catalog() -> Catalog {
    serde_json::from_str(include_str!("test_catalog.json")).expect("test catalogue parses")
}

/// The app on a fresh database, with the test catalogue imported.
pub async fn spawn_app() -> TestApp {
    let db_url = fresh_database().await;
    spawn_app_on(&db_url, true).await
}

pub async fn spawn_app_on(db_url: &str, import: bool) -> TestApp {
    spawn_app_configured(db_url, import, |_| {}).await
}

/// The app with the given comment triage (the other helpers use the keyword rules).
pub async fn spawn_app_with(db_url: &str, import: bool, triage: TriageMode) -> TestApp {
    spawn_app_configured(db_url, import, |s| s.triage = triage).await
}

/// The app on `db_url` with its settings adjusted by `configure` (e.g. an LLM endpoint).
pub async fn spawn_app_configured(db_url: &str, import: bool, configure: impl FnOnce(&mut Settings)) -> TestApp {
    let pool = liveroom::db::connect(db_url, 8).await.expect("connect");
    let (clock, virtual_clock) = Clock::new_virtual(1_700_000_000_000);
    let mut settings = Settings {
        port: 0,
        clock,
        handle_signals: false,
        http_workers: 1,
        admin_token: Some(ADMIN_TOKEN.into()),
        triage: TriageMode::Rules,
        ..Settings::default()
    };
    configure(&mut settings);
    let app = Application::build(settings, pool.clone()).await.expect("build the app");
    if import {
        liveroom::knowledge::import_catalog(&pool, &test_catalog(), "test").await.expect("import");
    }
    let port = app.port;
    let (rooms, writer) = (app.rooms.clone(), app.writer.clone());
    let handle = app.server_handle();
    actix_web::rt::spawn(app.run_until_stopped());
    TestApp {
        base: format!("http://127.0.0.1:{port}"),
        port,
        pool,
        clock: virtual_clock,
        http: reqwest::Client::new(),
        rooms,
        writer,
        handle,
    }
}

impl TestApp {
    pub async fn open_room(&self, room_id: &str) -> Uuid {
        self.open_room_with(room_id, serde_json::json!({})).await
    }

    /// A room whose session starts with these policy settings (the rest default).
    pub async fn open_room_with(&self, room_id: &str, policy: Value) -> Uuid {
        let (status, body) = self
            .post("/api/rooms", serde_json::json!({"room_id": room_id, "brand_id": "testbrand", "policy": policy}))
            .await;
        assert_eq!(status, 200, "{body}");
        let session: Uuid = body["session_id"].as_str().unwrap().parse().unwrap();
        // the session-started event is logged before anything else
        self.wait_for(session, |events| !events.is_empty(), false).await;
        session
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.post_raw(path, body.to_string().into_bytes()).await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Any request with an optional bearer key; a JSON body is parsed, any
    /// other body comes back as a JSON string.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.header("authorization", format!("Bearer {key}"));
        }
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let is_json = resp
            .headers()
            .get("content-type")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|c| c.starts_with("application/json"));
        let bytes = resp.bytes().await.unwrap_or_default();
        let body = if is_json {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        } else {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        };
        (status, body)
    }

    pub async fn call_json(&self, method: &str, path: &str, key: Option<&str>, body: Value) -> (u16, Value) {
        self.call(method, path, key, Some(("application/json", body.to_string().into_bytes()))).await
    }

    pub async fn events(&self, session: Uuid) -> Vec<Envelope> {
        liveroom::eventlog::read_session(&self.pool, session, 0).await.expect("read the log")
    }

    /// Poll the log until `done` holds; with `advance`, move the virtual
    /// clock 100 ms between polls. Panics after 10 s of real time.
    pub async fn wait_for(&self, session: Uuid, done: impl Fn(&[Envelope]) -> bool, advance: bool) -> Vec<Envelope> {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let events = self.events(session).await;
            if done(&events) {
                return events;
            }
            if std::time::Instant::now() > deadline {
                let types: Vec<String> = events.iter().map(|e| format!("{}:{}", e.seq, e.event.type_name())).collect();
                panic!("timed out waiting; log: {types:?}");
            }
            if advance {
                self.clock.advance(100);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub async fn stop(self) {
        self.handle.stop(false).await;
    }
}

pub fn find(events: &[Envelope], pred: impl Fn(&Event) -> bool) -> Option<&Envelope> {
    events.iter().find(|e| pred(&e.event))
}

pub fn count(events: &[Envelope], type_name: &str) -> usize {
    events.iter().filter(|e| e.event.type_name() == type_name).count()
}

/// The utterance whose dispatch matches `pred`: its id.
pub fn dispatched_id(events: &[Envelope], pred: impl Fn(&Event) -> bool) -> Option<String> {
    events.iter().find_map(|e| match &e.event {
        ev @ Event::UtteranceDispatched { utterance_id, .. } if pred(ev) => Some(utterance_id.clone()),
        _ => None,
    })
}

pub fn seq_of(events: &[Envelope], pred: impl Fn(&Event) -> bool) -> i64 {
    find(events, pred).map(|e| e.seq).unwrap_or_else(|| panic!("event not in the log"))
}
