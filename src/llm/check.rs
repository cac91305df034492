//! The output check every generated sentence passes before it can be
//! dispatched (after grounding): the compliance review of outputs
//! (advertising-law absolute terms rewritten, forbidden claims blocked).
//! Pure. The room's policy runs the same review through `Ctx::review`, which
//! also records the rule that fired as a `compliance_flagged` event.

/// What the output check says about one sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputVerdict {
    /// Speak it as it is.
    Pass,
    /// Speak this instead (flagged terms replaced).
    Rewrite { text: String, rules: Vec<String> },
    /// Do not speak it.
    Block { reason: String },
}

pub fn check_output(sentence: &str, forbidden_claims: &[String]) -> OutputVerdict {
    let review = crate::compliance::review_output(sentence, forbidden_claims);
    let rules = || review.hits.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>();
    match review.action() {
        None => OutputVerdict::Pass,
        Some(crate::compliance::ComplianceAction::Rewritten) => {
            OutputVerdict::Rewrite { text: review.text.clone().unwrap_or_default(), rules: rules() }
        }
        Some(crate::compliance::ComplianceAction::Blocked) => OutputVerdict::Block { reason: rules().join("; ") },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_terms_are_rewritten_and_forbidden_claims_blocked() {
        assert_eq!(check_output("这款电饭煲煮饭很香。", &[]), OutputVerdict::Pass);
        assert!(
            matches!(check_output("这是全网最低价。", &[]), OutputVerdict::Rewrite { text, .. } if !text.contains("最低"))
        );
        assert!(matches!(check_output("喝了能降血压。", &["降血压".to_string()]), OutputVerdict::Block { .. }));
    }
}
