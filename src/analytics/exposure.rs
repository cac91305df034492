//! §3 Assignment, exposure, analysis population, design check.

use super::input::{Event, Kind, NONE};

/// §3.1 A viewer's first exposure, and §3.2 whether they saw another variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exposure {
    pub exposure_ts: i64,
    /// Index of the exposure's join in the ordered, observed events.
    pub event_index: u32,
    /// The analysis stream.
    pub session: u32,
    pub variant: u32,
    /// §3.2 `multiple exposure`: excluded from every metric and from SRM.
    pub multiple: bool,
}

impl Exposure {
    /// §3.3 in the analysis population.
    pub fn in_population(&self) -> bool {
        !self.multiple
    }
}

/// §3.4 inputs: which variants each stream's exposures carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesignCheck {
    /// Per stream: the distinct variants of its exposures.
    pub stream_variants: Vec<Vec<u32>>,
    /// §3.4: ≥ 2 streams with exposures, every one pure, ≥ 2 variants overall.
    pub session_randomised: bool,
}

impl DesignCheck {
    /// Streams whose exposures carry `variant`.
    pub fn streams_with(&self, variant: u32) -> u64 {
        self.stream_variants.iter().filter(|v| v.contains(&variant)).count() as u64
    }
}

/// §3.1-§3.2 over the ordered, observed events: every join with a variant is
/// an exposure; the first one (by §2.3) gives the viewer's record.
pub fn exposures(events: &[Event], viewer_count: usize, session_count: usize) -> (Vec<Option<Exposure>>, DesignCheck) {
    let mut by_viewer: Vec<Option<Exposure>> = vec![None; viewer_count];
    let mut stream_variants: Vec<Vec<u32>> = vec![Vec::new(); session_count];
    let mut variants_seen: Vec<u32> = Vec::new();
    for (index, event) in events.iter().enumerate() {
        if event.kind != Kind::Join || event.variant == NONE {
            continue;
        }
        match &mut by_viewer[event.viewer as usize] {
            Some(first) => first.multiple |= first.variant != event.variant,
            slot @ None => {
                *slot = Some(Exposure {
                    exposure_ts: event.ts,
                    event_index: index as u32,
                    session: event.session,
                    variant: event.variant,
                    multiple: false,
                })
            }
        }
        let stream = &mut stream_variants[event.session as usize];
        if !stream.contains(&event.variant) {
            stream.push(event.variant);
        }
        if !variants_seen.contains(&event.variant) {
            variants_seen.push(event.variant);
        }
    }
    let streams_with_exposures = stream_variants.iter().filter(|v| !v.is_empty()).count();
    let all_pure = stream_variants.iter().all(|v| v.len() <= 1);
    let session_randomised = streams_with_exposures >= 2 && all_pure && variants_seen.len() >= 2;
    (by_viewer, DesignCheck { stream_variants, session_randomised })
}
