//! Known values from mpmath at 50 significant digits.

#![allow(clippy::excessive_precision)]

use super::*;

fn assert_relative(actual: f64, expected: f64, tolerance: f64, what: &str) {
    let error = ((actual - expected) / expected).abs();
    assert!(error <= tolerance, "{what}: {actual:e} vs {expected:e} (relative error {error:e})");
}

#[test]
fn erfc_matches_mpmath_across_cody_s_three_ranges_and_the_tail() {
    let cases = [
        (-3.0, 1.999_977_909_503_001_4),
        (-0.3, 1.328_626_759_459_127_4),
        (0.1, 0.887_537_083_981_715_1),
        (0.46875, 0.507_386_526_782_062),
        (0.5, 0.479_500_122_186_953_46),
        (1.0, 0.157_299_207_050_285_13),
        (2.5, 4.069_520_174_449_589_4e-4),
        (4.0, 1.541_725_790_028_001_9e-8),
        (4.5, 1.966_160_441_542_887_5e-10),
        (10.0, 2.088_487_583_762_544_8e-45),
        (26.0, 5.663_192_408_856_142_8e-296),
    ];
    for (x, expected) in cases {
        assert_relative(erfc(x), expected, 2e-15, &format!("erfc({x})"));
    }
    assert_eq!(erfc(30.0), 0.0);
    assert!((erf(0.5) - (1.0 - 0.479_500_122_186_953_46)).abs() < 1e-16);
}

#[test]
fn normal_quantile_is_exact_to_the_last_digits_in_both_tails() {
    let cases = [
        (1e-20, -9.262_340_089_798_408),
        (1e-5, -4.264_890_793_922_825),
        (0.02, -2.053_748_910_631_823),
        (0.025, -1.959_963_984_540_054_2),
        (0.3, -0.524_400_512_708_040_8),
        (0.975, 1.959_963_984_540_053_9),
        (0.999_999, 4.753_424_308_817_088),
    ];
    for (p, expected) in cases {
        assert_relative(norm_ppf(p), expected, 2e-15, &format!("norm_ppf({p})"));
    }
    assert_eq!(norm_ppf(0.5), 0.0);
    assert_eq!(norm_ppf(0.0), f64::NEG_INFINITY);
    assert!(norm_ppf(1.5).is_nan());
}

#[test]
fn student_t_two_sided_p_matches_mpmath_for_small_and_huge_dof() {
    let cases = [
        (2.0, 5.0, 0.101_939_478_829_858_36),
        (0.5, 12.5, 0.625_760_892_219_834_6),
        (10.0, 3.3, 1.402_481_427_667_086e-3),
        (3.0, 1000.0, 2.766_709_044_238_192_5e-3),
        (1.96, 1e6, 0.049_996_067_585_269_79),
        (0.001, 7.0, 0.999_230_017_244_998_8),
        (6.0, 39_998.7, 1.990_098_590_333_255_3e-9),
    ];
    for (t, dof, expected) in cases {
        assert_relative(t_two_sided_p(t, dof), expected, 1e-13, &format!("t p({t}, {dof})"));
        assert_relative(2.0 * t_sf(t, dof), expected, 1e-13, &format!("t sf({t}, {dof})"));
    }
}

#[test]
fn student_t_quantile_inverts_the_cdf() {
    let cases = [
        (1.0, 12.706_204_736_174_705),
        (2.5, 3.574_654_842_003_683),
        (10.0, 2.228_138_851_986_274_8),
        (123.4, 1.979_374_946_317_420_2),
        (39_998.7, 1.960_023_295_012_561),
    ];
    for (dof, expected) in cases {
        assert_relative(t_ppf(0.975, dof), expected, 1e-14, &format!("t_ppf(0.975, {dof})"));
        assert_relative(t_ppf(0.025, dof), -expected, 1e-14, &format!("t_ppf(0.025, {dof})"));
    }
}

#[test]
fn chi_square_survival_matches_mpmath_including_the_far_tail() {
    let cases = [
        (3.84, 1.0, 0.050_043_521_248_705_1),
        (100.0, 1.0, 1.523_970_604_832_105_2e-23),
        (5.0, 2.0, 0.082_084_998_623_898_8),
        (7.3, 3.0, 0.062_926_236_459_043_17),
        (0.5, 4.0, 0.973_500_978_839_256_1),
        (50.0, 5.0, 1.385_797_336_700_959_3e-9),
        (2.0, 3.0, 0.572_406_704_470_879_8),
    ];
    for (x, dof, expected) in cases {
        assert_relative(chi2_sf(x, dof), expected, 1e-14, &format!("chi2_sf({x}, {dof})"));
    }
    // the general routine agrees with the closed forms
    assert_relative(inc_gamma_upper(0.5, 50.0), chi2_sf(100.0, 1.0), 1e-14, "Q(0.5, 50)");
    assert_relative(inc_gamma_upper(1.0, 2.5), chi2_sf(5.0, 2.0), 1e-14, "Q(1, 2.5)");
}

#[test]
fn log_gamma_and_log_beta_keep_their_digits_for_large_arguments() {
    let gammas = [
        (0.5, 0.572_364_942_924_700_1),
        (1.5, -0.120_782_237_635_245_22),
        (3.7, 1.428_072_326_665_388_1),
        (12.0, 17.502_307_845_873_886),
        (10_000.5, 82_104.322_654_128_37),
    ];
    // absolute error is what the prefactors exp(a ln x − ln B) feel (and
    // relative error is meaningless near the zeros at 1 and 2)
    for (x, expected) in gammas {
        let error = (ln_gamma(x) - expected).abs();
        assert!(error <= 2e-15 * expected.abs().max(1.0), "ln_gamma({x}): error {error:e}");
    }
    let betas = [
        (5000.25, 0.5, -3.686_231_653_408_418_6),
        (30.0, 40.0, -48.301_749_095_916_125),
        (2.0, 3.0, -2.484_906_649_788_000_3),
        (1e5, 7.5, -78.812_820_494_830_68),
    ];
    for (a, b, expected) in betas {
        assert_relative(ln_beta(a, b), expected, 2e-15, &format!("ln_beta({a}, {b})"));
    }
}
#[test]
fn student_t_keeps_its_precision_for_welch_dof_in_the_tens_of_thousands() {
    // mpmath at 40 digits; the continued fraction alone was off by 4e-11 at dof 1e6
    let cases = [
        (1.96, 1e6, 0.049_996_067_585_269_79),
        (3.0, 40_000.0, 2.701_458_278_555_181_4e-3),
        (15.0, 10_000.0, 2.583_315_039_939_176_4e-50),
        (1.0, 2000.0, 0.317_431_478_100_743_3),
        (8.0, 1999.0, 2.086_965_053_529_587e-15),
    ];
    for (t, dof, expected) in cases {
        assert_relative(t_two_sided_p(t, dof), expected, 5e-14, &format!("t p({t}, {dof})"));
    }
}
