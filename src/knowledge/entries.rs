//! What a knowledge entry is, and how a product becomes entries: one for its
//! price, one for its stock, one per attribute and one per FAQ. Each entry
//! carries the words full-text search finds it by and the texts whose
//! sentence vectors lead to it (`embed_texts` computes those vectors).

use std::collections::HashMap;

use super::{catalog, text};

/// The sentence encoder whose vectors are stored (`knowledge_vectors.model`).
pub(crate) const EMBEDDING_MODEL: &str = "use-m-v3-int8";

/// What an entry answers; stored as `knowledge_entries.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    /// The price, and the promotion with its end where there is one.
    Price,
    /// Whether and how much is in stock.
    Stock,
    /// One attribute (capacity, material, ...).
    Attribute,
    /// One FAQ answer the brand wrote.
    Faq,
}

impl EntryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Price => "price",
            EntryKind::Stock => "stock",
            EntryKind::Attribute => "attribute",
            EntryKind::Faq => "faq",
        }
    }
}

/// Vectors of `texts` (each distinct text embedded once), computed off the
/// async threads. `None` without the sentence encoder (models/setup.sh not
/// run): entries then get no vectors and retrieval is full-text only.
pub(crate) async fn embed_texts(texts: &[&str]) -> Option<Vec<Option<Vec<f32>>>> {
    let embedder = crate::embed::Embedder::shared().ok()?;
    let mut distinct: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    distinct.sort();
    distinct.dedup();
    let all: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut by_text: HashMap<String, Vec<f32>> = HashMap::with_capacity(distinct.len());
        // one text per run: int8 activations are quantised per run, so a
        // text's vector must not depend on what it was batched with
        for t in distinct {
            if let Ok(v) = embedder.embed(&t) {
                by_text.insert(t, v);
            }
        }
        all.iter().map(|t| by_text.get(t).cloned()).collect()
    })
    .await
    .ok()
}

/// An entry to index, made from a product.
pub(crate) struct NewEntry {
    pub(crate) kind: EntryKind,
    /// Texts whose sentence vectors lead to this entry.
    pub(crate) embed_texts: Vec<String>,
    /// Stable within the brand (`<product>#price`, `<product>#attr:<name>`, the FAQ's id).
    pub(crate) key: String,
    pub(crate) questions: Vec<String>,
    pub(crate) answer: String,
    pub(crate) answer_en: Option<String>,
    /// Jieba terms of the product's names, the questions and the kind's search words.
    pub(crate) search_terms: String,
    /// Jieba terms of the answer.
    pub(crate) context_terms: String,
}

/// Words that lead full-text search to a price entry beside its questions.
const PRICE_WORDS: &str = "多少钱 价格 价钱 怎么卖 优惠 便宜 到手价 折扣 券 price how much cost discount deal";
/// Words that lead full-text search to a stock entry beside its questions.
const STOCK_WORDS: &str = "库存 有货 现货 还有吗 还能拍 卖完 补货 stock available sold out in stock";

/// One entry before its search terms and vector texts are derived.
struct EntryDraft {
    kind: EntryKind,
    key: String,
    questions: Vec<String>,
    /// Search words beside the product's names and the questions.
    search_words: &'static str,
    answer: String,
    answer_en: Option<String>,
}

impl EntryDraft {
    /// The entry, searchable by `product_names` (name, English name, aliases).
    fn into_entry(self, product_names: &str) -> NewEntry {
        let search = format!("{product_names} {} {}", self.questions.join(" "), self.search_words);
        // Synthesised entries (price, stock, attributes) are reached by their
        // name-free questions; their answers name the product and would pull
        // every question about that product towards them. FAQ answers help.
        let mut embed_texts: Vec<String> = self.questions.clone();
        if self.kind == EntryKind::Faq {
            embed_texts.push(self.answer.clone());
            embed_texts.extend(self.answer_en.clone());
        }
        NewEntry {
            kind: self.kind,
            key: self.key,
            embed_texts,
            search_terms: text::index_terms(&search),
            context_terms: text::index_terms(&self.answer),
            questions: self.questions,
            answer: self.answer,
            answer_en: self.answer_en,
        }
    }
}

/// The entries of `p`: price, stock, its attributes, its FAQ, in that order.
pub(crate) fn entries_of(p: &catalog::Product) -> Vec<NewEntry> {
    let names = std::iter::once(p.name.as_str())
        .chain(p.name_en.as_deref())
        .chain(p.aliases.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let name_en = p.name_en.clone().unwrap_or_else(|| p.name.clone());
    let mut drafts = Vec::new();
    // a promotion with an end says until when (the brand's own local time as given)
    let until = catalog::parse_time(p.promo_valid_until.as_deref()).ok().flatten();
    let (answer, answer_en) = match p.promo_price {
        Some(promo) if promo < p.price => match until {
            None => (
                format!("{}原价{}元，今天直播间到手价{}元。", p.name, yuan(p.price), yuan(promo)),
                format!(
                    "The {name_en} lists at {} yuan; in this live room today it is {} yuan.",
                    yuan(p.price),
                    yuan(promo)
                ),
            ),
            Some(t) => (
                format!(
                    "{}原价{}元，直播间到手价{}元，活动到{}。",
                    p.name,
                    yuan(p.price),
                    yuan(promo),
                    t.format("%-m月%-d日%H:%M")
                ),
                format!(
                    "The {name_en} lists at {} yuan; in this live room it is {} yuan until {}.",
                    yuan(p.price),
                    yuan(promo),
                    t.format("%b %-d, %H:%M")
                ),
            ),
        },
        _ => (
            format!("{}现在的价格是{}元。", p.name, yuan(p.price)),
            format!("The {name_en} is {} yuan.", yuan(p.price)),
        ),
    };
    drafts.push(EntryDraft {
        kind: EntryKind::Price,
        key: format!("{}#price", p.id),
        questions: vec!["多少钱".to_string(), "价格多少，有优惠吗".to_string(), "how much is it".to_string()],
        search_words: PRICE_WORDS,
        answer,
        answer_en: Some(answer_en),
    });
    let (answer, answer_en) = if p.stock > 0 {
        (
            format!("{}现在还有{}件现货，喜欢的抓紧拍。", p.name, p.stock),
            format!("The {name_en} has {} in stock right now.", p.stock),
        )
    } else {
        (format!("{}暂时卖完了，正在补货。", p.name), format!("The {name_en} is sold out for now; more is coming."))
    };
    drafts.push(EntryDraft {
        kind: EntryKind::Stock,
        key: format!("{}#stock", p.id),
        questions: vec!["还有货吗".to_string(), "库存还有多少".to_string(), "is it still in stock".to_string()],
        search_words: STOCK_WORDS,
        answer,
        answer_en: Some(answer_en),
    });
    for a in &p.attributes {
        let key_name = a.name_en.clone().unwrap_or_else(|| a.name.clone());
        drafts.push(EntryDraft {
            kind: EntryKind::Attribute,
            key: format!("{}#attr:{key_name}", p.id),
            questions: std::iter::once(format!("{}是多少", a.name))
                .chain(a.name_en.as_ref().map(|n| format!("what is the {n}")))
                .collect(),
            search_words: "",
            answer: format!("{}的{}是{}。", p.name, a.name, a.value),
            answer_en: a.name_en.as_ref().map(|n| {
                format!("The {n} of the {name_en} is {}.", a.value_en.clone().unwrap_or_else(|| a.value.clone()))
            }),
        });
    }
    for (i, f) in p.faq.iter().enumerate() {
        drafts.push(EntryDraft {
            kind: EntryKind::Faq,
            key: f.id.clone().unwrap_or_else(|| format!("{}#faq:{}", p.id, i + 1)),
            questions: f.questions.clone(),
            search_words: "",
            answer: f.answer.clone(),
            answer_en: f.answer_en.clone(),
        });
    }
    drafts.into_iter().map(|d| d.into_entry(&names)).collect()
}

/// A price as the entries say it: whole yuan without decimals, else two.
fn yuan(x: f64) -> String {
    if x.fract() == 0.0 { format!("{x:.0}") } else { format!("{x:.2}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::Catalog;

    #[test]
    fn a_promotion_with_an_end_says_until_when_in_both_languages() {
        let mut p = Catalog::demo().products[0].clone();
        p.price = 299.0;
        p.promo_price = Some(199.0);
        p.promo_valid_until = Some("2026-11-12T00:00:00+08:00".into());
        let price = entries_of(&p).into_iter().find(|e| e.kind == EntryKind::Price).unwrap();
        assert!(price.answer.contains("199元") && price.answer.contains("活动到11月12日00:00"), "{}", price.answer);
        assert!(price.answer_en.unwrap().contains("until Nov 12, 00:00"));
        p.promo_valid_until = None;
        let price = entries_of(&p).into_iter().find(|e| e.kind == EntryKind::Price).unwrap();
        assert!(price.answer.contains("今天直播间到手价199元"), "{}", price.answer);
    }
}
