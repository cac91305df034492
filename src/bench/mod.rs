//! Benchmarks shipped with the binary. Each prints its figures and ends its
//! output with one line of JSON holding the headline numbers.

pub mod adapters;
pub mod analyze;
pub mod baseline;
pub mod flood;
pub mod ingest;
pub mod replies;
pub mod retrieval;
pub mod triage;

/// The `p`-th percentile (0-100) of `samples` (sorted in place).
pub fn percentile(samples: &mut [f64], p: f64) -> f64 {
    if samples.is_empty() {
        return f64::NAN;
    }
    samples.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    percentile(&mut v, 50.0)
}

/// Round to `digits` decimals, for the JSON lines.
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}
