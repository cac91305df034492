//! Command line: `serve`, `demo`, `replay`, `migrate`, `analyze`, `export`, `keys`, `bench ...`, `eval ...`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::app::{Application, Settings};
use crate::db::Database;

mod analytics;
pub use analytics::{AnalyzeArgs, ExportArgs};

#[derive(Debug, Parser)]
#[command(name = "liveroom", version, about = "Event-sourced engine for AI-hosted live rooms")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct DbArgs {
    /// Postgres to use; without it a private cluster is started under --data-dir.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where the embedded cluster and other local state live.
    #[arg(long, env = "LIVEROOM_DATA_DIR", default_value = "./.liveroom")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    #[arg(long, env = "LIVEROOM_PORT", default_value_t = 8080)]
    pub port: u16,
    #[arg(long, env = "LIVEROOM_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Preview speech rate multiplier (1.0 = natural speed).
    #[arg(long, env = "LIVEROOM_RENDER_SPEED", default_value_t = 1.0)]
    pub render_speed: f64,
    /// Comment triage: the keyword rules (default), the intent model when set up (auto), or the model.
    #[arg(long, env = "LIVEROOM_TRIAGE", value_enum, default_value = "rules")]
    pub triage: crate::app::TriageMode,
    /// Token that may create and delete brands over the API (`Authorization: Bearer <token>`).
    #[arg(long, env = "LIVEROOM_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    #[command(flatten)]
    pub db: DbArgs,
    #[command(flatten)]
    pub llm: crate::llm::LlmArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API and websockets; rooms left open are resumed.
    Serve(ServeArgs),
    /// Serve, with a seeded demo brand and a demo room `demo` driven by the crowd simulator.
    Demo {
        #[command(flatten)]
        serve: ServeArgs,
        /// Simulated viewer events per second.
        #[arg(long, env = "LIVEROOM_DEMO_RATE", default_value_t = 6.0)]
        rate: f64,
        /// Seed of the crowd simulator.
        #[arg(long, default_value_t = 2024)]
        seed: u64,
        /// Stop the demo after this many seconds (default: run until interrupted).
        #[arg(long)]
        duration: Option<u64>,
    },
    /// Rebuild a session's state from the log; print a summary and the state digest.
    Replay {
        /// Session id (or a unique prefix), or a room id for its latest session.
        session: String,
        /// Print the whole replayed state as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        db: DbArgs,
    },
    /// Apply the database migrations.
    Migrate {
        #[command(flatten)]
        db: DbArgs,
    },
    /// Benchmarks; each ends its output with one line of JSON.
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
    /// A timed short-video script for a product (LLM when configured, templates otherwise).
    VideoScript(crate::video::VideoScriptArgs),
    /// Evaluations on labelled data; each ends its output with one line of JSON.
    Eval {
        #[command(subcommand)]
        which: EvalCommand,
    },
    /// Feed a node's room from a live platform: a standalone adapter posting to the node's ingest.
    Connect {
        #[command(subcommand)]
        platform: crate::ingest::adapters::feeder::ConnectCommand,
    },
    /// Retention and A/B analysis (ANALYTICS.md) of a JSON Lines file or of the log's sessions.
    Analyze(AnalyzeArgs),
    /// A session's or a room's viewer events as ANALYTICS.md §1 JSON Lines.
    Export(ExportArgs),
    /// A brand's API keys: create (prints the key once), list, revoke.
    Keys {
        #[command(subcommand)]
        which: KeysCommand,
        #[command(flatten)]
        db: DbArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    Create {
        /// The brand the key reads and writes.
        #[arg(long)]
        brand: String,
        /// editor (knowledge read/write, keys), operator or analyst (read).
        #[arg(long)]
        role: String,
        #[arg(long, default_value = "")]
        label: String,
    },
    List {
        #[arg(long)]
        brand: String,
    },
    Revoke {
        #[arg(long)]
        brand: String,
        key_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// recall@1, recall@5, MRR of full-text, vector and hybrid retrieval on held-out queries.
    Retrieval(crate::eval::retrieval::RetrievalEvalArgs),
    /// Held-out macro-F1 and latency of the comment-triage model, fp32 and int8, and the rules baseline.
    Triage(crate::eval::triage::TriageEvalArgs),
}

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Sustained events/s into the durable log, against a raw COPY of the same rows.
    Ingest(crate::bench::ingest::IngestBenchArgs),
    /// Retrieval latency p50/p99 at 100, 10,000 and 100,000 entries, and the encoder's time per comment.
    Retrieval(crate::bench::retrieval::RetrievalBenchArgs),
    /// Generated replies against the built-in streaming test server: first
    /// sentence after the comment, cancel to ack, sentences after cancel.
    Replies(crate::bench::replies::RepliesBenchArgs),
    /// A hot room: 10,000 comments in 10 s, 60% near-duplicates of 5 questions; checked from the log.
    Flood(crate::bench::flood::FloodBenchArgs),
    /// Distinct comments/s and p99 through a node's triage service (model, cache, near-duplicates).
    Triage(crate::bench::triage::TriageBenchArgs),
    /// Platform adapters: frames decoded per second per protocol, and comment -> logged p99 through a fake server.
    Adapters(crate::bench::adapters::AdaptersBenchArgs),
    /// Generate a log of 1,000,000 events and analyse it (ANALYTICS.md): seconds and peak RSS.
    Analyze(crate::bench::analyze::AnalyzeBenchArgs),
}

pub fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LIVEROOM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn,actix_server=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let cli = Cli::parse();
    let result = actix_rt::System::new().block_on(run(cli));
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve(args, None).await,
        Command::Demo { serve: args, rate, seed, duration } => {
            serve(args, Some(DemoOptions { rate, seed, duration })).await
        }
        Command::Replay { session, json, db } => replay(&session, json, &db).await,
        Command::Migrate { db } => {
            let database = Database::open(db.database_url.as_deref(), &db.data_dir).await?;
            let pool = database.pool(2).await?;
            crate::db::migrate(&pool).await?;
            println!("migrations applied");
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval { which: EvalCommand::Retrieval(args) } => {
            crate::eval::retrieval::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys { which, db } => keys(which, &db).await,
        Command::Connect { platform } => crate::ingest::adapters::feeder::run_connect(platform).await,
        Command::Bench { which: BenchCommand::Adapters(args) } => {
            crate::bench::adapters::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { which: BenchCommand::Retrieval(args) } => {
            crate::bench::retrieval::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval { which: EvalCommand::Triage(args) } => {
            crate::eval::triage::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { which: BenchCommand::Triage(args) } => {
            crate::bench::triage::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { which: BenchCommand::Ingest(args) } => {
            crate::bench::ingest::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { which: BenchCommand::Replies(args) } => {
            crate::bench::replies::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::VideoScript(args) => crate::video::run_cli(args).await,
        Command::Bench { which: BenchCommand::Flood(args) } => {
            crate::bench::flood::run(args).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { which: BenchCommand::Analyze(args) } => {
            crate::bench::analyze::run(args)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Analyze(args) => analytics::analyze(args).await,
        Command::Export(args) => analytics::export(args).await,
    }
}

struct DemoOptions {
    rate: f64,
    seed: u64,
    duration: Option<u64>,
}

async fn serve(args: ServeArgs, demo: Option<DemoOptions>) -> anyhow::Result<ExitCode> {
    if !(args.render_speed > 0.0 && args.render_speed.is_finite()) {
        anyhow::bail!("--render-speed must be a positive number");
    }
    let database = Database::open(args.db.database_url.as_deref(), &args.db.data_dir).await?;
    if database.embedded.is_some() {
        eprintln!("using the embedded postgres under {}", args.db.data_dir.display());
    }
    let pool = database.pool(16).await?;
    let settings = Settings {
        host: args.host.clone(),
        port: args.port,
        render_speed: args.render_speed,
        node_id: crate::app::default_node_id(args.port),
        admin_token: args.admin_token.clone(),
        triage: args.triage,
        llm: args.llm.config(),
        // the signals are handled below: the rooms end before the server stops
        handle_signals: false,
        ..Settings::default()
    };
    let app = Application::build(settings, pool.clone()).await?;
    let port = app.port;
    let rooms = app.rooms.clone();
    let handle = app.server_handle();
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    if let Some(demo) = demo {
        let catalog = crate::knowledge::Catalog::demo();
        crate::knowledge::import_catalog(&pool, &catalog, "demo-seed").await?;
        let brand_id = catalog.all_brands()[0].id.clone();
        // a demo room left open by a crash is resumed; otherwise a new session
        let spec = crate::room::RoomSpec {
            room_id: "demo".into(),
            brand_id,
            experiment: Some(crate::events::Experiment {
                name: "welcome-voice".into(),
                variants: vec!["control".into(), "warm".into()],
            }),
            policy: None,
        };
        let room = rooms.open("demo", Some(&spec)).await?;
        let url = format!("ws://{}:{port}/ws/rooms/demo/ingest", args.host);
        let config = crate::ingest::simulator::SimulatorConfig { rate: demo.rate, seed: demo.seed, max_events: None };
        actix_rt::spawn(async move {
            if let Err(e) = crate::ingest::simulator::run(url, catalog, config).await {
                tracing::error!(error = %e, "crowd simulator stopped");
            }
        });
        if let Some(seconds) = demo.duration {
            let stop = stop.clone();
            actix_rt::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(seconds)).await;
                stop.notify_one();
            });
        }
        println!("demo room `demo` (session {}) is live", room.session_id);
    }
    println!("console: http://{}:{port}/?room=demo", args.host);
    println!("console websocket: ws://{}:{port}/ws/rooms/<room>/console", args.host);
    // SIGINT/SIGTERM (or the demo's duration): every room ends its session
    // while the server still runs, then the server stops. (Stopping the
    // server first shuts its worker runtimes down, and with them pooled
    // connections the event log writer may still use.)
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    {
        let (rooms, handle, stop) = (rooms.clone(), handle.clone(), stop.clone());
        actix_rt::spawn(async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = terminate.recv() => {}
                _ = stop.notified() => {}
            }
            end_rooms(&rooms).await;
            handle.stop(true).await;
        });
    }
    app.run_until_stopped().await?;
    // rooms opened while the server was stopping
    end_rooms(&rooms).await;
    drop(database);
    Ok(ExitCode::SUCCESS)
}

/// End every open room's session, printing each state digest.
async fn end_rooms(rooms: &crate::room::registry::Rooms) {
    for (room, result) in rooms.end_all("shutdown").await {
        match result {
            Ok(digest) => println!("room {room} ended its session; state digest {digest}"),
            Err(e) => eprintln!("room {room} could not end its session: {e}"),
        }
    }
}

async fn keys(which: KeysCommand, db: &DbArgs) -> anyhow::Result<ExitCode> {
    let database = Database::open(db.database_url.as_deref(), &db.data_dir).await?;
    let pool = database.pool(2).await?;
    crate::db::migrate(&pool).await?;
    let brand = match &which {
        KeysCommand::Create { brand, .. } | KeysCommand::List { brand } | KeysCommand::Revoke { brand, .. } => {
            brand.clone()
        }
    };
    if !crate::knowledge::brand_exists(&pool, &brand).await? {
        anyhow::bail!("unknown brand {brand:?}");
    }
    match which {
        KeysCommand::Create { role, label, .. } => {
            let Some(role) = crate::auth::Role::parse(&role) else {
                anyhow::bail!("--role must be editor, operator or analyst, not {role:?}");
            };
            let key = crate::auth::create_key(&pool, &brand, role, &label, "cli").await?;
            println!("key {} ({}) for brand {brand}; it is shown only now:", key.info.key_id, role.as_str());
            println!("{}", key.key);
        }
        KeysCommand::List { .. } => {
            for k in crate::auth::list_keys(&pool, &brand).await? {
                let state = if k.revoked_at.is_some() { "revoked" } else { "live" };
                println!(
                    "{}  {:<8}  {:<7}  {}  by {}  {}",
                    k.key_id,
                    k.role.as_str(),
                    state,
                    k.created_at.format("%Y-%m-%d %H:%M"),
                    k.created_by,
                    k.label
                );
            }
        }
        KeysCommand::Revoke { key_id, .. } => {
            if !crate::auth::revoke_key(&pool, &brand, &key_id).await? {
                anyhow::bail!("brand {brand:?} has no live key {key_id:?}");
            }
            println!("key {key_id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn replay(session: &str, json: bool, db: &DbArgs) -> anyhow::Result<ExitCode> {
    let database = Database::open(db.database_url.as_deref(), &db.data_dir).await?;
    let pool = database.pool(2).await?;
    crate::db::migrate(&pool).await?;
    let session_id = crate::eventlog::resolve_session(&pool, session).await?;
    let events = crate::eventlog::read_session(&pool, session_id, 0).await?;
    if events.is_empty() {
        anyhow::bail!("session {session_id} has no events");
    }
    let report = crate::replay::replay(&events);
    let c = &report.state.counters;
    println!("session {session_id} of room {}", report.room_id);
    let first = events.first().map(|e| e.ts).unwrap_or(0);
    let last = events.last().map(|e| e.ts).unwrap_or(0);
    println!(
        "events: {} over {:.1} s ({} inputs, {} decisions)",
        report.events,
        (last - first) as f64 / 1000.0,
        report.inputs,
        report.decisions_logged
    );
    println!(
        "viewers: {} joins, {} leaves; comments: {}, replies decided: {}, skipped: {:?}",
        c.joins, c.leaves, c.comments, c.replies_decided, c.comments_skipped
    );
    println!(
        "likes: {}, gifts: {} (¥{:.2}), follows: {}, orders: {} (¥{:.2})",
        c.likes,
        c.gifts,
        c.gift_value_cents as f64 / 100.0,
        c.follows,
        c.orders,
        c.order_value_cents as f64 / 100.0
    );
    println!(
        "utterances: {} dispatched, {} finished, {} cancelled; pitch sentences: {}",
        c.utterances_dispatched, c.utterances_finished, c.utterances_cancelled, c.pitch_sentences
    );
    println!("decisions reproduced by the policy: {}/{}", report.decisions_reproduced, report.decisions_logged);
    for m in &report.mismatches {
        println!("MISMATCH {m}");
    }
    match (&report.digest_at_end, &report.live_digest) {
        (Some(replayed), Some(live)) => {
            println!("state digest: {replayed}");
            println!("live digest:  {live} ({})", if replayed == live { "match" } else { "MISMATCH" });
        }
        _ => println!("state digest: {} (session still open)", report.final_digest),
    }
    if json {
        println!("{}", serde_json::to_string(&report.state)?);
    }
    Ok(if report.is_consistent() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
