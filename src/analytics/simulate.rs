//! Synthetic §1 logs with known truth, for `liveroom bench analyze` and the
//! simulation tests: exponential watch times per arm (so S(W) = exp(−W/mean)
//! and the hazard ratio is mean_A/mean_B), streams that end or stay live,
//! re-joins inside and beyond the grace period, duplicates, noise events,
//! late events after the end, purchases (some by never-exposed ids).
//! Deterministic from the seed (SplitMix64).

use std::io::Write;

use super::input::{Kind, ParsedLog};

/// SplitMix64: small, fast, and the same on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.uniform()).ln()
    }
}

/// One arm of a simulated experiment.
#[derive(Debug, Clone, PartialEq)]
pub struct Arm {
    pub name: String,
    pub weight: f64,
    /// Mean watch time of an exponential (ms): hazard 1/mean.
    pub mean_watch_ms: f64,
    pub purchase_probability: f64,
    pub mean_amount: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    pub seed: u64,
    pub viewers: u64,
    pub streams: u32,
    pub stream_length_ms: i64,
    /// The last `live_streams` streams have no `stream_end`.
    pub live_streams: u32,
    /// Every stream carries one arm (stream k: arm k mod arms) instead of every viewer.
    pub session_randomised: bool,
    pub arms: Vec<Arm>,
    /// After a leave, the chance of a re-join 0..2G later.
    pub rejoin_probability: f64,
    pub grace_ms: i64,
    /// Comments and likes per viewer (mean), which change no metric.
    pub noise_per_viewer: f64,
    pub duplicate_probability: f64,
    /// Purchases by ids that never joined.
    pub unexposed_purchases: u64,
}

impl SimConfig {
    /// Two arms with the given mean watch times, otherwise a plain room.
    pub fn two_arms(seed: u64, viewers: u64, mean_a_ms: f64, mean_b_ms: f64) -> SimConfig {
        let arm = |name: &str, mean: f64| Arm {
            name: name.into(),
            weight: 1.0,
            mean_watch_ms: mean,
            purchase_probability: 0.05,
            mean_amount: 80.0,
        };
        SimConfig {
            seed,
            viewers,
            streams: 4,
            stream_length_ms: 3_600_000,
            live_streams: 1,
            session_randomised: false,
            arms: vec![arm("A", mean_a_ms), arm("B", mean_b_ms)],
            rejoin_probability: 0.1,
            grace_ms: 10_000,
            noise_per_viewer: 1.0,
            duplicate_probability: 0.02,
            unexposed_purchases: 5,
        }
    }
}

/// One generated event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimEvent {
    pub ts: i64,
    pub session: u32,
    /// `u64::MAX` on `stream_end`.
    pub viewer: u64,
    pub kind: Kind,
    pub arm: Option<usize>,
    pub amount: f64,
}

/// Generate the log, handing every event to `emit` (viewer by viewer, not
/// in time order: the analysis sorts).
pub fn generate(config: &SimConfig, mut emit: impl FnMut(SimEvent)) {
    let mut rng = Rng::new(config.seed);
    let start = |k: u32| 1_700_000_000_000 + k as i64 * (config.stream_length_ms + 600_000);
    let total_weight: f64 = config.arms.iter().map(|a| a.weight).sum();
    for viewer in 0..config.viewers {
        let session = rng.below(config.streams as u64) as u32;
        let arm = if config.session_randomised {
            session as usize % config.arms.len()
        } else {
            let mut draw = rng.uniform() * total_weight;
            let mut chosen = config.arms.len() - 1;
            for (i, arm) in config.arms.iter().enumerate() {
                if draw < arm.weight {
                    chosen = i;
                    break;
                }
                draw -= arm.weight;
            }
            chosen
        };
        let spec = &config.arms[arm];
        let end = start(session) + config.stream_length_ms;
        let event =
            |ts: i64, kind: Kind, arm: Option<usize>, amount: f64| SimEvent { ts, session, viewer, kind, arm, amount };
        let mut join = start(session) + (rng.uniform() * config.stream_length_ms as f64) as i64;
        emit(event(join, Kind::Join, Some(arm), 0.0));
        if rng.uniform() < config.duplicate_probability {
            emit(event(join + rng.below(1000) as i64, Kind::Join, Some(arm), 0.0));
        }
        loop {
            let leave = join + rng.exponential(spec.mean_watch_ms).round() as i64;
            for _ in 0..rng.below((2.0 * config.noise_per_viewer) as u64 + 1) {
                let kind = if rng.uniform() < 0.5 { Kind::Comment } else { Kind::Like };
                emit(event(join + rng.below((leave - join).max(1) as u64) as i64, kind, None, 0.0));
            }
            if rng.uniform() < spec.purchase_probability {
                let amount = (rng.exponential(spec.mean_amount) * 100.0).round() / 100.0;
                emit(event(join + rng.below((leave - join).max(1) as u64) as i64, Kind::Purchase, None, amount));
            }
            if leave >= end && rng.uniform() < 0.5 {
                // still watching at the end: no leave, or a late one the horizon drops
                break;
            }
            emit(event(leave, Kind::Leave, None, 0.0));
            if rng.uniform() < config.duplicate_probability {
                emit(event(leave + 1, Kind::Leave, None, 0.0));
            }
            if leave >= end || rng.uniform() >= config.rejoin_probability {
                break;
            }
            join = leave + rng.below(2 * config.grace_ms as u64 + 1) as i64;
            emit(event(join, Kind::Join, Some(arm), 0.0));
        }
    }
    for k in 0..config.unexposed_purchases {
        let session = (k % config.streams as u64) as u32;
        emit(SimEvent {
            ts: start(session) + 1000 + k as i64,
            session,
            viewer: config.viewers + k,
            kind: Kind::Purchase,
            arm: None,
            amount: 10.0,
        });
    }
    for session in 0..config.streams.saturating_sub(config.live_streams) {
        let ts = start(session) + config.stream_length_ms;
        emit(SimEvent { ts, session, viewer: u64::MAX, kind: Kind::StreamEnd, arm: None, amount: 0.0 });
    }
}

/// The log as a `ParsedLog`, without JSON (for tests that need many seeds).
pub fn parsed_log(config: &SimConfig) -> ParsedLog {
    let mut log = ParsedLog::default();
    generate(config, |e| {
        let session = format!("s{}", e.session);
        let viewer = (e.viewer != u64::MAX).then(|| format!("v{}", e.viewer));
        let arm = e.arm.map(|a| config.arms[a].name.as_bytes());
        log.push_event(e.ts, session.as_bytes(), viewer.as_deref().map(str::as_bytes), e.kind, arm, e.amount);
    });
    log
}

/// One event as a §1 line.
pub fn write_event(config: &SimConfig, e: &SimEvent, out: &mut impl Write) -> std::io::Result<()> {
    let kind = e.kind.name();
    match (e.kind, e.arm) {
        (Kind::StreamEnd, _) => writeln!(out, r#"{{"ts":{},"session_id":"s{}","kind":"{kind}"}}"#, e.ts, e.session),
        (Kind::Join, Some(arm)) => writeln!(
            out,
            r#"{{"ts":{},"session_id":"s{}","viewer_id":"v{}","kind":"join","variant":"{}"}}"#,
            e.ts, e.session, e.viewer, config.arms[arm].name
        ),
        (Kind::Purchase, _) => writeln!(
            out,
            r#"{{"ts":{},"session_id":"s{}","viewer_id":"v{}","kind":"purchase","amount":{}}}"#,
            e.ts, e.session, e.viewer, e.amount
        ),
        _ => writeln!(
            out,
            r#"{{"ts":{},"session_id":"s{}","viewer_id":"v{}","kind":"{kind}"}}"#,
            e.ts, e.session, e.viewer
        ),
    }
}

/// The log as §1 JSON Lines; returns the number of lines.
pub fn write_jsonl(config: &SimConfig, out: &mut impl Write) -> std::io::Result<u64> {
    let mut lines = 0u64;
    let mut result = Ok(());
    generate(config, |e| {
        if result.is_ok() {
            lines += 1;
            result = write_event(config, &e, out);
        }
    });
    result.map(|_| lines)
}
