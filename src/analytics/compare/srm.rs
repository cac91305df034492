//! §8.1 Sample ratio mismatch.

use crate::analytics::special::chi2_sf;

/// Pearson χ² goodness of fit of observed counts against expected weights.
#[derive(Debug, Clone, PartialEq)]
pub struct SrmTest {
    pub observed: Vec<u64>,
    pub expected: Vec<f64>,
    pub chi2: f64,
    pub df: u64,
    pub p_value: f64,
    /// p < 0.001 (GrowthBook's and Statsig's default).
    pub flag: bool,
}

pub const SRM_THRESHOLD: f64 = 0.001;

/// `weights` in the order of `observed` (equal when `None`).
pub fn srm(observed: &[u64], weights: Option<&[f64]>) -> SrmTest {
    let total: u64 = observed.iter().sum();
    let k = observed.len();
    let equal = vec![1.0; k];
    let weights = weights.unwrap_or(&equal);
    let weight_sum: f64 = weights.iter().sum();
    let expected: Vec<f64> = weights.iter().map(|w| total as f64 * w / weight_sum).collect();
    let chi2: f64 = observed.iter().zip(&expected).map(|(&o, &e)| (o as f64 - e) * (o as f64 - e) / e).sum();
    let df = k.saturating_sub(1) as u64;
    let p_value = if df == 0 { f64::NAN } else { chi2_sf(chi2, df as f64) };
    SrmTest { observed: observed.to_vec(), expected, chi2, df, p_value, flag: p_value < SRM_THRESHOLD }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ten_percent_imbalance_on_two_thousand_viewers_is_flagged() {
        // 1100 vs 900 against 1000/1000: χ² = 100/1000 · 2 · 100 = 20, p = 7.74e-6
        let test = srm(&[1100, 900], None);
        assert!((test.chi2 - 20.0).abs() < 1e-12);
        assert!((test.p_value - 7.744_216_431_044_088e-6).abs() < 1e-17);
        assert!(test.flag);
        // the same counts are fine under 55/45 weights
        let test = srm(&[1100, 900], Some(&[55.0, 45.0]));
        assert!(test.chi2.abs() < 1e-12 && !test.flag);
    }
}
