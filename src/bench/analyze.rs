//! `liveroom bench analyze`: generate a §1 log of 1,000,000 events (the
//! simulator of `analytics::simulate`: 2 arms, 6 streams, re-joins,
//! duplicates, noise, late events) into a temporary file, then analyse it the
//! way `liveroom analyze FILE` does: stream the file, parse, §2-§9, the JSON
//! and the text report. The last line is JSON `{"events", "seconds",
//! "peak_rss_mb"}` (seconds: the analysis only; peak RSS: the process's
//! high-water mark, generation included).

use std::io::{BufReader, BufWriter, Write};
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::round;
use crate::analytics::simulate::{SimConfig, generate};
use crate::analytics::{Params, analyze_reader, output, report};

#[derive(Debug, Args, Clone)]
pub struct AnalyzeBenchArgs {
    /// Events in the generated log.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Analyses of the same file; the median is reported.
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Keep the generated log here (default: a temporary file, removed after).
    #[arg(long)]
    pub keep: Option<std::path::PathBuf>,
}

/// The high-water mark of this process's resident memory (MB), from /proc.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Write exactly `events` lines of a simulated log.
fn write_log(path: &std::path::Path, events: u64, seed: u64) -> anyhow::Result<u64> {
    let mut config = SimConfig::two_arms(seed, events / 3, 100_000.0, 115_000.0);
    config.streams = 6;
    config.live_streams = 1;
    // about 3.4 events per viewer: enough viewers for `events` lines (the rest are not written)
    config.viewers = events / 3 + 1000;
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut written = 0u64;
    let mut sink = Vec::with_capacity(256);
    let mut result = Ok(());
    let mut generated = 0u64;
    // the streams' ends come last from the simulator: keep room for them
    let ends = (config.streams - config.live_streams) as u64;
    generate(&config, |event| {
        generated += 1;
        let is_end = event.kind == crate::analytics::input::Kind::StreamEnd;
        if (!is_end && written + ends >= events) || written >= events || result.is_err() {
            return;
        }
        sink.clear();
        result = crate::analytics::simulate::write_event(&config, &event, &mut sink).and_then(|_| out.write_all(&sink));
        written += 1;
    });
    result?;
    out.flush()?;
    if written < events {
        anyhow::bail!("the simulator made only {generated} events, fewer than {events}");
    }
    Ok(written)
}

pub fn run(args: AnalyzeBenchArgs) -> anyhow::Result<()> {
    let path = args
        .keep
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join(format!("liveroom-bench-analyze-{}.jsonl", std::process::id())));
    let started = Instant::now();
    let events = write_log(&path, args.events, args.seed)?;
    let size = std::fs::metadata(&path)?.len();
    println!(
        "generated {events} events ({:.1} MB) in {:.2} s: {}",
        size as f64 / 1e6,
        started.elapsed().as_secs_f64(),
        path.display()
    );
    let mut seconds = Vec::new();
    let mut last_report = String::new();
    for run in 0..args.runs.max(1) {
        let started = Instant::now();
        let file = std::fs::File::open(&path)?;
        let analysis = analyze_reader(BufReader::with_capacity(1 << 20, file), &Params::default(), &mut |_| {})?;
        let json = output::to_json(&analysis);
        last_report = report::text(&analysis);
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "run {}: {:.3} s ({} accepted events, {} bytes of JSON)",
            run + 1,
            elapsed,
            analysis.diagnostics.events_accepted,
            json.to_string().len()
        );
        seconds.push(elapsed);
    }
    if args.keep.is_none() {
        let _ = std::fs::remove_file(&path);
    }
    print!("{last_report}");
    let median = super::median(&seconds);
    println!(
        "{}",
        json!({"events": events, "seconds": round(median, 3), "peak_rss_mb": peak_rss_mb().map(|m| round(m, 1))})
    );
    Ok(())
}
