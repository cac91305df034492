//! §8.6 Multiple comparisons: Holm (FWER) and Benjamini–Hochberg (FDR)
//! adjusted p-values, as statsmodels `multipletests` computes them.

/// Holm step-down: sorted ascending, (m − i)·p_(i), running maximum, capped at 1.
pub fn holm(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let order = ascending_order(p_values);
    let mut adjusted = vec![0.0; m];
    let mut running = 0.0f64;
    for (rank, &index) in order.iter().enumerate() {
        running = running.max(p_values[index] * (m - rank) as f64);
        adjusted[index] = running.min(1.0);
    }
    adjusted
}

/// Benjamini–Hochberg: p_(i) / (i / m), running minimum from the top, capped at 1.
pub fn benjamini_hochberg(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let order = ascending_order(p_values);
    let mut adjusted = vec![0.0; m];
    let mut running = f64::INFINITY;
    for (rank, &index) in order.iter().enumerate().rev() {
        let factor = (rank + 1) as f64 / m as f64;
        running = running.min(p_values[index] / factor);
        adjusted[index] = running.min(1.0);
    }
    adjusted
}

fn ascending_order(p_values: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..p_values.len()).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holm_and_bh_match_statsmodels_on_a_textbook_family() {
        // statsmodels.stats.multitest.multipletests([0.01, 0.04, 0.03, 0.005], method="holm" / "fdr_bh")
        let p = [0.01, 0.04, 0.03, 0.005];
        let expected_holm = [0.03, 0.06, 0.06, 0.02];
        let expected_bh = [0.02, 0.04, 0.04, 0.02];
        for (got, want) in holm(&p).iter().zip(expected_holm) {
            assert!((got - want).abs() < 1e-15, "holm {got} vs {want}");
        }
        for (got, want) in benjamini_hochberg(&p).iter().zip(expected_bh) {
            assert!((got - want).abs() < 1e-15, "bh {got} vs {want}");
        }
        assert_eq!(holm(&[0.6, 0.7]), vec![1.0, 1.0]);
    }
}
