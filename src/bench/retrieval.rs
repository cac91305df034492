//! `liveroom bench retrieval`: end-to-end retrieval latency (query embedding,
//! full-text search in Postgres, vector scan, fusion, entry details) for one
//! brand's catalogue of 100, 10,000 and 100,000 entries, and the encoder's
//! time per comment.
//!
//! Catalogues are made from the labelled retrieval set (tests/data/retrieval):
//! its products are copied with new ids, names and aliases until the brand
//! has the wanted number of entries; copy 0 keeps the original names. Every
//! entry keeps its own vectors in the index, so the vector scan covers every
//! entry (distinct texts are embedded once at import, which only makes the
//! import quicker). The queries are the labelled ones with copy 0 on stage,
//! so recall is reported beside latency: a larger catalogue must not bury the
//! right answer.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde_json::json;

use super::{median, percentile, round};
use crate::cli::DbArgs;
use crate::db::Database;
use crate::eval::retrieval::Query;
use crate::knowledge::catalog::Product;
use crate::knowledge::store::{self, Edit};
use crate::knowledge::{Mode, Retriever};

#[derive(Debug, Args, Clone)]
pub struct RetrievalBenchArgs {
    /// Catalogue sizes in entries.
    #[arg(long, value_delimiter = ',', default_values_t = [100usize, 10_000, 100_000])]
    pub sizes: Vec<usize>,
    /// Timed passes over the query set per size (after one warm-up pass).
    #[arg(long, default_value_t = 2)]
    pub passes: usize,
    /// The labelled retrieval set.
    #[arg(long, default_value = "tests/data/retrieval")]
    pub data: PathBuf,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Product ids are global: each catalogue's copy 0 gets the original id with this suffix.
fn own_id(id: &str, size: usize) -> String {
    format!("{id}-s{size}")
}

/// A labelled entry key in the catalogue of `size` (synthesised keys name their product).
fn own_key(key: &str, size: usize) -> String {
    match key.split_once('#') {
        Some((product, rest)) => format!("{}#{rest}", own_id(product, size)),
        None => key.to_string(),
    }
}

/// Products copied from `base` until their entries reach `entries`.
fn catalogue_of(base: &[Product], entries: usize) -> Vec<Product> {
    let mut out = Vec::new();
    let mut total = 0;
    let mut copy = 0;
    'outer: loop {
        for p in base {
            if total >= entries {
                break 'outer;
            }
            let mut q = p.clone();
            q.brand_id = None;
            q.id = own_id(&p.id, entries);
            if copy > 0 {
                q.id = format!("{}-c{copy}", own_id(&p.id, entries));
                q.name = format!("{} {copy}号款", p.name);
                q.name_en = p.name_en.as_ref().map(|n| format!("{n} No.{copy}"));
                q.aliases = p.aliases.iter().map(|a| format!("{a}{copy}号")).collect();
                for f in &mut q.faq {
                    f.id = f.id.as_ref().map(|id| format!("{id}-c{copy}"));
                }
            }
            let n = crate::knowledge::entries_of(&q).len();
            // the last product may overshoot a small catalogue; trim its FAQ to fit
            if total + n > entries && copy == 0 && entries < 1000 {
                let keep = entries.saturating_sub(total + n - q.faq.len());
                q.faq.truncate(keep);
            }
            total += crate::knowledge::entries_of(&q).len();
            out.push(q);
        }
        copy += 1;
    }
    out
}

pub async fn run(args: RetrievalBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(!args.sizes.is_empty() && args.passes >= 1, "need at least one size and one pass");
    let (catalog, queries) = crate::eval::retrieval::load(&args.data)?;

    let database = Database::open(args.db.database_url.as_deref(), &args.db.data_dir).await?;
    let url = crate::db::sibling_database_url(&database.url, "benchret")?;
    crate::db::recreate_database(&database.url, &url, true).await?;
    let pool = crate::db::connect(&url, 4).await?;
    crate::db::migrate(&pool).await?;
    let retriever = Retriever::new(pool.clone());
    anyhow::ensure!(retriever.mode() == Mode::Hybrid, "the sentence encoder is not set up: run models/setup.sh");
    let embedder = crate::embed::Embedder::shared()?;

    // the encoder alone, one comment at a time on one thread
    let mut embed_ms = Vec::new();
    for q in queries.iter().chain(queries.iter()) {
        let t = Instant::now();
        embedder.embed(&q.query)?;
        embed_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let embed_median = median(&embed_ms);
    println!(
        "bench retrieval: sentence encoder {:.3} ms per comment (median of {}), p99 {:.3} ms",
        embed_median,
        embed_ms.len(),
        percentile(&mut embed_ms.clone(), 99.0)
    );

    let mut p99s = serde_json::Map::new();
    let mut p50s = serde_json::Map::new();
    let mut recalls = serde_json::Map::new();
    for &size in &args.sizes {
        let brand = format!("bench{size}");
        let products = catalogue_of(&catalog.products, size);
        let t = Instant::now();
        let edit = Edit {
            brand: Some(crate::knowledge::catalog::Brand {
                id: brand.clone(),
                name: brand.clone(),
                name_en: None,
                forbidden_claims: Vec::new(),
            }),
            create_brand: true,
            upserts: products.clone(),
            summary: "bench catalogue".into(),
            ..Default::default()
        };
        store::apply(&pool, &brand, "bench", edit).await?;
        let import_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let index = retriever.index(&brand, None).await?;
        let (entries, vectors) = (index.entries, index.vectors.len());
        let kind = match (index.vectors.is_quantized(), index.vectors.is_prefiltered()) {
            (false, _) => "f32",
            (true, false) => "int8",
            (true, true) => "int8, sign-bit prefilter",
        };
        println!(
            "size {size}: {} products, {entries} entries, {vectors} vectors ({}); import {import_s:.1} s, index load {:.1} s",
            products.len(),
            kind,
            t.elapsed().as_secs_f64()
        );
        let keys: HashMap<i64, String> = crate::knowledge::entry_keys(&pool, &brand).await?;
        // queries whose product on stage is in this catalogue
        let ids: std::collections::HashSet<&str> = products.iter().map(|p| p.id.as_str()).collect();
        let usable: Vec<Query> = queries
            .iter()
            .filter_map(|q| {
                let on_stage = own_id(q.product_on_stage.as_deref()?, size);
                ids.contains(on_stage.as_str()).then(|| Query {
                    product_on_stage: Some(on_stage),
                    relevant: q.relevant.iter().map(|k| own_key(k, size)).collect(),
                    ..q.clone()
                })
            })
            .collect();
        let mut latencies = Vec::new();
        let (mut hit1, mut hit5) = (0usize, 0usize);
        for pass in 0..=args.passes {
            for q in &usable {
                let t = Instant::now();
                // the version pinned, as a room does
                let hits =
                    retriever.retrieve(&brand, Some(index.version), q.product_on_stage.as_deref(), &q.query).await?;
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                if pass == 0 {
                    let rank = hits.iter().position(|h| keys.get(&h.entry_id).is_some_and(|k| q.relevant.contains(k)));
                    hit1 += usize::from(rank == Some(0));
                    hit5 += usize::from(rank.is_some());
                } else {
                    latencies.push(ms);
                }
            }
        }
        // where the time goes: each method alone, one pass
        let mut parts = Vec::new();
        for (mode, name) in [(Mode::Fts, "full-text only"), (Mode::Vector, "vector only (with embedding)")] {
            let mut ms = Vec::new();
            for q in &usable {
                let t = Instant::now();
                retriever
                    .retrieve_with(mode, &brand, Some(index.version), q.product_on_stage.as_deref(), &q.query)
                    .await?;
                ms.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            parts.push(format!("{name} p50 {:.2} ms", percentile(&mut ms, 50.0)));
        }
        println!("size {size}: {}", parts.join(", "));
        let p50 = percentile(&mut latencies, 50.0);
        let p99 = percentile(&mut latencies, 99.0);
        let n = usable.len().max(1) as f64;
        println!(
            "size {size}: {} queries x {} passes: p50 {p50:.2} ms, p99 {p99:.2} ms, max {:.2} ms; hybrid recall@1 {:.3}, recall@5 {:.3}",
            usable.len(),
            args.passes,
            latencies.last().copied().unwrap_or(f64::NAN),
            hit1 as f64 / n,
            hit5 as f64 / n
        );
        p99s.insert(size.to_string(), json!(round(p99, 2)));
        p50s.insert(size.to_string(), json!(round(p50, 2)));
        recalls.insert(
            size.to_string(),
            json!({"recall_at_1": round(hit1 as f64 / n, 3), "recall_at_5": round(hit5 as f64 / n, 3)}),
        );
    }
    drop(retriever);
    pool.close().await;
    if std::env::var("LIVEROOM_BENCH_KEEP_DB").is_ok() {
        println!("kept the benchmark database: {url}");
    } else {
        crate::db::recreate_database(&database.url, &url, false).await?;
    }
    println!(
        "{}",
        json!({"p99_ms": p99s, "p50_ms": p50s, "embed_ms_per_comment": round(embed_median, 3), "recall": recalls})
    );
    Ok(())
}
