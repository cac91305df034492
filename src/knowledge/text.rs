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

/// Words to index for `text`: every whitespace-separated keyword as typed
/// (jieba cuts "有货" alone differently from "有货吗" in a question), and
/// jieba's search-mode cut (every dictionary word inside longer words too).
pub fn index_terms(text: &str) -> String {
    let mut words: Vec<String> = Vec::new();
    for chunk in text.split_whitespace() {
        if chunk.chars().any(crate::events::is_cjk) && chunk.chars().count() <= 8 {
            words.extend(keep(chunk));
        }
        words.extend(jieba().cut_for_search(chunk, true).into_iter().filter_map(|t| keep(t.word)));
    }
    let mut seen = std::collections::HashSet::new();
    words.retain(|w| seen.insert(w.clone()));
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
    fn keywords_are_indexed_as_typed_and_as_jieba_cuts_them() {
        let index = index_terms("库存 有货 多少钱");
        let words: Vec<&str> = index.split(' ').collect();
        for w in ["有货", "有", "货", "多少钱", "多少", "库存"] {
            assert!(words.contains(&w), "{w} missing from {index}");
        }
        // the question's cut meets the index
        assert!(query_terms("那个保温杯有货吗").iter().any(|t| t == "有货"));
    }

    #[test]
    fn quotes_in_terms_cannot_break_the_tsquery() {
        assert_eq!(or_tsquery(&["it's".to_string(), "a\\b".to_string()]), "'it''s' | 'a\\\\b'");
    }
}
