//! Rate limiters: one per channel (shared by every broadcast on it) and one per broadcast with
//! a send rate, both governor GCRA limiters shaped so that a rate of `count` per `period` is
//! never exceeded in any window of `period` and is nearly all used.
//!
//! Why the shaping: governor's `Quota::per_second(n)` allows a burst of `n`, so up to `2n − 1`
//! cells pass in one second; with a burst of 1 nothing is ever early, but every late wake-up (a
//! timer firing a fraction of a millisecond late, a busy core) is lost for good, which costs
//! several percent at 80/s. Here each message takes `k` cells and the limiter allows
//! `TOLERANCE` worth of extra cells, so a message may go up to 5 ms ahead of its slot and a late
//! wake-up is made up. The slots are spaced for `count` messages per `period + 2·TOLERANCE`: any
//! `count + 1` consecutive messages then span at least `period + TOLERANCE` (the first one of a
//! run is never early, the others at most `TOLERANCE`), so no window of `period` ever holds more
//! than `count`, with 5 ms to spare for jitter on the way to the provider; and 99% of the rate is
//! used.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::DefaultClock;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};

use crate::channels::RateLimit;

/// How far ahead of its slot a message may go.
pub const TOLERANCE: Duration = Duration::from_millis(5);

/// A limiter for one rate.
pub struct Limiter {
    rate: RateLimit,
    cells_per_message: NonZeroU32,
    inner: RateLimiter<NotKeyed, InMemoryState, DefaultClock>,
}

impl Limiter {
    pub fn new(rate: RateLimit) -> Limiter {
        let period = Duration::from_secs(u64::from(rate.period_secs.max(1)));
        // Messages per second, lowered so that the tolerance cannot push a window over.
        let per_second = f64::from(rate.count.max(1)) / (period + 2 * TOLERANCE).as_secs_f64();
        // Cells small enough that the tolerance is a whole number of them (about a
        // microsecond each at most, a thousand per message at most).
        let cells = (1_000_000.0 / per_second).clamp(1.0, 1000.0).floor() as u32;
        let cell_period = Duration::from_secs_f64(1.0 / (per_second * f64::from(cells)));
        let slack = (TOLERANCE.as_secs_f64() / cell_period.as_secs_f64()).floor() as u32;
        let burst = NonZeroU32::new(cells.saturating_add(slack)).expect("at least one cell");
        let quota =
            Quota::with_period(cell_period.max(Duration::from_nanos(1))).expect("a positive period").allow_burst(burst);
        Limiter {
            rate,
            cells_per_message: NonZeroU32::new(cells).expect("at least one cell"),
            inner: RateLimiter::direct(quota),
        }
    }

    /// The rate it enforces.
    pub fn rate(&self) -> RateLimit {
        self.rate
    }

    /// Waits until one more message may go.
    pub async fn until_ready(&self) {
        // `cells_per_message` never exceeds the burst, so this cannot fail.
        let _ = self.inner.until_n_ready(self.cells_per_message).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Over three seconds of eager callers, no window of one second has more than the rate.
    #[tokio::test]
    async fn never_exceeds_the_rate_in_any_window() {
        let limiter = Limiter::new(RateLimit::per_second(50));
        let start = std::time::Instant::now();
        let mut times = Vec::new();
        while start.elapsed() < Duration::from_millis(2500) {
            limiter.until_ready().await;
            times.push(start.elapsed());
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..].iter().take_while(|u| **u < *t + Duration::from_secs(1)).count();
            assert!(in_window <= 50, "{in_window} messages in the second from {t:?}");
        }
        // And nearly all of it is used (the first second may be short of a full window).
        assert!(times.len() >= 120, "only {} messages in 2.5 s at 50/s", times.len());
    }
}
