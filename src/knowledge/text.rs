//! Text for full-text search: jieba segmentation of Chinese, lowercase
//! English words, no punctuation or filler particles.

use std::sync::OnceLock;

use jieba_rs::Jieba;

/// The process's jieba, loaded once (its dictionary takes ~0.1 s to load).
pub fn jieba() -> &'static Jieba {
    static JIEBA: OnceLock<Jieba> = OnceLock::new();
    JIEBA.get_or_init(Jieba::new)
}

/// Words that carry no meaning for retrieval.
const STOP_WORDS: &[&str] = &[
    "吗", "呢", "啊", "呀", "吧", "的", "了", "么", "嘛", "哦", "哈", "嗯", "和", "与", "是", "我", "你", "他", "她",
    "这", "那", "这个", "那个", "个", "主播", "请问", "一下", "想", "问", "问下", "宝宝", "家人", "们", "a", "an",
    "the", "is", "are", "it", "this", "that", "to", "of", "for", "do", "does", "i", "you", "me", "my", "please", "pls",
    "can", "what", "and", "or", "on", "in",
];

fn keep(word: &str) -> Option<String> {
    let w: String = word.trim().chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_lowercase).collect();
    if w.is_empty() || STOP_WORDS.contains(&w.as_str()) { None } else { Some(w) }
}

/// Words to index for `text`: jieba's search-mode cut (every dictionary
/// word inside longer words too), space-joined.
pub fn index_terms(text: &str) -> String {
    let mut words: Vec<String> = jieba().cut_for_search(text, true).into_iter().filter_map(|t| keep(t.word)).collect();
    // single characters of Chinese words help typo'd queries (多少米 vs 多少钱)
    // only through the vector side; keep the index to words
    words.dedup();
    words.join(" ")
}

/// Words of a viewer's question, deduplicated, in order.
pub fn query_terms(text: &str) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    jieba()
        .cut_for_search(text, true)
        .into_iter()
        .filter_map(|t| keep(t.word))
        .filter(|w| seen.insert(w.clone()))
        .collect()
}

/// An OR query over `terms` for `to_tsquery('simple', ..)`, each term quoted.
pub fn or_tsquery(terms: &[String]) -> String {
    terms.iter().map(|t| format!("'{}'", t.replace('\\', "\\\\").replace('\'', "''"))).collect::<Vec<_>>().join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_questions_are_cut_into_words_without_particles() {
        let terms = query_terms("这个电饭煲多少钱啊？");
        assert!(terms.contains(&"电饭煲".to_string()), "{terms:?}");
        assert!(terms.contains(&"多少".to_string()) || terms.contains(&"多少钱".to_string()), "{terms:?}");
        assert!(!terms.iter().any(|t| t == "啊" || t == "这个"), "{terms:?}");
    }

    #[test]
    fn quotes_in_terms_cannot_break_the_tsquery() {
        assert_eq!(or_tsquery(&["it's".to_string(), "a\\b".to_string()]), "'it''s' | 'a\\\\b'");
    }
}
