//! `liveroom eval triage`: the comment-triage intent model on the held-out
//! split of `tests/data/triage/comments.jsonl` (never used for training):
//! accuracy, macro-F1 and per-class F1 of the fp32 and int8 graphs and of
//! the keyword rules, and the model's latency per comment, one comment per
//! run and batched, on one thread.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use serde_json::json;

use crate::bench::{median, round};
use crate::events::Intent;
use crate::triage::{OnnxTriager, Precision, RuleTriager, Triager};

#[derive(Debug, Args, Clone)]
pub struct TriageEvalArgs {
    /// The labelled comments (JSON lines with text, intent, split).
    #[arg(long, default_value = "tests/data/triage/comments.jsonl")]
    pub data: PathBuf,
    /// Comments per model run in the batched measurement.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Timing rounds over the held-out split; the medians are reported.
    #[arg(long, default_value_t = 5)]
    pub rounds: usize,
}

#[derive(Debug, Deserialize)]
struct Row {
    text: String,
    intent: Intent,
    split: String,
}

pub const INTENTS: [Intent; 10] = [
    Intent::ProductQuestion,
    Intent::PriceAsk,
    Intent::StockAsk,
    Intent::PurchaseIntent,
    Intent::Complaint,
    Intent::Praise,
    Intent::Greeting,
    Intent::Spam,
    Intent::Abuse,
    Intent::Other,
];

/// Per-class F1 (in `INTENTS` order), macro-F1 and accuracy.
pub fn scores(gold: &[Intent], predicted: &[Intent]) -> (Vec<f64>, f64, f64) {
    let per_class: Vec<f64> = INTENTS
        .iter()
        .map(|&c| {
            let tp = gold.iter().zip(predicted).filter(|(g, p)| **g == c && **p == c).count() as f64;
            let predicted_c = predicted.iter().filter(|p| **p == c).count() as f64;
            let gold_c = gold.iter().filter(|g| **g == c).count() as f64;
            if tp == 0.0 { 0.0 } else { 2.0 * tp / (predicted_c + gold_c) }
        })
        .collect();
    let macro_f1 = per_class.iter().sum::<f64>() / per_class.len() as f64;
    let correct = gold.iter().zip(predicted).filter(|(g, p)| g == p).count();
    (per_class, macro_f1, correct as f64 / gold.len().max(1) as f64)
}

fn intent_name(i: Intent) -> String {
    serde_json::to_value(i).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
}

pub fn load_rows(path: &PathBuf, split: &str) -> anyhow::Result<Vec<(String, Intent)>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let row: Row = serde_json::from_str(line).with_context(|| format!("{}:{}", path.display(), n + 1))?;
        if row.split == split {
            rows.push((row.text, row.intent));
        }
    }
    Ok(rows)
}

struct Measured {
    per_class: Vec<f64>,
    macro_f1: f64,
    accuracy: f64,
    ms_single: f64,
    ms_batched: f64,
    macro_f1_batched: f64,
    name: String,
}

/// One timing round of `model` over `rows`: ms per comment one per run and
/// batched, and the predictions of both.
fn time_round(
    model: &OnnxTriager,
    rows: &[(String, Intent)],
    batch: usize,
) -> anyhow::Result<(f64, f64, Vec<Intent>, Vec<Intent>)> {
    let start = Instant::now();
    let mut single = Vec::with_capacity(rows.len());
    for (text, _) in rows {
        single.push(model.classify_one(text)?.intent);
    }
    let single_ms = start.elapsed().as_secs_f64() * 1000.0 / rows.len() as f64;
    let start = Instant::now();
    let mut batched = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(batch.max(1)) {
        let texts: Vec<&str> = chunk.iter().map(|r| r.0.as_str()).collect();
        batched.extend(model.classify_batch(&texts)?.into_iter().map(|c| c.intent));
    }
    let batched_ms = start.elapsed().as_secs_f64() * 1000.0 / rows.len() as f64;
    Ok((single_ms, batched_ms, single, batched))
}

/// Both graphs, timed in alternating rounds (fp32, int8, fp32, ...) so
/// that a busy spell of the machine hits both alike.
fn measure_both(rows: &[(String, Intent)], args: &TriageEvalArgs) -> anyhow::Result<Vec<Measured>> {
    let dir = crate::embed::models_dir();
    let models = [OnnxTriager::load(&dir, Precision::Fp32, 1)?, OnnxTriager::load(&dir, Precision::Int8, 1)?];
    let gold: Vec<Intent> = rows.iter().map(|r| r.1).collect();
    for model in &models {
        for (text, _) in rows.iter().take(50) {
            model.classify_one(text)?; // warm up
        }
    }
    let mut times: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); 2];
    let mut predictions: Vec<(Vec<Intent>, Vec<Intent>)> = vec![(Vec::new(), Vec::new()); 2];
    for round_no in 0..args.rounds.max(1) {
        for (i, model) in models.iter().enumerate() {
            let (single_ms, batched_ms, single, batched) = time_round(model, rows, args.batch)?;
            times[i].0.push(single_ms);
            times[i].1.push(batched_ms);
            if round_no == 0 {
                predictions[i] = (single, batched);
            }
        }
    }
    let mut out = Vec::new();
    for (i, model) in models.iter().enumerate() {
        let (single_ms, batched_ms) = &times[i];
        println!(
            "{}: single {} ms/comment (rounds {:?}), batch of {} {} ms/comment (rounds {:?})",
            model.name(),
            round(median(single_ms), 3),
            single_ms.iter().map(|x| round(*x, 3)).collect::<Vec<_>>(),
            args.batch,
            round(median(batched_ms), 3),
            batched_ms.iter().map(|x| round(*x, 3)).collect::<Vec<_>>()
        );
        let (per_class, macro_f1, accuracy) = scores(&gold, &predictions[i].0);
        let (_, macro_f1_batched, _) = scores(&gold, &predictions[i].1);
        out.push(Measured {
            per_class,
            macro_f1,
            accuracy,
            ms_single: median(single_ms),
            ms_batched: median(batched_ms),
            macro_f1_batched,
            name: model.name().to_string(),
        });
    }
    Ok(out)
}

pub async fn run(args: TriageEvalArgs) -> anyhow::Result<()> {
    let rows = load_rows(&args.data, "heldout")?;
    anyhow::ensure!(!rows.is_empty(), "no held-out rows in {}", args.data.display());
    println!("held-out comments: {} ({})", rows.len(), args.data.display());
    let gold: Vec<Intent> = rows.iter().map(|r| r.1).collect();
    let rules: Vec<Intent> = rows.iter().map(|r| RuleTriager.classify(&r.0).0).collect();
    let (rules_per_class, rules_f1, rules_acc) = scores(&gold, &rules);
    let mut measured = measure_both(&rows, &args)?;
    let int8 = measured.pop().context("int8 result")?;
    let fp32 = measured.pop().context("fp32 result")?;

    println!();
    println!("{:<18} {:>8} {:>8} {:>8}", "F1 per class", "fp32", "int8", "rules");
    for (i, c) in INTENTS.iter().enumerate() {
        println!(
            "{:<18} {:>8.3} {:>8.3} {:>8.3}",
            intent_name(*c),
            fp32.per_class[i],
            int8.per_class[i],
            rules_per_class[i]
        );
    }
    println!("{:<18} {:>8.3} {:>8.3} {:>8.3}", "macro-F1", fp32.macro_f1, int8.macro_f1, rules_f1);
    println!("{:<18} {:>8.3} {:>8.3} {:>8.3}", "accuracy", fp32.accuracy, int8.accuracy, rules_acc);
    println!("{:<18} {:>8.3} {:>8.3} {:>8}", "ms/comment (1)", fp32.ms_single, int8.ms_single, "-");
    println!(
        "{:<18} {:>8.3} {:>8.3} {:>8}",
        format!("ms/comment ({})", args.batch),
        fp32.ms_batched,
        int8.ms_batched,
        "-"
    );
    println!(
        "{:<18} {:>8.3} {:>8.3} {:>8}",
        format!("macro-F1 ({})", args.batch),
        fp32.macro_f1_batched,
        int8.macro_f1_batched,
        "-"
    );
    println!("rules baseline ({}): macro-F1 {:.3}, accuracy {:.3}", RuleTriager.name(), rules_f1, rules_acc);
    let speedup = fp32.ms_single / int8.ms_single;
    let drop = (fp32.macro_f1 - int8.macro_f1) * 100.0;
    println!("int8 vs fp32: {:.2}x faster per comment (one per run), macro-F1 {:+.2} points", speedup, -drop);
    let side = |m: &Measured| {
        json!({
            "macro_f1": round(m.macro_f1, 4),
            "accuracy": round(m.accuracy, 4),
            "ms_per_comment": round(m.ms_single, 3),
            "ms_per_comment_batched": round(m.ms_batched, 3),
            "comments_per_s_one_thread": round(1000.0 / m.ms_single, 1),
            "classifier": m.name,
        })
    };
    println!(
        "{}",
        json!({
            "fp32": side(&fp32),
            "int8": side(&int8),
            "rules": {"macro_f1": round(rules_f1, 4), "accuracy": round(rules_acc, 4)},
            "speedup": round(speedup, 2),
            "f1_drop_points": round(drop, 2),
            "heldout": rows.len(),
        })
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macro_f1_of_a_known_confusion() {
        use Intent::*;
        let gold = [PriceAsk, PriceAsk, Spam, Other];
        let pred = [PriceAsk, Spam, Spam, Other];
        let (per_class, macro_f1, acc) = scores(&gold, &pred);
        assert!((per_class[1] - 2.0 / 3.0).abs() < 1e-9); // price: tp 1, 1 predicted, 2 gold
        assert!((per_class[7] - 2.0 / 3.0).abs() < 1e-9); // spam: tp 1, 2 predicted, 1 gold
        assert_eq!(per_class[9], 1.0);
        assert!((macro_f1 - (2.0 / 3.0 * 2.0 + 1.0) / 10.0).abs() < 1e-9);
        assert_eq!(acc, 0.75);
    }
}
