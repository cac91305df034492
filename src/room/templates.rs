//! Knowledge-grounded template texts: the embedded default when no LLM is
//! configured. Pure functions of their inputs.

use std::collections::VecDeque;

use crate::events::{Lang, RetrievedEntry, UtterancePurpose};

use super::state::{AckKind, Acknowledgement};

/// A reply to `viewer_name` from the best retrieved entry, in the comment's
/// language. An English question whose entry has only a Chinese answer gets
/// the Chinese facts with an English lead-in: the facts are never invented.
pub fn reply(viewer_name: &str, entry: &RetrievedEntry, lang: Lang) -> String {
    match lang {
        Lang::Zh => format!("{viewer_name}，{}", entry.answer),
        Lang::En => match &entry.answer_en {
            Some(answer_en) => format!("{viewer_name}, {answer_en}"),
            None => format!("{viewer_name}, good question! Here it is in Chinese: {}", entry.answer),
        },
    }
}

/// One answer for a question group: a few askers by name, all of them
/// counted, then the facts (in the group's language, as `reply`).
pub fn group_reply(names: &[&str], count: usize, entry: &super::queue::GroupEntry, lang: Lang) -> String {
    let listed: Vec<&str> = names.iter().take(NAMES_LISTED).copied().collect();
    let more = count.saturating_sub(listed.len());
    match lang {
        Lang::Zh if more > 0 => format!("很多朋友都在问这个，{}等{count}位朋友：{}", listed.join("、"), entry.answer),
        Lang::Zh => format!("{}都在问，{}", listed.join("、"), entry.answer),
        Lang::En => {
            let who = if more > 0 {
                format!("A lot of you are asking this ({} and {more} more)", listed.join(", "))
            } else {
                format!("{} are asking", listed.join(" and "))
            };
            match &entry.answer_en {
                Some(answer_en) => format!("{who}: {answer_en}"),
                None => format!("{who}. Here it is in Chinese: {}", entry.answer),
            }
        }
    }
}

/// Thanks with no names, when the named thanks cannot be spoken.
pub fn plain_thanks() -> &'static str {
    "谢谢大家的支持！"
}

/// Names listed one by one in a thanks or welcome; the rest are counted.
const NAMES_LISTED: usize = 3;

/// One utterance for everything the assistant owes: thanks for gifts,
/// follows and orders first, then one welcome for new viewers.
pub fn acknowledgements(pending: &VecDeque<Acknowledgement>) -> (String, UtterancePurpose) {
    let thanks: Vec<&Acknowledgement> = pending.iter().filter(|a| a.kind != AckKind::Join).collect();
    let joins: Vec<&Acknowledgement> = pending.iter().filter(|a| a.kind == AckKind::Join).collect();
    let mut text = String::new();
    if !thanks.is_empty() {
        let parts: Vec<String> = thanks
            .iter()
            .take(NAMES_LISTED)
            .map(|a| match a.kind {
                AckKind::Gift => format!("{}送的{}", a.name, a.detail),
                AckKind::Follow => format!("{}的关注", a.name),
                AckKind::Order if !a.detail.is_empty() => format!("{}下单的{}", a.name, a.detail),
                AckKind::Order => format!("{}的下单", a.name),
                AckKind::Join => unreachable!("joins were filtered out"),
            })
            .collect();
        text.push_str(&format!("谢谢{}", parts.join("、")));
        if thanks.len() > NAMES_LISTED {
            text.push_str(&format!("，还有另外{}位朋友的支持", thanks.len() - NAMES_LISTED));
        }
        text.push('！');
    }
    if !joins.is_empty() {
        let names: Vec<&str> = joins.iter().take(NAMES_LISTED).map(|a| a.name.as_str()).collect();
        text.push_str(&format!("欢迎{}", names.join("、")));
        if joins.len() > NAMES_LISTED {
            text.push_str(&format!("等{}位朋友", joins.len()));
        }
        text.push_str("来到直播间！");
    }
    let purpose = if thanks.is_empty() { UtterancePurpose::Welcome } else { UtterancePurpose::Thanks };
    (text, purpose)
}

/// The state's record of the current shot.
pub fn shot_key(shot: &str, product_id: Option<&str>) -> String {
    match product_id {
        Some(p) => format!("{shot}/{p}"),
        None => shot.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(kind: AckKind, name: &str, detail: &str) -> Acknowledgement {
        Acknowledgement { kind, name: name.into(), detail: detail.into(), ts: 0 }
    }

    #[test]
    fn thanks_come_before_welcomes_and_long_lists_are_counted() {
        let pending: VecDeque<_> = vec![
            ack(AckKind::Join, "阿杰", ""),
            ack(AckKind::Gift, "小鱼儿", "玫瑰"),
            ack(AckKind::Follow, "momo", ""),
            ack(AckKind::Join, "b", ""),
            ack(AckKind::Join, "c", ""),
            ack(AckKind::Join, "d", ""),
        ]
        .into();
        let (text, purpose) = acknowledgements(&pending);
        assert_eq!(text, "谢谢小鱼儿送的玫瑰、momo的关注！欢迎阿杰、b、c等4位朋友来到直播间！");
        assert_eq!(purpose, UtterancePurpose::Thanks);
    }

    #[test]
    fn an_english_question_on_a_chinese_only_entry_keeps_the_chinese_facts() {
        let entry = RetrievedEntry {
            entry_id: 1,
            product_id: None,
            product_name: None,
            kind: "faq".into(),
            answer: "保修两年".into(),
            answer_en: None,
            score: 1.0,
            reason: String::new(),
        };
        assert_eq!(reply("Tom", &entry, Lang::En), "Tom, good question! Here it is in Chinese: 保修两年");
        assert_eq!(reply("小鱼儿", &entry, Lang::Zh), "小鱼儿，保修两年");
    }

    #[test]
    fn a_group_reply_names_a_few_askers_and_counts_them_all_in_both_languages() {
        let entry = crate::room::queue::GroupEntry {
            entry_id: 1,
            product_id: None,
            answer: "整机保修两年。".into(),
            answer_en: Some("Two years of warranty.".into()),
        };
        assert_eq!(group_reply(&["a", "b"], 2, &entry, Lang::Zh), "a、b都在问，整机保修两年。");
        assert_eq!(
            group_reply(&["a", "b", "c", "d"], 12, &entry, Lang::Zh),
            "很多朋友都在问这个，a、b、c等12位朋友：整机保修两年。"
        );
        assert_eq!(
            group_reply(&["Tom", "Ann", "Bo"], 5, &entry, Lang::En),
            "A lot of you are asking this (Tom, Ann, Bo and 2 more): Two years of warranty."
        );
        let zh_only = crate::room::queue::GroupEntry { answer_en: None, ..entry };
        assert_eq!(
            group_reply(&["Tom", "Ann"], 2, &zh_only, Lang::En),
            "Tom and Ann are asking. Here it is in Chinese: 整机保修两年。"
        );
    }
}
