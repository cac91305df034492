//! Short-video mode: a timed script of utterances, camera shots and product
//! facts for an offline render. With an LLM configured the voice-over is
//! generated (prompt `video_script`) and every sentence is grounded against
//! the product's knowledge entries (a sentence with an unsupported figure is
//! dropped and reported); otherwise, or when generation fails, the script is
//! built from the product's pitch and facts (templates).

use std::process::ExitCode;

use clap::Args;
use serde::Serialize;
use sqlx::PgPool;

use crate::events::{Lang, RetrievedEntry};
use crate::knowledge::entries::EntryKind;
use crate::llm::{LlmClient, grounding, prompts};
use crate::render::estimate_duration_ms;

/// A product and its knowledge, as the script is built from them.
#[derive(Debug, Clone)]
pub struct VideoProduct {
    pub product_id: String,
    pub brand_id: String,
    pub name: String,
    pub name_en: Option<String>,
    pub pitch: Vec<String>,
    pub entries: Vec<RetrievedEntry>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Cue {
    /// Switch the camera at `at_ms`.
    Shot { at_ms: i64, shot: String },
    /// The host says `text` from `at_ms` for `duration_ms`.
    Say { at_ms: i64, duration_ms: i64, text: String },
    /// Show a knowledge fact on screen while the sentence that states it is spoken.
    Fact { at_ms: i64, duration_ms: i64, entry_id: i64, text: String },
}

/// Where a script's sentences come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ScriptSource {
    /// Generated and grounded.
    Llm,
    /// The product's pitch and facts.
    Template,
}

#[derive(Debug, Clone, Serialize)]
pub struct VideoScript {
    pub product_id: String,
    pub product_name: String,
    pub lang: Lang,
    pub source: ScriptSource,
    pub prompt_version: Option<String>,
    /// Why the LLM was not used, when it was configured and failed.
    pub llm_error: Option<String>,
    /// Generated sentences left out for stating figures no fact supports.
    pub dropped: Vec<String>,
    pub duration_ms: i64,
    pub cues: Vec<Cue>,
}

#[derive(Debug, Args)]
pub struct VideoScriptArgs {
    /// The product id.
    pub product: String,
    /// `zh` or `en`.
    #[arg(long, default_value = "zh")]
    pub lang: String,
    #[command(flatten)]
    pub db: crate::cli::DbArgs,
    #[command(flatten)]
    pub llm: crate::llm::LlmArgs,
}

pub fn parse_lang(lang: &str) -> Option<Lang> {
    match lang {
        "zh" => Some(Lang::Zh),
        "en" => Some(Lang::En),
        _ => None,
    }
}

/// The product with its knowledge entries at its brand's current knowledge
/// version (after a price change, only the new price); `None` if there is no
/// such product.
pub async fn load_product(pool: &PgPool, product_id: &str) -> anyhow::Result<Option<VideoProduct>> {
    let Some(stored) = crate::knowledge::store::product_knowledge(pool, product_id).await? else {
        return Ok(None);
    };
    let entries = stored
        .entries
        .into_iter()
        .map(|e| RetrievedEntry {
            entry_id: e.entry_id,
            product_id: Some(stored.product_id.clone()),
            product_name: Some(stored.name.clone()),
            kind: e.kind,
            answer: e.answer,
            answer_en: e.answer_en,
            score: 1.0,
            reason: "product".into(),
        })
        .collect();
    Ok(Some(VideoProduct {
        product_id: stored.product_id,
        brand_id: stored.brand_id,
        name: stored.name,
        name_en: stored.name_en,
        pitch: stored.pitch.into_iter().flat_map(|segment| segment.sentences).collect(),
        entries,
    }))
}

fn fact_text(e: &RetrievedEntry, lang: Lang) -> String {
    match (lang, &e.answer_en) {
        (Lang::En, Some(en)) => en.clone(),
        _ => e.answer.clone(),
    }
}

/// The template voice-over: the pitch's first sentences, the price fact,
/// a call to order.
pub fn template_sentences(p: &VideoProduct, lang: Lang) -> Vec<String> {
    let mut out = Vec::new();
    match lang {
        Lang::Zh => {
            out.push(format!("今天给大家带来{}！", p.name));
            out.extend(p.pitch.iter().take(4).cloned());
        }
        Lang::En => out.push(format!("Meet the {}!", p.name_en.as_deref().unwrap_or(&p.name))),
    }
    if let Some(price) = p.entries.iter().find(|e| e.kind == EntryKind::Price.as_str()) {
        out.push(fact_text(price, lang));
    }
    for e in p.entries.iter().filter(|e| e.kind == "selling_point").take(if lang == Lang::En { 3 } else { 1 }) {
        out.push(fact_text(e, lang));
    }
    out.push(match lang {
        Lang::Zh => "喜欢的朋友点击下方链接下单吧！".to_string(),
        Lang::En => "Tap the link below to order!".to_string(),
    });
    out
}

/// Sentences laid out in time.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub cues: Vec<Cue>,
    /// From the first cue to the end of the last sentence.
    pub duration_ms: i64,
}

/// Lay sentences out on a timeline: a shot per part (hook, body, call to
/// order), and the fact each figure-bearing sentence states.
pub fn timeline(p: &VideoProduct, lang: Lang, sentences: &[String]) -> Timeline {
    let mut cues = Vec::new();
    let mut at = 0;
    let mut shot = String::new();
    let last = sentences.len().saturating_sub(1);
    for (i, text) in sentences.iter().enumerate() {
        let figures = grounding::figures(text);
        let want = if i == 0 || i == last {
            "host_closeup"
        } else if !figures.is_empty() {
            "product_detail"
        } else {
            "product"
        };
        if want != shot {
            shot = want.to_string();
            cues.push(Cue::Shot { at_ms: at, shot: shot.clone() });
        }
        let duration_ms = estimate_duration_ms(text, lang, 1.0);
        cues.push(Cue::Say { at_ms: at, duration_ms, text: text.clone() });
        // the fact on screen: the entry sharing the most figures with their
        // units (299元, 1.5mm), the product's own name left out (3L in 电饭煲 3L)
        let said = quantities(text, p);
        let best = p
            .entries
            .iter()
            .map(|e| {
                let known = [quantities(&e.answer, p), quantities(e.answer_en.as_deref().unwrap_or(""), p)].concat();
                (said.iter().filter(|q| known.contains(q)).count(), e)
            })
            .filter(|(shared, _)| *shared > 0)
            .max_by_key(|(shared, e)| (*shared, std::cmp::Reverse(e.entry_id)));
        if let Some((_, e)) = best {
            cues.push(Cue::Fact { at_ms: at, duration_ms, entry_id: e.entry_id, text: fact_text(e, lang) });
        }
        at += duration_ms + 250;
    }
    Timeline { cues, duration_ms: (at - 250).max(0) }
}

/// A figure with its unit, as sentences and facts are matched by them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Quantity {
    /// The value in thousandths (1.5 -> 1500), so equal figures compare equal.
    milli: i64,
    /// The letter (or %) right after the figure: 元 in 299元, m in 1.5mm.
    unit: Option<char>,
}

/// The figures of `text` with the character after each (its unit), the
/// product's names taken out first.
fn quantities(text: &str, p: &VideoProduct) -> Vec<Quantity> {
    let mut t = text.replace(&p.name, " ");
    if let Some(en) = &p.name_en {
        t = t.replace(en.as_str(), " ");
    }
    let mut out = Vec::new();
    let mut from = 0;
    for f in grounding::figures(&t) {
        let Some(at) = t[from..].find(&f.raw).map(|i| i + from) else { continue };
        from = at + f.raw.len();
        let unit = t[from..].chars().next().filter(|c| c.is_alphabetic() || *c == '%');
        out.push(Quantity { milli: (f.value * 1000.0).round() as i64, unit });
    }
    out
}

/// Build the script: generated when `llm` is given (falling back to the
/// template when it fails or nothing survives grounding), else templates.
pub async fn build(p: &VideoProduct, lang: Lang, llm: Option<&LlmClient>) -> VideoScript {
    let mut source = ScriptSource::Template;
    let mut prompt_version = None;
    let mut llm_error = None;
    let mut dropped = Vec::new();
    let mut sentences = template_sentences(p, lang);
    if let Some(client) = llm {
        let request = prompts::video_script(&p.brand_id, lang, &p.name, &p.entries);
        match client.complete(&request).await {
            Ok(generated) => {
                let mut facts: Vec<String> = p
                    .entries
                    .iter()
                    .flat_map(|e| std::iter::once(e.answer.clone()).chain(e.answer_en.clone()))
                    .collect();
                facts.push(p.name.clone());
                facts.extend(p.name_en.clone());
                let mut kept = Vec::new();
                for s in generated {
                    let unsupported = grounding::unsupported(&s, &facts, &[]);
                    match crate::llm::check::check_output(&s, &[]) {
                        _ if !unsupported.is_empty() => dropped.push(s),
                        crate::llm::check::OutputVerdict::Pass => kept.push(s),
                        crate::llm::check::OutputVerdict::Rewrite { text, .. } => kept.push(text),
                        crate::llm::check::OutputVerdict::Block { .. } => dropped.push(s),
                    }
                }
                if kept.is_empty() {
                    llm_error = Some("no generated sentence passed the checks".into());
                } else {
                    sentences = kept;
                    source = ScriptSource::Llm;
                    prompt_version = Some(request.prompt_version.clone());
                }
            }
            Err(e) => llm_error = Some(e),
        }
    }
    let Timeline { cues, duration_ms } = timeline(p, lang, &sentences);
    VideoScript {
        product_id: p.product_id.clone(),
        product_name: p.name.clone(),
        lang,
        source,
        prompt_version,
        llm_error,
        dropped,
        duration_ms,
        cues,
    }
}

pub async fn run_cli(args: VideoScriptArgs) -> anyhow::Result<ExitCode> {
    let Some(lang) = parse_lang(&args.lang) else { anyhow::bail!("--lang must be zh or en") };
    let database = crate::db::Database::open(args.db.database_url.as_deref(), &args.db.data_dir).await?;
    let pool = database.pool(2).await?;
    crate::db::migrate(&pool).await?;
    let Some(product) = load_product(&pool, &args.product).await? else {
        anyhow::bail!(
            "no product {:?} in the knowledge base (import a catalogue first, e.g. run the demo once)",
            args.product
        )
    };
    let client = args.llm.config().map(LlmClient::new);
    let script = build(&product, lang, client.as_ref()).await;
    for cue in &script.cues {
        match cue {
            Cue::Shot { at_ms, shot } => println!("{:>6.1}s  [shot] {shot}", *at_ms as f64 / 1000.0),
            Cue::Say { at_ms, duration_ms, text } => {
                println!("{:>6.1}s  [say {:.1}s] {text}", *at_ms as f64 / 1000.0, *duration_ms as f64 / 1000.0)
            }
            Cue::Fact { at_ms, entry_id, text, .. } => {
                println!("{:>6.1}s  [fact #{entry_id}] {text}", *at_ms as f64 / 1000.0)
            }
        }
    }
    if let Some(e) = &script.llm_error {
        eprintln!("LLM not used: {e}");
    }
    println!("{}", serde_json::to_string(&script)?);
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product() -> VideoProduct {
        let entry = |id, kind: &str, answer: &str| RetrievedEntry {
            entry_id: id,
            product_id: Some("p".into()),
            product_name: Some("云栖面霜".into()),
            kind: kind.into(),
            answer: answer.into(),
            answer_en: None,
            score: 1.0,
            reason: String::new(),
        };
        VideoProduct {
            product_id: "p".into(),
            brand_id: "b".into(),
            name: "云栖面霜".into(),
            name_en: None,
            pitch: vec!["一抹化水，秋冬补水担当。".into()],
            entries: vec![entry(1, "price", "到手价129元，原价169元。"), entry(2, "selling_point", "含多重玻尿酸。")],
        }
    }

    #[test]
    fn the_template_script_is_timed_with_shots_and_the_price_fact_on_screen() {
        let p = product();
        let sentences = template_sentences(&p, Lang::Zh);
        let Timeline { cues, duration_ms: duration } = timeline(&p, Lang::Zh, &sentences);
        assert!(matches!(&cues[0], Cue::Shot { at_ms: 0, shot } if shot == "host_closeup"));
        assert!(cues.iter().any(|c| matches!(c, Cue::Fact { entry_id: 1, .. })));
        let says: Vec<i64> =
            cues.iter().filter_map(|c| if let Cue::Say { at_ms, .. } = c { Some(*at_ms) } else { None }).collect();
        assert!(says.windows(2).all(|w| w[0] < w[1]));
        assert!(duration > *says.last().unwrap());
    }
}
