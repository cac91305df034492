//! The model triager: the USE-m sentence encoder with a trained intent head
//! fused into one ONNX graph (`models/train_triage.py`, run by
//! `models/setup.sh` into `<models>/triage/`). One run gives each comment's
//! class probabilities and its unit-length sentence vector (for the
//! near-duplicate search of the triage service).
//!
//! Inference is blocking: call it from a worker thread or `spawn_blocking`.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, anyhow};
use ort::session::Session;
use ort::value::Tensor;
use tokenizers::Tokenizer;

use super::Triager;
use crate::embed::DIM;
use crate::events::{Intent, Lang};

/// Which of the two graphs: the production int8 one, or the fp32 one made
/// by dequantizing its weights (for the quantization comparison).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    Int8,
    Fp32,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Int8 => "int8",
            Precision::Fp32 => "fp32",
        }
    }
}

/// One classified comment.
#[derive(Debug, Clone)]
pub struct Classified {
    pub intent: Intent,
    /// The probability of `intent`.
    pub confidence: f32,
    /// Unit-length sentence vector.
    pub embedding: Vec<f32>,
}

/// What `meta.json` beside the graphs says.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TriageMeta {
    pub version: String,
    pub labels: Vec<String>,
    /// Cosine from which two comments count as near-duplicates.
    pub similar_threshold: f32,
}

pub struct OnnxTriager {
    sessions: Vec<Mutex<Session>>,
    tokenizer: Tokenizer,
    labels: Vec<Intent>,
    pub meta: TriageMeta,
    pub precision: Precision,
    name: &'static str,
}

/// The triage model's directory under the models directory.
pub fn triage_dir(models: &Path) -> PathBuf {
    models.join("triage")
}

/// Whether the triage model files exist under `models` (see `embed::models_dir`).
pub fn model_present(models: &Path) -> bool {
    let dir = triage_dir(models);
    dir.join("triage-int8.onnx").exists()
        && dir.join("meta.json").exists()
        && models.join("use-m-v3/tokenizer.json").exists()
}

impl OnnxTriager {
    /// Load the graph of `precision` from `models` with `sessions` ONNX
    /// Runtime sessions (one per thread that classifies at the same time).
    pub fn load(models: &Path, precision: Precision, sessions: usize) -> anyhow::Result<OnnxTriager> {
        let dir = triage_dir(models);
        let graph = dir.join(format!("triage-{}.onnx", precision.as_str()));
        let meta_file = dir.join("meta.json");
        let tokenizer_file = models.join("use-m-v3/tokenizer.json");
        if !graph.exists() || !meta_file.exists() || !tokenizer_file.exists() {
            anyhow::bail!("triage model not found under {} (run models/setup.sh)", dir.display());
        }
        let meta: TriageMeta = serde_json::from_str(
            &std::fs::read_to_string(&meta_file).with_context(|| format!("cannot read {}", meta_file.display()))?,
        )
        .with_context(|| format!("bad {}", meta_file.display()))?;
        let labels = meta
            .labels
            .iter()
            .map(|l| {
                serde_json::from_value::<Intent>(serde_json::Value::String(l.clone()))
                    .map_err(|_| anyhow!("unknown intent label {l:?} in {}", meta_file.display()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        anyhow::ensure!(!labels.is_empty(), "no labels in {}", meta_file.display());
        let env = crate::embed::environment(models)?;
        let mut list = Vec::new();
        for _ in 0..sessions.max(1) {
            let session = crate::embed::session_from_file(env, &graph)?;
            list.push(Mutex::new(session));
        }
        let tokenizer = Tokenizer::from_file(&tokenizer_file)
            .map_err(|e| anyhow!("cannot load {}: {e}", tokenizer_file.display()))?;
        // the name is recorded with every result: model, precision and head version
        let name: &'static str =
            Box::leak(format!("use-m-v3-triage-{}-{}", precision.as_str(), meta.version).into_boxed_str());
        Ok(OnnxTriager { sessions: list, tokenizer, labels, meta, precision, name })
    }

    pub fn similar_threshold(&self) -> f32 {
        self.meta.similar_threshold
    }

    /// Classify `texts` in one model run. With int8, activations are
    /// quantised per run, so a comment's probabilities depend a little on
    /// the other comments of its batch.
    pub fn classify_batch(&self, texts: &[&str]) -> anyhow::Result<Vec<Classified>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids: Vec<i32> = Vec::new();
        let mut splits: Vec<i64> = vec![0];
        for text in texts {
            let encoding = self.tokenizer.encode(*text, true).map_err(|e| anyhow!("tokenizer: {e}"))?;
            ids.extend(encoding.get_ids().iter().map(|&i| i as i32));
            splits.push(ids.len() as i64);
        }
        let (ids_len, splits_len) = (ids.len(), splits.len());
        let token_ids = Tensor::from_array((vec![ids_len as i64], ids)).map_err(|e| anyhow!("{e}"))?;
        let row_splits = Tensor::from_array((vec![splits_len as i64], splits)).map_err(|e| anyhow!("{e}"))?;
        // a free session if there is one, else wait for the first
        let mut guard = None;
        for s in &self.sessions {
            if let Ok(g) = s.try_lock() {
                guard = Some(g);
                break;
            }
        }
        // unwrap: a panic while holding the lock cannot leave the session half-run
        let mut session = guard.unwrap_or_else(|| self.sessions[0].lock().unwrap());
        let outputs = session
            .run(ort::inputs!["token_ids" => token_ids, "row_splits" => row_splits])
            .map_err(|e| anyhow!("triage model run failed: {e}"))?;
        let (pshape, probs) = outputs["probs"].try_extract_tensor::<f32>().map_err(|e| anyhow!("{e}"))?;
        let (eshape, emb) = outputs["embedding"].try_extract_tensor::<f32>().map_err(|e| anyhow!("{e}"))?;
        let k = self.labels.len();
        anyhow::ensure!(
            pshape.len() == 2 && pshape[0] as usize == texts.len() && pshape[1] as usize == k,
            "unexpected probs shape {pshape:?}"
        );
        anyhow::ensure!(eshape.len() == 2 && eshape[1] as usize == DIM, "unexpected embedding shape {eshape:?}");
        Ok(probs
            .chunks(k)
            .zip(emb.chunks(DIM))
            .map(|(p, e)| {
                let (best, confidence) =
                    p.iter().enumerate().fold((0, f32::MIN), |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc });
                Classified { intent: self.labels[best], confidence, embedding: e.to_vec() }
            })
            .collect())
    }

    pub fn classify_one(&self, text: &str) -> anyhow::Result<Classified> {
        self.classify_batch(&[text])?.pop().context("triage model returned nothing")
    }
}

impl Triager for OnnxTriager {
    fn name(&self) -> &'static str {
        self.name
    }

    fn classify(&self, text: &str) -> (Intent, Lang) {
        let intent = match self.classify_one(text) {
            Ok(c) => c.intent,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "triage model failed; comment classified as other");
                Intent::Other
            }
        };
        (intent, Lang::detect(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(p: Precision) -> OnnxTriager {
        OnnxTriager::load(&crate::embed::models_dir(), p, 1).expect("the triage model is set up (models/setup.sh)")
    }

    /// Runs with the real runtime and the trained graph (CI makes it with models/setup.sh).
    #[test]
    fn the_fused_graph_loads_and_classifies_typical_comments() {
        let t = load(Precision::Int8);
        assert_eq!(t.labels.len(), 10);
        assert!(t.name().starts_with("use-m-v3-triage-int8-") && t.name().ends_with(&t.meta.version));
        assert!(t.similar_threshold() > 0.3 && t.similar_threshold() < 1.0);
        let cases = [
            ("这个多少钱", Intent::PriceAsk),
            ("还有货吗", Intent::StockAsk),
            ("主播好", Intent::Greeting),
            ("加V领福利", Intent::Spam),
        ];
        for (text, want) in cases {
            let c = t.classify_one(text).unwrap();
            assert_eq!(c.intent, want, "{text}");
            assert!(c.confidence > 0.1 && c.confidence <= 1.0);
            let norm: f32 = c.embedding.iter().map(|x| x * x).sum();
            assert!((norm - 1.0).abs() < 1e-3);
        }
        // a batch gives one result per comment, in order; odd input does not panic
        let batch = t.classify_batch(&["这个多少钱", "", "🙂🙂", "hello everyone"]).unwrap();
        assert_eq!(batch.len(), 4);
        assert_eq!(batch[0].intent, Intent::PriceAsk);
        // same text alone, same result
        assert_eq!(t.classify_one("还有货吗").unwrap().embedding, t.classify_one("还有货吗").unwrap().embedding);
    }

    #[test]
    fn fp32_and_int8_graphs_agree_on_clear_cases() {
        let (a, b) = (load(Precision::Int8), load(Precision::Fp32));
        assert_ne!(a.name(), b.name());
        for text in ["这个多少钱", "how much is it", "已拍"] {
            let (x, y) = (a.classify_one(text).unwrap(), b.classify_one(text).unwrap());
            assert_eq!(x.intent, y.intent, "{text}");
            assert!(crate::embed::dot(&x.embedding, &y.embedding) > 0.95);
        }
    }
}
