//! Hybrid retrieval with the real sentence encoder and real Postgres.

use liveroom::knowledge::{Mode, Retriever};

use crate::helpers::*;

async fn top_answer(r: &Retriever, mode: Mode, on_stage: &str, question: &str) -> Option<String> {
    r.retrieve_with(mode, "testbrand", None, Some(on_stage), question).await.unwrap().first().map(|e| e.answer.clone())
}

#[actix_web::test]
async fn hybrid_retrieval_finds_paraphrases_other_languages_and_named_products() {
    let app = spawn_app().await;
    let r = Retriever::new(app.pool.clone());
    assert_eq!(r.mode(), Mode::Hybrid, "the sentence encoder is set up (models/setup.sh)");
    // a paraphrase with no word in common with the FAQ's questions
    assert_eq!(
        top_answer(&r, Mode::Hybrid, "cooker", "熬稀饭行不行").await.as_deref(),
        Some("可以煮粥，有专门的煮粥模式。")
    );
    assert_eq!(top_answer(&r, Mode::Fts, "cooker", "熬稀饭行不行").await, None, "full text alone cannot");
    // English question, Chinese-only entry
    assert_eq!(
        top_answer(&r, Mode::Hybrid, "cooker", "how long is the guarantee").await.as_deref(),
        Some("整机保修两年。")
    );
    // a bare price question means the product on stage; a named product wins over it
    assert!(top_answer(&r, Mode::Hybrid, "cooker", "多少钱").await.unwrap().starts_with("电饭煲"));
    assert!(top_answer(&r, Mode::Hybrid, "cooker", "保温杯多少钱").await.unwrap().starts_with("保温杯"));
    // nothing close: no answer rather than a wrong one
    assert_eq!(top_answer(&r, Mode::Hybrid, "cooker", "what colour is the sky?").await, None);
    app.stop().await;
}
