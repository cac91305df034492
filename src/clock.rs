//! Time for the effects around the pure core: the real clock in the product,
//! a virtual one in tests (advanced by hand, so tests run fast and exactly).
//! The policy never reads a clock: time reaches it as event timestamps.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;

#[derive(Clone)]
pub enum Clock {
    Real,
    Virtual(Arc<VirtualClock>),
}

impl Clock {
    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::Real => SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0),
            Clock::Virtual(v) => v.now_ms(),
        }
    }

    /// Wait until the clock reads `deadline_ms` or later.
    pub async fn sleep_until(&self, deadline_ms: i64) {
        match self {
            Clock::Real => {
                let wait = deadline_ms - self.now_ms();
                if wait > 0 {
                    tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                }
            }
            Clock::Virtual(v) => v.sleep_until(deadline_ms).await,
        }
    }

    pub fn new_virtual(start_ms: i64) -> (Clock, Arc<VirtualClock>) {
        let v = Arc::new(VirtualClock::new(start_ms));
        (Clock::Virtual(v.clone()), v)
    }
}

/// A clock that only moves when told to.
pub struct VirtualClock {
    now: AtomicI64,
    tick: watch::Sender<i64>,
}

impl VirtualClock {
    pub fn new(start_ms: i64) -> VirtualClock {
        let (tick, _) = watch::channel(start_ms);
        VirtualClock { now: AtomicI64::new(start_ms), tick }
    }

    pub fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }

    /// Move time forward by `ms`, waking every sleeper whose deadline passed.
    pub fn advance(&self, ms: i64) {
        let now = self.now.fetch_add(ms, Ordering::SeqCst) + ms;
        self.tick.send_replace(now);
    }

    async fn sleep_until(&self, deadline_ms: i64) {
        let mut rx = self.tick.subscribe();
        while self.now_ms() < deadline_ms {
            if rx.changed().await.is_err() {
                return;
            }
        }
    }
}
