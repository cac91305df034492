//! The application: database, log writer, rooms and the HTTP server, built
//! inside an actix System. `Application::build` binds the port (0 picks a
//! free one) and returns; `run_until_stopped` serves.

use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use sqlx::PgPool;

use crate::clock::Clock;
use crate::eventlog::LogWriter;
use crate::knowledge::Retriever;
use crate::room::{RoomDeps, Rooms};
use crate::triage::{RuleTriager, TriageService, Triager};

#[derive(Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub clock: Clock,
    /// Preview speech rate multiplier.
    pub render_speed: f64,
    /// This process's name in room leases.
    pub node_id: String,
    /// Let actix-web stop the server on SIGINT/SIGTERM.
    pub handle_signals: bool,
    pub http_workers: usize,
    /// The node's admin token for creating and deleting brands; without it
    /// brands come from `liveroom keys`/imports on the command line only.
    pub admin_token: Option<String>,
    /// The LLM endpoint for generated replies; `None`: template replies.
    pub llm: Option<crate::llm::LlmConfig>,
    /// Which comment triage the rooms use.
    pub triage: TriageMode,
    /// Room lease TTL and renewal interval (15 s / 5 s).
    pub leases: crate::room::lease::LeaseTimings,
}

/// `Auto`: the ONNX intent model when its files are under the models
/// directory (`models/setup.sh`), else the keyword rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TriageMode {
    Auto,
    Rules,
    /// The model, or fail to start.
    Model,
}

/// Triage model worker threads and the most comments per model run.
pub const TRIAGE_WORKERS: usize = 1;
pub const TRIAGE_MAX_BATCH: usize = 32;

/// The node's triage service for `mode`: one worker thread taking batches of
/// up to 32 (`liveroom bench triage`: one worker gave 2,070-2,400 distinct
/// comments/s at p99 10 ms on 2 cores, two workers 1,630/s at p99 17 ms, as
/// they took the core the event loop needs). The model loads in the
/// background, so the node serves at once.
pub fn triage_service(mode: TriageMode) -> anyhow::Result<TriageService> {
    let dir = crate::embed::models_dir();
    let present = crate::triage::classifier::model_present(&dir);
    match mode {
        TriageMode::Model if !present => {
            anyhow::bail!("triage model not found under {} (run models/setup.sh)", dir.display())
        }
        TriageMode::Model | TriageMode::Auto if present => {
            tracing::info!("comment triage: ONNX intent model from {} (loading)", dir.display());
            Ok(TriageService::load_in_background(dir, TRIAGE_WORKERS, TRIAGE_MAX_BATCH))
        }
        _ => {
            tracing::info!(
                classifier = RuleTriager.name(),
                "comment triage: keyword rules (no model under {})",
                dir.display()
            );
            Ok(TriageService::rules())
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            host: "127.0.0.1".into(),
            port: 8080,
            clock: Clock::Real,
            render_speed: 1.0,
            node_id: default_node_id(8080),
            handle_signals: true,
            http_workers: 2,
            admin_token: None,
            llm: None,
            // the model is opt-in until it keeps up with the ingest floor (see README)
            triage: TriageMode::Rules,
            leases: crate::room::lease::LeaseTimings::default(),
        }
    }
}

/// A node's stable name: `LIVEROOM_NODE_ID`, else host name and port. A
/// restarted node gets its rooms back at once instead of waiting for the
/// leases of its previous run to expire.
pub fn default_node_id(port: u16) -> String {
    if let Ok(id) = std::env::var("LIVEROOM_NODE_ID") {
        return id;
    }
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    format!("{}:{port}", if host.is_empty() { "localhost" } else { &host })
}

pub struct Application {
    pub port: u16,
    pub rooms: Arc<Rooms>,
    pub pool: PgPool,
    pub writer: LogWriter,
    server: Server,
}

impl Application {
    /// Migrate, start the log writer and the room registry (rooms run on the
    /// calling arbiter), resume rooms left open, and bind the server.
    pub async fn build(settings: Settings, pool: PgPool) -> anyhow::Result<Application> {
        crate::db::migrate(&pool).await?;
        let writer = LogWriter::spawn(pool.clone());
        let deps = RoomDeps {
            pool: pool.clone(),
            writer: writer.clone(),
            retriever: Retriever::new(pool.clone()),
            triager: Arc::new(RuleTriager),
            triage: triage_service(settings.triage)?,
            clock: settings.clock.clone(),
            render_speed: settings.render_speed,
            llm: settings.llm.clone().map(|c| Arc::new(crate::llm::LlmClient::new(c))),
        };
        // warm jieba's dictionary now, not on the first comment
        let _ = crate::knowledge::text::jieba();
        let rooms = Rooms::new(deps, settings.node_id.clone(), settings.leases, actix_rt::Arbiter::current());
        let resumed = rooms.resume_open_sessions().await?;
        if !resumed.is_empty() {
            tracing::info!(rooms = ?resumed, "resumed rooms with open sessions");
        }
        let data = web::Data::new(rooms.clone());
        let admin_token =
            web::Data::new(crate::api::knowledge::AdminToken(settings.admin_token.clone().filter(|t| !t.is_empty())));
        let listener = std::net::TcpListener::bind((settings.host.as_str(), settings.port))
            .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(admin_token.clone())
                .app_data(web::PayloadConfig::new(4 << 20))
                .configure(crate::api::routes)
        })
        .workers(settings.http_workers)
        .shutdown_timeout(2)
        .listen(listener)?;
        if !settings.handle_signals {
            server = server.disable_signals();
        }
        Ok(Application { port, rooms, pool, writer, server: server.run() })
    }

    pub fn server_handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serve until the server stops (a signal, or `server_handle().stop`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}
