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
    /// Per stream: the variant of its exposures, `NONE` if it has none,
    /// `MIXED` if they carry more than one.
    pub stream_variant: Vec<u32>,
    /// §3.4: ≥ 2 streams with exposures, every one pure, ≥ 2 variants overall.
    pub session_randomised: bool,
}

/// A stream whose exposures carry more than one variant.
pub const MIXED: u32 = u32::MAX - 1;

/// §3.1-§3.2 over the ordered, observed events: every join with a variant is
/// an exposure; the first one (by §2.3) gives the viewer's record.
pub fn exposures(events: &[Event], viewer_count: usize, session_count: usize) -> (Vec<Option<Exposure>>, DesignCheck) {
    let mut by_viewer: Vec<Option<Exposure>> = vec![None; viewer_count];
    let mut stream_variant = vec![NONE; session_count];
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
        let stream = &mut stream_variant[event.session as usize];
        *stream = match *stream {
            NONE => event.variant,
            same if same == event.variant => same,
            _ => MIXED,
        };
        if !variants_seen.contains(&event.variant) {
            variants_seen.push(event.variant);
        }
    }
    let streams_with_exposures = stream_variant.iter().filter(|v| **v != NONE).count();
    let all_pure = stream_variant.iter().all(|v| *v != MIXED);
    let session_randomised = streams_with_exposures >= 2 && all_pure && variants_seen.len() >= 2;
    (by_viewer, DesignCheck { stream_variant, session_randomised })
}
