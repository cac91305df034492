//! Faults on demand inside the real writer, for tests only: the product never
//! arms them. A test asks for the next N batches (of one room, or of any) to
//! fail, and the writer takes them down the same path a real failure takes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// How an injected fault fails a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedFault {
    /// The batch fails as if the log could not be reached: it never goes to
    /// Postgres and its caller gets [`super::LogErrorKind::Unavailable`].
    Unavailable,
    /// The batch's first row is replaced by JSON that Postgres refuses
    /// (`\u0000`), so the database itself rejects the group and the writer
    /// has to find the batch at fault, as with real bad data.
    Rejected,
}

/// Fail the next `batches` appends of `room_id` (or of any room) with `fault`.
#[derive(Debug, Clone)]
pub struct FaultPlan {
    pub fault: InjectedFault,
    pub batches: usize,
    /// Only this room's batches; `None`: any room's.
    pub room_id: Option<String>,
}

/// The payload an injected `Rejected` fault writes: valid JSON text that the
/// `jsonb` cast refuses (SQLSTATE 22P05).
pub(crate) const POISONED_PAYLOAD: &str = r#"{"injected_fault": "\u0000"}"#;

/// The plans still to fire. `armed` keeps the hot path to one atomic load
/// when no test asked for anything.
#[derive(Default)]
pub(crate) struct Faults {
    armed: AtomicBool,
    plans: Mutex<Vec<FaultPlan>>,
}

impl Faults {
    pub(crate) fn add(&self, plan: FaultPlan) {
        if plan.batches == 0 {
            return;
        }
        // unwrap: the lock is never held across a panic
        self.plans.lock().unwrap().push(plan);
        self.armed.store(true, Ordering::Release);
    }

    pub(crate) fn is_armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }

    /// The fault for one batch of `room_id`, if a plan wants it (counting it).
    pub(crate) fn take(&self, room_id: &str) -> Option<InjectedFault> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        // unwrap: the lock is never held across a panic
        let mut plans = self.plans.lock().unwrap();
        let index = plans.iter().position(|p| p.room_id.as_deref().is_none_or(|r| r == room_id))?;
        let fault = plans[index].fault;
        plans[index].batches -= 1;
        if plans[index].batches == 0 {
            plans.remove(index);
        }
        if plans.is_empty() {
            self.armed.store(false, Ordering::Release);
        }
        Some(fault)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_fires_for_its_room_as_many_times_as_asked_then_disarms() {
        let faults = Faults::default();
        assert_eq!(faults.take("r1"), None);
        faults.add(FaultPlan { fault: InjectedFault::Rejected, batches: 2, room_id: Some("r1".into()) });
        faults.add(FaultPlan { fault: InjectedFault::Unavailable, batches: 1, room_id: None });
        assert_eq!(faults.take("r2"), Some(InjectedFault::Unavailable));
        assert_eq!(faults.take("r2"), None);
        assert_eq!(faults.take("r1"), Some(InjectedFault::Rejected));
        assert_eq!(faults.take("r1"), Some(InjectedFault::Rejected));
        assert_eq!(faults.take("r1"), None);
        assert!(!faults.armed.load(Ordering::Acquire));
    }
}
