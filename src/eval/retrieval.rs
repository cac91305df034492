//! `liveroom eval retrieval`: recall@1, recall@5 and MRR of full-text,
//! vector and hybrid retrieval over the labelled queries in
//! `tests/data/retrieval` (catalogue + queries with a tune/held-out split).
//! The headline is the held-out split, never used for tuning.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use serde_json::json;

use crate::bench::round;
use crate::cli::DbArgs;
use crate::db::Database;
use crate::knowledge::{Catalog, Mode, Retriever};

#[derive(Debug, Args, Clone)]
pub struct RetrievalEvalArgs {
    /// Folder with catalog.json and queries.jsonl.
    #[arg(long, default_value = "tests/data/retrieval")]
    pub data: PathBuf,
    #[command(flatten)]
    pub db: DbArgs,
}

/// A labelled query of `queries.jsonl`.
#[derive(Debug, Clone, Deserialize)]
pub struct Query {
    pub id: String,
    pub query: String,
    pub product_on_stage: Option<String>,
    /// Entry keys that answer it.
    pub relevant: Vec<String>,
    pub split: String,
    #[serde(default)]
    pub style: String,
}

/// The labelled set in `dir`: its catalogue and its queries.
pub fn load(dir: &std::path::Path) -> anyhow::Result<(Catalog, Vec<Query>)> {
    let catalog: Catalog =
        serde_json::from_str(&std::fs::read_to_string(dir.join("catalog.json")).context("cannot read catalog.json")?)
            .context("catalog.json does not parse")?;
    let queries: Vec<Query> = std::fs::read_to_string(dir.join("queries.jsonl"))
        .context("cannot read queries.jsonl")?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).with_context(|| format!("bad query line: {l}")))
        .collect::<anyhow::Result<_>>()?;
    Ok((catalog, queries))
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Metrics {
    pub queries: usize,
    pub hits_at_1: usize,
    pub hits_at_5: usize,
    pub reciprocal_rank_sum: f64,
}

impl Metrics {
    fn add(&mut self, rank: Option<usize>) {
        self.queries += 1;
        if let Some(r) = rank {
            if r == 1 {
                self.hits_at_1 += 1;
            }
            if r <= 5 {
                self.hits_at_5 += 1;
            }
            self.reciprocal_rank_sum += 1.0 / r as f64;
        }
    }

    pub fn recall_at_1(&self) -> f64 {
        self.hits_at_1 as f64 / self.queries.max(1) as f64
    }

    pub fn recall_at_5(&self) -> f64 {
        self.hits_at_5 as f64 / self.queries.max(1) as f64
    }

    pub fn mrr(&self) -> f64 {
        self.reciprocal_rank_sum / self.queries.max(1) as f64
    }

    fn json(&self) -> serde_json::Value {
        json!({"recall_at_1": round(self.recall_at_1(), 4), "recall_at_5": round(self.recall_at_5(), 4), "mrr": round(self.mrr(), 4)})
    }
}

const MODES: [(Mode, &str); 3] = [(Mode::Fts, "fts"), (Mode::Vector, "vector"), (Mode::Hybrid, "hybrid")];

pub async fn run(args: RetrievalEvalArgs) -> anyhow::Result<()> {
    let (catalog, queries) = load(&args.data)?;
    let brand_of: HashMap<&str, &str> =
        catalog.products.iter().map(|p| (p.id.as_str(), p.brand_id.as_deref().unwrap_or(""))).collect();

    let database = Database::open(args.db.database_url.as_deref(), &args.db.data_dir).await?;
    let url = crate::db::sibling_database_url(&database.url, "eval")?;
    crate::db::recreate_database(&database.url, &url, true).await?;
    let pool = crate::db::connect(&url, 4).await?;
    crate::db::migrate(&pool).await?;
    let t = std::time::Instant::now();
    crate::knowledge::import_catalog(&pool, &catalog, "eval").await?;
    println!(
        "imported {} products of {} brands in {:.1} s",
        catalog.products.len(),
        catalog.all_brands().len(),
        t.elapsed().as_secs_f64()
    );
    let retriever = Retriever::new(pool.clone());
    anyhow::ensure!(retriever.mode() == Mode::Hybrid, "the sentence encoder is not set up: run models/setup.sh");
    let mut keys: HashMap<i64, String> = HashMap::new();
    for b in catalog.all_brands() {
        keys.extend(crate::knowledge::entry_keys(&pool, &b.id).await?);
    }

    // split -> mode -> metrics; and held-out by style for hybrid
    let mut table: BTreeMap<(String, &str), Metrics> = BTreeMap::new();
    let mut by_style: BTreeMap<String, Metrics> = BTreeMap::new();
    for q in &queries {
        let on_stage = q.product_on_stage.as_deref();
        let brand = on_stage.and_then(|p| brand_of.get(p)).copied().unwrap_or("");
        for (mode, name) in MODES {
            let hits = retriever.retrieve_with(mode, brand, None, on_stage, &q.query).await?;
            let rank =
                hits.iter().position(|h| keys.get(&h.entry_id).is_some_and(|k| q.relevant.contains(k))).map(|i| i + 1);
            table.entry((q.split.clone(), name)).or_default().add(rank);
            if mode == Mode::Hybrid
                && q.split == "tune"
                && rank != Some(1)
                && std::env::var("LIVEROOM_EVAL_SHOW_MISSES").is_ok()
            {
                let got: Vec<&str> =
                    hits.iter().take(3).filter_map(|h| keys.get(&h.entry_id).map(String::as_str)).collect();
                println!(
                    "miss {} [{}] {:?} on {:?}: want {:?}, got {:?}",
                    q.id, q.style, q.query, on_stage, q.relevant, got
                );
            }
            if mode == Mode::Hybrid && q.split == "heldout" {
                by_style.entry(q.style.clone()).or_default().add(rank);
            }
        }
    }
    println!("{:<8} {:<7} {:>7} {:>9} {:>9} {:>7}", "split", "method", "queries", "recall@1", "recall@5", "MRR");
    for ((split, mode), m) in &table {
        println!(
            "{split:<8} {mode:<7} {:>7} {:>9.3} {:>9.3} {:>7.3}",
            m.queries,
            m.recall_at_1(),
            m.recall_at_5(),
            m.mrr()
        );
    }
    println!("held-out, hybrid, by style:");
    for (style, m) in &by_style {
        println!(
            "  {style:<14} {:>4} queries  recall@1 {:.3}  recall@5 {:.3}",
            m.queries,
            m.recall_at_1(),
            m.recall_at_5()
        );
    }
    pool.close().await;
    crate::db::recreate_database(&database.url, &url, false).await?;
    let heldout = |name: &str| table.get(&("heldout".to_string(), name)).copied().unwrap_or_default().json();
    println!(
        "{}",
        json!({"heldout": {"fts": heldout("fts"), "vector": heldout("vector"), "hybrid": heldout("hybrid")}})
    );
    Ok(())
}
