//! A latency histogram of atomics for the hot path.
//!
//! prometheus-client's `Histogram` takes a mutex per observation, which every
//! worker thread would share on every request of a route. Here an
//! observation is two relaxed atomic adds on the calling thread's own shard,
//! so worker threads do not pass cache lines to each other; a scrape adds
//! the shards up as they are (a count and a sum taken a moment apart are
//! fine for Prometheus).

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crossbeam_utils::CachePadded;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// A histogram of durations in seconds, with fixed upper bounds.
#[derive(Debug, Clone)]
pub struct Histogram {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Upper bounds, ascending; an implicit `+Inf` bucket follows.
    bounds: Vec<f64>,
    /// Padded to whole cache lines, so no two threads' shards share one.
    shards: Box<[CachePadded<Shard>]>,
}

/// The most bounds a histogram takes (the `+Inf` bucket not counted).
const MAX_BOUNDS: usize = 15;

/// One thread's share, its counters inline.
#[derive(Debug, Default)]
struct Shard {
    /// Observations per bucket (not cumulative): `bounds`, then `+Inf`.
    counts: [AtomicU64; MAX_BOUNDS + 1],
    /// The sum of observations, in nanoseconds.
    sum_nanos: AtomicU64,
}

/// Shards per histogram: more than the worker threads of a small machine;
/// threads beyond share.
const SHARDS: usize = 8;

/// The calling thread's shard number, handed out in turn.
fn shard_of_this_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local!(static SHARD: Cell<Option<usize>> = const { Cell::new(None) });
    SHARD.with(|shard| {
        *shard.get().get_or_insert_with(|| {
            let next = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
            shard.set(Some(next));
            next
        })
    })
}

impl Histogram {
    /// `length` buckets (at most 15) whose bounds start at `start` and grow
    /// by `factor`.
    pub fn exponential(start: f64, factor: f64, length: u16) -> Self {
        assert!(
            usize::from(length) <= MAX_BOUNDS,
            "at most {MAX_BOUNDS} bounds"
        );
        let bounds: Vec<f64> = (0..length).map(|i| start * factor.powi(i.into())).collect();
        let shards = (0..SHARDS).map(|_| CachePadded::default()).collect();
        let inner = Inner { bounds, shards };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Records one duration of `seconds`.
    pub fn observe(&self, seconds: f64) {
        let inner = &self.inner;
        let bucket = inner.bounds.partition_point(|bound| *bound < seconds);
        let shard = &inner.shards[shard_of_this_thread()];
        shard.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = (seconds.max(0.0) * 1e9) as u64;
        shard.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.buckets().iter().map(|(_, n)| n).sum()
    }

    /// Each bucket's upper bound and count (not cumulative), every shard
    /// added up; the last bound is `+Inf`.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        let inner = &self.inner;
        let bounds = inner.bounds.iter().copied().chain([f64::INFINITY]);
        // Only the buckets in use: `bounds`, then `+Inf` at `bounds.len()`.
        let count = |bucket: usize| {
            let shards = inner.shards.iter();
            shards
                .map(|s| s.counts[bucket].load(Ordering::Relaxed))
                .sum()
        };
        bounds
            .enumerate()
            .map(|(i, bound)| (bound, count(i)))
            .collect()
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let buckets = self.buckets();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let shards = self.inner.shards.iter();
        let nanos: u64 = shards.map(|s| s.sum_nanos.load(Ordering::Relaxed)).sum();
        let sum = nanos as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(histogram: &Histogram) -> String {
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register("latency", "test", histogram.clone());
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn observations_land_in_cumulative_buckets_with_their_sum_and_count() {
        let histogram = Histogram::exponential(0.001, 2.0, 3);
        for seconds in [0.0005, 0.001, 0.003, 10.0] {
            histogram.observe(seconds);
        }
        let text = rendered(&histogram);
        assert!(text.contains("latency_bucket{le=\"0.001\"} 2"), "{text}");
        assert!(text.contains("latency_bucket{le=\"0.002\"} 2"), "{text}");
        assert!(text.contains("latency_bucket{le=\"0.004\"} 3"), "{text}");
        assert!(text.contains("latency_bucket{le=\"+Inf\"} 4"), "{text}");
        assert!(text.contains("latency_count 4"), "{text}");
        assert!(text.contains("latency_sum 10.0045"), "{text}");
        assert_eq!(histogram.count(), 4);
    }

    #[test]
    fn observations_from_several_threads_are_all_counted() {
        let histogram = Histogram::exponential(0.001, 2.0, 3);
        let threads: Vec<_> = (0..SHARDS + 2)
            .map(|_| {
                let histogram = histogram.clone();
                std::thread::spawn(move || (0..100).for_each(|_| histogram.observe(0.002)))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(histogram.count(), 100 * (SHARDS as u64 + 2));
        let text = rendered(&histogram);
        assert!(
            text.contains(&format!("latency_sum {}", 0.2 * (SHARDS as f64 + 2.0))),
            "{text}"
        );
    }
}
