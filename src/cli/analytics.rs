//! `liveroom analyze` and `liveroom export` (ANALYTICS.md): the command-line side of `crate::analytics`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use super::DbArgs;
use crate::db::Database;

// ---- analytics: `analyze` and `export` (ANALYTICS.md) ----

#[derive(Debug, Args, Clone)]
pub struct AnalyzeArgs {
    /// A §1 JSON Lines file (`-` for stdin); or use --room / --session.
    pub file: Option<PathBuf>,
    /// Every session of this room, each a stream.
    #[arg(long, conflicts_with = "file")]
    pub room: Option<String>,
    /// These sessions (ids, unique prefixes, or a room for its latest session).
    #[arg(long, num_args = 1.., conflicts_with_all = ["file", "room"])]
    pub session: Vec<String>,
    /// §2.1 as_of (ms); default: the last event + 1 ms.
    #[arg(long)]
    pub as_of: Option<i64>,
    /// W, the retention window.
    #[arg(long, default_value_t = 120_000)]
    pub window_ms: i64,
    /// G, the re-join grace.
    #[arg(long, default_value_t = 10_000)]
    pub grace_ms: i64,
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// The control variant (default: the lexicographically smallest).
    #[arg(long)]
    pub control: Option<String>,
    /// Expected SRM weights, in the lexicographic order of the variants: `1,1`.
    #[arg(long)]
    pub weights: Option<String>,
    /// §8.7 N*, the confidence sequences' tuning.
    #[arg(long, default_value_t = 5000.0)]
    pub seq_tuning: f64,
    /// Write the §9 JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write every variant's full Kaplan-Meier step function here.
    #[arg(long)]
    pub curve_json: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Args, Clone)]
pub struct ExportArgs {
    /// A session (id, unique prefix, or a room for its latest session).
    #[arg(long, required_unless_present = "room", conflicts_with = "room")]
    pub session: Option<String>,
    /// Every session of this room.
    #[arg(long)]
    pub room: Option<String>,
    /// Only events at or after this time (ms since the epoch, or RFC 3339).
    #[arg(long)]
    pub from: Option<String>,
    /// Only events before this time (ms since the epoch, or RFC 3339).
    #[arg(long)]
    pub to: Option<String>,
    /// Write here instead of stdout.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub db: DbArgs,
}

/// A progress bar on stderr, shown once the work has taken a second and only
/// when stderr is a terminal.
struct Progress {
    bar: indicatif::ProgressBar,
    started: std::time::Instant,
    shown: bool,
}

impl Progress {
    fn new(total: u64, unit: &str) -> Progress {
        let bar = indicatif::ProgressBar::with_draw_target(Some(total), indicatif::ProgressDrawTarget::hidden());
        let template = format!("{{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {unit}");
        if let Ok(style) = indicatif::ProgressStyle::with_template(&template) {
            bar.set_style(style);
        }
        Progress { bar, started: std::time::Instant::now(), shown: false }
    }

    fn update(&mut self, position: u64) {
        self.bar.set_position(position);
        if !self.shown && self.started.elapsed() > std::time::Duration::from_secs(1) {
            use std::io::IsTerminal;
            self.shown = true;
            if std::io::stderr().is_terminal() {
                self.bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// The §1 lines of a --room or --session selection, with a progress bar.
async fn exported_lines(
    db: &DbArgs,
    room: Option<&str>,
    sessions: &[String],
    from: Option<i64>,
    to: Option<i64>,
) -> anyhow::Result<Vec<u8>> {
    let database = Database::open(db.database_url.as_deref(), &db.data_dir).await?;
    let pool = database.pool(2).await?;
    crate::db::migrate(&pool).await?;
    let ids = crate::api::analytics::selected_sessions(&pool, room, sessions).await?;
    let mut progress = Progress::new(ids.len() as u64, "sessions");
    let mut report = |done: usize, _| progress.update(done as u64);
    let lines = crate::api::analytics::export_lines(&pool, &ids, from, to, &mut report).await?;
    progress.finish();
    Ok(lines)
}

pub(super) async fn analyze(args: AnalyzeArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    let params = crate::analytics::Params {
        as_of: args.as_of,
        window_ms: args.window_ms,
        grace_ms: args.grace_ms,
        alpha: args.alpha,
        control: args.control.clone(),
        weights: args
            .weights
            .as_deref()
            .map(crate::api::analytics::parse_weights)
            .transpose()
            .map_err(anyhow::Error::msg)?,
        seq_tuning: args.seq_tuning,
    };
    let log = match (&args.file, &args.room, args.session.is_empty()) {
        (Some(file), _, _) => {
            let (reader, size): (Box<dyn std::io::Read>, u64) = if file.as_os_str() == "-" {
                (Box::new(std::io::stdin().lock()), 0)
            } else {
                let opened = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
                let size = opened.metadata().map(|m| m.len()).unwrap_or(0);
                (Box::new(opened), size)
            };
            let mut progress = Progress::new(size, "bytes");
            let reader = std::io::BufReader::with_capacity(1 << 20, reader);
            let log = crate::analytics::input::ParsedLog::read(reader, &mut |bytes| progress.update(bytes))
                .with_context(|| format!("cannot read {}", file.display()))?;
            progress.finish();
            log
        }
        (None, None, true) => anyhow::bail!("give a JSON Lines file, --room R or --session S"),
        (None, room, _) => {
            let lines = exported_lines(&args.db, room.as_deref(), &args.session, None, None).await?;
            crate::analytics::input::ParsedLog::read(&lines[..], &mut |_| {})?
        }
    };
    let analysis = crate::analytics::analyze(log, &params)?;
    print!("{}", crate::analytics::report::text(&analysis));
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&crate::analytics::output::to_json(&analysis))?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let Some(path) = &args.curve_json {
        let json = serde_json::to_string(&crate::analytics::output::curves_json(&analysis))?;
        std::fs::write(path, json).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    let from = args.from.as_deref().map(crate::api::analytics::parse_time).transpose()?;
    let to = args.to.as_deref().map(crate::api::analytics::parse_time).transpose()?;
    let sessions: Vec<String> = args.session.iter().cloned().collect();
    let lines = exported_lines(&args.db, args.room.as_deref(), &sessions, from, to).await?;
    match &args.out {
        Some(path) => std::fs::write(path, &lines)?,
        None => std::io::stdout().lock().write_all(&lines)?,
    }
    Ok(ExitCode::SUCCESS)
}
