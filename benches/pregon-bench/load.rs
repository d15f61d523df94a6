//! A closed-loop HTTP load generator: `concurrency` clients each send a request, wait for
//! the answer, and send the next, for a fixed time after a warm-up. Latencies go into an
//! HDR histogram (microseconds).

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

#[derive(Debug, Clone, Copy)]
pub struct LoadResult {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// Runs `make_request` in a closed loop; a response that is not 2xx, or whose body fails
/// `check`, counts as an error.
pub async fn run<F>(
    concurrency: usize,
    warm_up: Duration,
    duration: Duration,
    make_request: F,
    check: fn(&[u8]) -> bool,
) -> LoadResult
where
    F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let client = reqwest::Client::builder().pool_max_idle_per_host(concurrency).build().expect("client");
    let make_request = Arc::new(make_request);
    let started = Instant::now();
    let measure_from = started + warm_up;
    let until = measure_from + duration;
    let mut workers = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let make_request = make_request.clone();
        workers.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
            let (mut requests, mut errors) = (0u64, 0u64);
            loop {
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                let ok = match make_request(&client).send().await {
                    Ok(response) if response.status().is_success() => {
                        response.bytes().await.map(|body| check(&body)).unwrap_or(false)
                    }
                    _ => false,
                };
                if sent >= measure_from {
                    requests += 1;
                    if !ok {
                        errors += 1;
                    }
                    histogram.saturating_record(sent.elapsed().as_micros() as u64);
                }
            }
            (histogram, requests, errors)
        }));
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram");
    let (mut requests, mut errors) = (0, 0);
    for worker in workers {
        let (h, r, e) = worker.await.expect("worker");
        histogram.add(h).expect("same bounds");
        requests += r;
        errors += e;
    }
    LoadResult {
        requests,
        errors,
        seconds: duration.as_secs_f64(),
        p50_ms: histogram.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: histogram.value_at_quantile(0.99) as f64 / 1000.0,
    }
}
