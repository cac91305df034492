//! A brand's sentence vectors in memory, flat and row-major: exact f32, or
//! int8 with one scale per vector for large catalogues (a quarter of the
//! memory and of the bytes scanned per query), and for very large ones a
//! sign-bit prefilter (64 bytes a vector, ranked by Hamming distance) ahead
//! of the exact scores.

use std::collections::HashMap;
use std::sync::Arc;

/// Above this many vectors a brand's index is kept as int8; below it, exact f32.
pub(crate) const INT8_MIN_VECTORS: usize = 4096;
/// Above this many vectors a query first ranks all of them by the Hamming
/// distance of their sign bits, then scores the `PREFILTER` nearest, and
/// every vector of the product on stage, exactly.
pub(crate) const BINARY_MIN_VECTORS: usize = 50_000;
pub(crate) const PREFILTER: usize = 3000;
/// Below this cosine a vector hit is no evidence at all (unrelated texts
/// score about 0.1, paraphrases 0.5 and more): a question with no full-text
/// match and no vector hit this close gets no answer.
const MIN_COSINE: f32 = 0.4;

/// 64-bit words of sign bits per vector.
const WORDS: usize = crate::embed::DIM / 64;

/// One stored vector of an entry, as the index is built from it.
#[derive(Debug, Clone)]
pub(crate) struct VectorRow {
    pub(crate) entry_id: i64,
    /// The entry's product (brand-wide entries have none).
    pub(crate) product_id: Option<String>,
    pub(crate) vector: Vec<f32>,
}

/// A brand's sentence vectors at one knowledge version.
pub struct VectorIndex {
    /// The entry of each row (an entry has a row per vector text).
    entry_ids: Vec<i64>,
    /// The product of each row.
    on_product: Vec<Option<Arc<str>>>,
    data: Vectors,
    /// Sign bits, `WORDS` words a vector, for the prefilter of large indexes.
    bits: Option<Vec<u64>>,
    /// How many prefilter candidates are scored exactly.
    prefilter: usize,
    /// Rows of each product, to score the product on stage exactly.
    product_rows: HashMap<Arc<str>, Vec<u32>>,
}

enum Vectors {
    F32(Vec<f32>),
    I8 { data: Vec<i8>, scales: Vec<f32> },
}

impl VectorIndex {
    /// The index of `rows`, as int8 when `quantize`, with the sign-bit
    /// prefilter scoring `prefilter` candidates exactly when given (int8 only).
    pub(crate) fn build(rows: Vec<VectorRow>, quantize: bool, prefilter: Option<usize>) -> VectorIndex {
        let mut products: HashMap<String, Arc<str>> = HashMap::new();
        let mut entry_ids = Vec::with_capacity(rows.len());
        let mut on_product = Vec::with_capacity(rows.len());
        let mut f = Vec::new();
        let mut q = Vec::new();
        let mut scales = Vec::new();
        let with_bits = quantize && prefilter.is_some();
        let mut bits = Vec::new();
        let mut product_rows: HashMap<Arc<str>, Vec<u32>> = HashMap::new();
        for (row, VectorRow { entry_id, product_id, vector }) in rows.into_iter().enumerate() {
            entry_ids.push(entry_id);
            let product =
                product_id.map(|p| products.entry(p.clone()).or_insert_with(|| Arc::from(p.as_str())).clone());
            if let Some(p) = &product {
                product_rows.entry(p.clone()).or_default().push(row as u32);
            }
            on_product.push(product);
            if with_bits {
                sign_bits(&vector, &mut bits);
            }
            if quantize {
                let (qv, scale) = quantize_i8(&vector);
                q.extend(qv);
                scales.push(scale);
            } else {
                f.extend(vector);
            }
        }
        let data = if quantize { Vectors::I8 { data: q, scales } } else { Vectors::F32(f) };
        VectorIndex {
            entry_ids,
            on_product,
            data,
            bits: with_bits.then_some(bits),
            prefilter: prefilter.unwrap_or(0),
            product_rows,
        }
    }

    /// Every entry's best cosine to `q` (plus `on_stage_bonus` for the rows
    /// of the product on stage), for the entries with one at least `MIN_COSINE`.
    pub(crate) fn scores(&self, q: &[f32], product_on_stage: Option<&str>, on_stage_bonus: f32) -> HashMap<i64, f32> {
        let mut best: HashMap<i64, f32> = HashMap::new();
        let mut hit = |row: usize, mut score: f32| {
            if product_on_stage.is_some() && self.on_product[row].as_deref() == product_on_stage {
                score += on_stage_bonus;
            }
            let e = best.entry(self.entry_ids[row]).or_insert(f32::MIN);
            *e = e.max(score);
        };
        match &self.data {
            Vectors::F32(data) => {
                for (row, v) in data.chunks_exact(crate::embed::DIM).enumerate() {
                    let score = crate::embed::dot(q, v);
                    if score >= MIN_COSINE {
                        hit(row, score);
                    }
                }
            }
            Vectors::I8 { data, scales } if self.bits.is_some() => {
                let bits = self.bits.as_deref().unwrap_or_default();
                let mut qbits = Vec::with_capacity(WORDS);
                sign_bits(q, &mut qbits);
                // (Hamming distance, row): the nearest first, ties by row
                let mut near: Vec<(u32, u32)> =
                    bits.chunks_exact(WORDS).enumerate().map(|(row, b)| (hamming(&qbits, b), row as u32)).collect();
                let k = self.prefilter.min(near.len());
                if k < near.len() {
                    near.select_nth_unstable(k);
                    near.truncate(k);
                }
                let mut rows: Vec<u32> = near.into_iter().map(|(_, row)| row).collect();
                if let Some(on_stage) = product_on_stage.and_then(|p| self.product_rows.get(p)) {
                    rows.extend(on_stage);
                }
                rows.sort_unstable();
                rows.dedup();
                let (qq, qscale) = quantize_i8(q);
                const D: usize = crate::embed::DIM;
                for row in rows {
                    let row = row as usize;
                    let score = dot_i8(&qq, &data[row * D..(row + 1) * D]) as f32 * qscale * scales[row];
                    if score >= MIN_COSINE {
                        hit(row, score);
                    }
                }
            }
            Vectors::I8 { data, scales } => {
                let (qq, qscale) = quantize_i8(q);
                for (row, v) in data.chunks_exact(crate::embed::DIM).enumerate() {
                    let score = dot_i8(&qq, v) as f32 * qscale * scales[row];
                    if score >= MIN_COSINE {
                        hit(row, score);
                    }
                }
            }
        }
        best
    }

    pub fn len(&self) -> usize {
        self.entry_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entry_ids.is_empty()
    }

    pub fn is_quantized(&self) -> bool {
        matches!(self.data, Vectors::I8 { .. })
    }

    /// Whether queries go through the sign-bit prefilter.
    pub fn is_prefiltered(&self) -> bool {
        self.bits.is_some()
    }
}

fn sign_bits(v: &[f32], out: &mut Vec<u64>) {
    for chunk in v.chunks_exact(64) {
        out.push(chunk.iter().enumerate().fold(0u64, |w, (i, x)| if *x > 0.0 { w | (1 << i) } else { w }));
    }
}

fn hamming(a: &[u64], b: &[u64]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: the CPU has POPCNT, checked just above
            return unsafe { hamming_popcnt(a, b) };
        }
    }
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
fn hamming_popcnt(a: &[u64], b: &[u64]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}

/// Symmetric int8 quantisation: `v ≈ q * scale`.
fn quantize_i8(v: &[f32]) -> (Vec<i8>, f32) {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
    let scale = max / 127.0;
    (v.iter().map(|x| (x / scale).round().clamp(-127.0, 127.0) as i8).collect(), scale)
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above
            return unsafe { dot_i8_avx2(a, b) };
        }
    }
    dot_i8_portable(a, b)
}

/// The same sum, compiled for AVX2 (twice the lanes of the baseline SSE2).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum()
}

fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    // 16-wide blocks keep the baseline build in SIMD lanes
    let mut sum = 0i32;
    for (x, y) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        let mut block = 0i32;
        for i in 0..16 {
            block += i32::from(x[i]) * i32::from(y[i]);
        }
        sum += block;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::retrieval::ON_STAGE_COSINE_BONUS;

    fn row(entry_id: i64, product_id: &str, vector: Vec<f32>) -> VectorRow {
        VectorRow { entry_id, product_id: Some(product_id.to_string()), vector }
    }

    #[test]
    fn the_int8_dot_product_is_exact_on_every_path() {
        let a: Vec<i8> = (0..512).map(|i| ((i * 37) % 255 - 127) as i8).collect();
        let b: Vec<i8> = (0..512).map(|i| ((i * 91) % 253 - 126) as i8).collect();
        let want: i32 = a.iter().zip(&b).map(|(&x, &y)| i32::from(x) * i32::from(y)).sum();
        assert_eq!(dot_i8(&a, &b), want);
        assert_eq!(dot_i8_portable(&a, &b), want);
    }

    fn unit(seed: u64) -> Vec<f32> {
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let v: Vec<f32> = (0..crate::embed::DIM)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        v.into_iter().map(|a| a / n).collect()
    }

    #[test]
    fn the_sign_bit_prefilter_finds_what_the_full_scan_finds_and_always_scores_the_product_on_stage() {
        let rows: Vec<VectorRow> = (0..3000)
            .map(|i| row(i as i64, &if i == 2999 { "stage".to_string() } else { format!("p{}", i % 50) }, unit(i)))
            .collect();
        let full = VectorIndex::build(rows.clone(), true, None);
        let pre = VectorIndex::build(rows, true, Some(60));
        assert!(pre.is_prefiltered() && !full.is_prefiltered());
        for target in [7u64, 500, 1234, 2500] {
            // a paraphrase: the target plus noise, cosine about 0.8
            let noise = unit(10_000 + target);
            let q: Vec<f32> = unit(target).iter().zip(&noise).map(|(a, b)| a + 0.7 * b).collect();
            let n = q.iter().map(|a| a * a).sum::<f32>().sqrt();
            let q: Vec<f32> = q.into_iter().map(|a| a / n).collect();
            let best = |m: HashMap<i64, f32>| m.into_iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|x| x.0);
            assert_eq!(best(pre.scores(&q, None, ON_STAGE_COSINE_BONUS)), Some(target as i64));
            assert_eq!(best(full.scores(&q, None, ON_STAGE_COSINE_BONUS)), Some(target as i64));
        }
        // the product on stage is scored even when the prefilter cuts it off:
        // 100 close distractors fill the cut, the stage's row is further away
        let q = unit(77_777);
        let mix = |w: f32, seed: u64| {
            let v: Vec<f32> = q.iter().zip(unit(seed)).map(|(a, b)| a + w * b).collect();
            let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
            v.into_iter().map(|a| a / n).collect::<Vec<f32>>()
        };
        let mut rows: Vec<VectorRow> = (0..100).map(|i| row(i, "other", mix(0.3, 20_000 + i as u64))).collect();
        rows.push(row(100, "stage", mix(1.6, 30_000)));
        rows.extend((101..3000).map(|i| row(i, &format!("p{}", i % 50), unit(40_000 + i as u64))));
        let pre = VectorIndex::build(rows, true, Some(60));
        assert!(
            !pre.scores(&q, None, ON_STAGE_COSINE_BONUS).contains_key(&100),
            "the stage's row is beyond the prefilter's cut"
        );
        assert!(
            pre.scores(&q, Some("stage"), ON_STAGE_COSINE_BONUS).contains_key(&100),
            "but it is scored when on stage"
        );
    }

    #[test]
    fn int8_cosines_stay_within_a_hundredth_of_the_exact_ones() {
        let v: Vec<f32> = (0..512).map(|i| ((i as f32) * 0.37).sin()).collect();
        let w: Vec<f32> = (0..512).map(|i| ((i as f32) * 0.37 + 0.5).sin()).collect();
        let norm = |x: &[f32]| x.iter().map(|a| a * a).sum::<f32>().sqrt();
        let (v, w): (Vec<f32>, Vec<f32>) =
            (v.iter().map(|x| x / norm(&v)).collect(), w.iter().map(|x| x / norm(&w)).collect());
        let exact = crate::embed::dot(&v, &w);
        let (qv, sv) = quantize_i8(&v);
        let (qw, sw) = quantize_i8(&w);
        let approx = dot_i8(&qv, &qw) as f32 * sv * sw;
        assert!((exact - approx).abs() < 0.01, "{exact} vs {approx}");
    }
}
