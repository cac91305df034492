//! §6 Commerce metrics: purchases that count toward each exposed viewer.

use super::exposure::Exposure;
use super::input::{Event, Kind};

/// One viewer's counted purchases.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Purchases {
    pub orders: u32,
    pub gmv: f64,
}

/// §6: a purchase counts when it survived §2.2 (the events given are the
/// observed ones) and `ts ≥ exposure_ts`, in any stream, present or not.
/// Purchases by viewers with no exposure are `ignored_purchase_unexposed_viewer`.
/// Multiple-exposure viewers are excluded from every metric (§3.2).
pub fn purchases(events: &[Event], exposures: &[Option<Exposure>]) -> (Vec<Purchases>, u64) {
    let mut per_viewer = vec![Purchases::default(); exposures.len()];
    let mut compensation = vec![0.0f64; exposures.len()];
    let mut unexposed = 0u64;
    for event in events.iter().filter(|e| e.kind == Kind::Purchase) {
        let viewer = event.viewer as usize;
        let Some(exposure) = &exposures[viewer] else {
            unexposed += 1;
            continue;
        };
        if !exposure.in_population() || event.ts < exposure.exposure_ts {
            continue;
        }
        let slot = &mut per_viewer[viewer];
        slot.orders += 1;
        neumaier_add(&mut slot.gmv, &mut compensation[viewer], event.amount);
    }
    for (slot, compensation) in per_viewer.iter_mut().zip(compensation) {
        slot.gmv += compensation;
    }
    (per_viewer, unexposed)
}

/// Compensated summation (Neumaier): sums of money stay exact to the last
/// digit whatever the order, as pandas' Kahan-compensated group sums are.
pub fn neumaier_add(sum: &mut f64, compensation: &mut f64, value: f64) {
    let total = *sum + value;
    if sum.abs() >= value.abs() {
        *compensation += (*sum - total) + value;
    } else {
        *compensation += (value - total) + *sum;
    }
    *sum = total;
}

/// Σ values, compensated.
pub fn compensated_sum(values: impl IntoIterator<Item = f64>) -> f64 {
    let (mut sum, mut compensation) = (0.0, 0.0);
    for value in values {
        neumaier_add(&mut sum, &mut compensation, value);
    }
    sum + compensation
}
