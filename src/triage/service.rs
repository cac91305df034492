//! The triage service: one per node, shared by all its rooms. Comments that
//! arrive together are classified in one model run on worker threads (never
//! on an async executor thread); results are cached by normalised text, so a
//! repeated text costs a lookup (counted apart from distinct comments); and
//! each session keeps a sliding window of recent comment vectors, so a
//! comment that nearly repeats an earlier one gets that one's seq
//! (`CommentTriaged.similar_to`). All of it enters the log as the
//! `CommentTriaged` event, so replay never needs the model.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use anyhow::anyhow;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::classifier::{Classified, OnnxTriager, Precision};
use super::{RuleTriager, Triager};
use crate::events::{Intent, Lang};

/// Comment vectors kept per session for the near-duplicate search.
pub const WINDOW: usize = 256;
/// Cached texts before the cache starts over.
const CACHE_CAP: usize = 100_000;
/// Sessions with a window before the oldest ones are forgotten.
const SESSIONS_CAP: usize = 10_000;
/// Comments waiting for the model beyond which more are classified by the
/// keyword rules (recorded as such): a node whose rooms get more distinct
/// comments than its cores can classify sheds to the rules instead of
/// queueing without bound and starving the log writer of CPU.
const MAX_WAITING: usize = 64;

/// One comment waiting for the model, in `Inner::waiting`.
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::Relaxed);
        Waiting(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A comment's triage result, as `CommentTriaged` records it.
#[derive(Debug, Clone)]
pub struct Triaged {
    pub intent: Intent,
    pub lang: Lang,
    pub classifier: String,
    pub confidence: Option<f32>,
    pub similar_to: Option<i64>,
    /// Served from the text cache (no model run).
    pub cached: bool,
}

#[derive(Clone)]
pub struct TriageService {
    inner: Arc<Inner>,
}

/// The model once loaded (or why it did not load).
type Loaded = Arc<OnceLock<Result<Arc<OnnxTriager>, String>>>;

struct Inner {
    model: Loaded,
    /// `Some` when the service uses the model.
    jobs: Option<mpsc::Sender<Job>>,
    cache: Mutex<HashMap<String, Arc<Classified>>>,
    windows: Mutex<Windows>,
    distinct: AtomicU64,
    cache_hits: AtomicU64,
    model_runs: Arc<AtomicU64>,
    /// Comments sent to the workers and not answered yet.
    waiting: AtomicUsize,
    /// Comments classified by the rules because the model was busy.
    shed: AtomicU64,
}

#[derive(Default)]
struct Windows {
    by_session: HashMap<Uuid, SessionWindow>,
    tick: u64,
}

/// One session's recent comments, for near-duplicates.
#[derive(Default)]
struct SessionWindow {
    /// The tick of its last use: the least recently used are forgotten first.
    last_used: u64,
    /// (comment seq, classification), oldest first.
    comments: VecDeque<(i64, Arc<Classified>)>,
}

struct Job {
    text: String,
    reply: oneshot::Sender<anyhow::Result<Classified>>,
}

/// Counters since the service started.
#[derive(Debug, Clone, Copy, Default)]
pub struct TriageStats {
    /// Comments the model classified.
    pub distinct: u64,
    /// Comments served from the text cache.
    pub cache_hits: u64,
    /// Model runs (a run classifies a batch).
    pub model_runs: u64,
    /// Comments classified by the rules because too many waited for the model.
    pub shed: u64,
}

/// The cache key: case-folded, whitespace runs collapsed, trimmed.
pub fn normalize(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

impl TriageService {
    /// Keyword rules only: no model, no cache, no near-duplicates.
    pub fn rules() -> TriageService {
        TriageService::build(None, Arc::new(OnceLock::new()), 0, 1, false)
    }

    /// The int8 model from `models`, loaded on a background thread so that
    /// the node starts serving at once; comments wait for it. If it fails
    /// to load, comments get the keyword rules (and a warning).
    pub fn load_in_background(models: PathBuf, workers: usize, max_batch: usize) -> TriageService {
        let loaded: Loaded = Arc::new(OnceLock::new());
        let target = loaded.clone();
        let workers = workers.max(1);
        std::thread::Builder::new()
            .name("triage-load".into())
            .spawn(move || {
                lower_priority();
                let result =
                    OnnxTriager::load(&models, Precision::Int8, workers).map(Arc::new).map_err(|e| format!("{e:#}"));
                match &result {
                    Ok(m) => tracing::info!(classifier = m.name(), "comment triage: ONNX intent model loaded"),
                    Err(e) => {
                        tracing::warn!(error = %e, "comment triage: the model did not load; keyword rules instead")
                    }
                }
                let _ = target.set(result);
            })
            .expect("spawn the triage loader thread");
        TriageService::build(Some(()), loaded, workers, max_batch.max(1), true)
    }

    /// The model on `workers` threads, each run taking up to `max_batch`
    /// comments that are waiting.
    pub fn with_model(model: Arc<OnnxTriager>, workers: usize, max_batch: usize) -> TriageService {
        let loaded: Loaded = Arc::new(OnceLock::new());
        let _ = loaded.set(Ok(model));
        TriageService::build(Some(()), loaded, workers.max(1), max_batch.max(1), false)
    }

    /// `niced`: the worker threads yield the CPU to the event loop, the log
    /// writer and Postgres when the node is short of it.
    fn build(with_model: Option<()>, model: Loaded, workers: usize, max_batch: usize, niced: bool) -> TriageService {
        let model_runs = Arc::new(AtomicU64::new(0));
        let jobs = with_model.map(|()| {
            let m = &model;
            let (tx, rx) = mpsc::channel::<Job>();
            let rx = Arc::new(Mutex::new(rx));
            for i in 0..workers {
                let (rx, m, runs) = (rx.clone(), m.clone(), model_runs.clone());
                std::thread::Builder::new()
                    .name(format!("triage-{i}"))
                    .spawn(move || {
                        if niced {
                            lower_priority();
                        }
                        worker(&rx, &m, max_batch, &runs)
                    })
                    .expect("spawn a triage worker thread");
            }
            tx
        });
        TriageService {
            inner: Arc::new(Inner {
                model,
                jobs,
                cache: Mutex::new(HashMap::new()),
                windows: Mutex::new(Windows::default()),
                distinct: AtomicU64::new(0),
                cache_hits: AtomicU64::new(0),
                model_runs,
                waiting: AtomicUsize::new(0),
                shed: AtomicU64::new(0),
            }),
        }
    }

    fn loaded(&self) -> Option<&Arc<OnnxTriager>> {
        self.inner.model.get().and_then(|r| r.as_ref().ok())
    }

    /// The classifier name recorded with results (the rules' until the model is loaded).
    pub fn classifier(&self) -> &'static str {
        match self.loaded() {
            Some(m) => m.name(),
            None => RuleTriager.name(),
        }
    }

    /// Whether comments go to the model (it may still be loading).
    pub fn uses_model(&self) -> bool {
        self.inner.jobs.is_some()
    }

    pub fn stats(&self) -> TriageStats {
        TriageStats {
            distinct: self.inner.distinct.load(Ordering::Relaxed),
            cache_hits: self.inner.cache_hits.load(Ordering::Relaxed),
            model_runs: self.inner.model_runs.load(Ordering::Relaxed),
            shed: self.inner.shed.load(Ordering::Relaxed),
        }
    }

    /// Triage comment `seq` of `session`.
    pub async fn triage(&self, session: Uuid, seq: i64, text: &str) -> anyhow::Result<Triaged> {
        let lang = Lang::detect(text);
        // The input compliance checks (injection, sensitive words, emoji-only)
        // run in the room's pure policy before a comment is sent here, so
        // their verdicts are decisions in the log.
        let rules = || {
            let (intent, lang) = RuleTriager.classify(text);
            Triaged {
                intent,
                lang,
                classifier: RuleTriager.name().into(),
                confidence: None,
                similar_to: None,
                cached: false,
            }
        };
        let Some(jobs) = &self.inner.jobs else {
            return Ok(rules());
        };
        let key = normalize(text);
        let hit = self.inner.cache.lock().unwrap().get(&key).cloned();
        let (result, cached) = match hit {
            Some(c) => {
                self.inner.cache_hits.fetch_add(1, Ordering::Relaxed);
                (c, true)
            }
            None => {
                if self.inner.waiting.load(Ordering::Relaxed) >= MAX_WAITING {
                    self.inner.shed.fetch_add(1, Ordering::Relaxed);
                    return Ok(rules());
                }
                let (tx, rx) = oneshot::channel();
                // counted until answered, or until this future is dropped (a stopped room)
                let waiting = Waiting::new(&self.inner.waiting);
                let answer = match jobs.send(Job { text: text.to_string(), reply: tx }) {
                    Ok(()) => rx.await.map_err(|_| anyhow!("the triage worker dropped the comment")),
                    Err(_) => Err(anyhow!("the triage workers stopped")),
                };
                drop(waiting);
                let c = match answer? {
                    Ok(c) => Arc::new(c),
                    // the model did not load (warned once at load time)
                    Err(_) if self.inner.model.get().is_some_and(|r| r.is_err()) => return Ok(rules()),
                    Err(e) => return Err(e),
                };
                self.inner.distinct.fetch_add(1, Ordering::Relaxed);
                let mut cache = self.inner.cache.lock().unwrap();
                if cache.len() >= CACHE_CAP {
                    cache.clear();
                }
                cache.insert(key, c.clone());
                (c, false)
            }
        };
        let model = self.loaded().ok_or_else(|| anyhow!("triage result without a loaded model"))?;
        // a hint: the room's policy checks it against the retrieved entry
        let similar_to = self.near_duplicate(session, seq, &result, model.similar_threshold());
        Ok(Triaged {
            intent: result.intent,
            lang,
            classifier: model.name().into(),
            confidence: Some(result.confidence),
            similar_to,
            cached,
        })
    }

    /// The earlier comment of `session` most similar to this one (cosine at
    /// least `threshold`), then remember this one.
    fn near_duplicate(&self, session: Uuid, seq: i64, c: &Arc<Classified>, threshold: f32) -> Option<i64> {
        let mut w = self.inner.windows.lock().unwrap();
        w.tick += 1;
        let tick = w.tick;
        if !w.by_session.contains_key(&session) && w.by_session.len() >= SESSIONS_CAP {
            // forget the least recently used half
            let mut ticks: Vec<u64> = w.by_session.values().map(|s| s.last_used).collect();
            ticks.sort_unstable();
            let cut = ticks[ticks.len() / 2];
            w.by_session.retain(|_, s| s.last_used > cut);
        }
        let entry = w.by_session.entry(session).or_default();
        entry.last_used = tick;
        let window = &mut entry.comments;
        // a repeat served from the cache shares its result with the earlier
        // comments of that text: the earliest of them is the most similar
        // (cosine 1), found without a scan
        let mut best: Option<(f32, i64)> =
            window.iter().find(|(s, other)| *s < seq && Arc::ptr_eq(other, c)).map(|(s, _)| (1.0, *s));
        if best.is_none() {
            for (s, other) in window.iter() {
                if *s >= seq {
                    continue;
                }
                let cos = crate::embed::dot(&c.embedding, &other.embedding);
                if cos >= threshold && best.is_none_or(|(b, _)| cos > b) {
                    best = Some((cos, *s));
                }
            }
        }
        if window.len() >= WINDOW {
            window.pop_front();
        }
        window.push_back((seq, c.clone()));
        best.map(|(_, s)| s)
    }
}

/// Nice 19 for the calling thread (Linux: niceness is per thread): the model
/// runs on CPU the log writer and the rooms leave over; under overload the
/// queue fills and comments shed to the rules (`MAX_WAITING`).
fn lower_priority() {
    // SAFETY: setpriority only reads its integer arguments
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
}

fn worker(rx: &Mutex<mpsc::Receiver<Job>>, loaded: &Loaded, max_batch: usize, runs: &AtomicU64) {
    loop {
        let mut batch = Vec::with_capacity(max_batch);
        {
            let rx = rx.lock().unwrap();
            match rx.recv() {
                Ok(job) => batch.push(job),
                Err(_) => return, // the service is gone
            }
            while batch.len() < max_batch {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
        }
        let model = match loaded.wait() {
            Ok(m) => m,
            Err(e) => {
                for job in batch {
                    let _ = job.reply.send(Err(anyhow!("{e}")));
                }
                continue;
            }
        };
        let texts: Vec<&str> = batch.iter().map(|j| j.text.as_str()).collect();
        runs.fetch_add(1, Ordering::Relaxed);
        match model.classify_batch(&texts) {
            Ok(results) => {
                for (job, r) in batch.into_iter().zip(results) {
                    let _ = job.reply.send(Ok(r));
                }
            }
            Err(e) => {
                let msg = format!("{e:#}");
                for job in batch {
                    let _ = job.reply.send(Err(anyhow!("{msg}")));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_texts_share_a_cache_key() {
        assert_eq!(normalize("  How MUCH   is it "), "how much is it");
        assert_eq!(normalize("多少钱"), normalize(" 多少钱 "));
        assert_ne!(normalize("多少钱"), normalize("多少钱？"));
    }

    #[actix_rt::test]
    async fn rules_fallback_has_no_confidence_and_no_neighbours() {
        let s = TriageService::rules();
        assert!(!s.uses_model());
        let t = s.triage(Uuid::new_v4(), 3, "这个多少米啊").await.unwrap();
        assert_eq!(
            (t.intent, t.classifier.as_str(), t.confidence, t.similar_to),
            (Intent::PriceAsk, "rules-v1", None, None)
        );
    }

    /// With the real model: repeats come from the cache, paraphrases and
    /// repeats point at the earlier comment, unrelated comments do not, and
    /// sessions do not see each other.
    #[actix_rt::test]
    async fn cache_and_near_duplicates_with_the_model() {
        let model = OnnxTriager::load(&crate::embed::models_dir(), super::super::classifier::Precision::Int8, 1)
            .expect("the triage model is set up (models/setup.sh)");
        let s = TriageService::with_model(Arc::new(model), 1, 8);
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let first = s.triage(a, 1, "这个锅能煮粥吗").await.unwrap();
        assert!(!first.cached && first.similar_to.is_none() && first.confidence.is_some());
        let unrelated = s.triage(a, 2, "主播晚上好").await.unwrap();
        assert_eq!(unrelated.similar_to, None);
        let repeat = s.triage(a, 3, "这个锅能煮粥吗 ").await.unwrap();
        assert!(repeat.cached);
        assert_eq!(repeat.intent, first.intent);
        assert_eq!(repeat.similar_to, Some(1));
        let paraphrase = s.triage(a, 4, "这个锅能煮粥吗？").await.unwrap();
        assert!(!paraphrase.cached);
        assert_eq!(paraphrase.similar_to, Some(1), "the earliest of the equally similar earlier comments");
        // another session starts with an empty window
        let other = s.triage(b, 1, "这个锅能煮粥吗").await.unwrap();
        assert!(other.cached && other.similar_to.is_none());
        let st = s.stats();
        assert_eq!((st.distinct, st.cache_hits), (3, 2));
    }
}
