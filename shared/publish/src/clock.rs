//! Where the engine reads the time: the system clock in production, a clock tests move by hand.

use std::sync::atomic::{AtomicI64, Ordering};

use async_trait::async_trait;

#[async_trait]
pub trait Clock: Send + Sync {
    /// Now, in Unix milliseconds.
    fn now_ms(&self) -> i64;
    /// Waits `ms` milliseconds of this clock.
    async fn sleep(&self, ms: u64);
}

/// The system clock.
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
    async fn sleep(&self, ms: u64) {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

/// A clock that moves only when told to (or when something sleeps on it).
#[derive(Debug)]
pub struct FakeClock(AtomicI64);

impl FakeClock {
    /// A clock at `unix_secs`.
    pub fn at(unix_secs: i64) -> FakeClock {
        FakeClock(AtomicI64::new(unix_secs * 1000))
    }
    /// A clock at the system's time now.
    pub fn now() -> FakeClock {
        FakeClock(AtomicI64::new(SystemClock.now_ms()))
    }
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    pub fn advance(&self, secs: i64) {
        self.advance_ms(secs * 1000);
    }
}

#[async_trait]
impl Clock for FakeClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
    async fn sleep(&self, ms: u64) {
        self.advance_ms(ms as i64);
        tokio::task::yield_now().await;
    }
}
