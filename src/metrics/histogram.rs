//! A latency histogram of atomics for the hot path.
//!
//! prometheus-client's `Histogram` takes a mutex per observation, which every
//! worker thread would share on every request of a route. Here an
//! observation is two relaxed atomic adds; a scrape reads the buckets as
//! they are (a count and a sum taken a moment apart are fine for Prometheus).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
    /// Observations per bucket (not cumulative), one more than `bounds`.
    counts: Vec<AtomicU64>,
    /// The sum of observations, in nanoseconds.
    sum_nanos: AtomicU64,
}

impl Histogram {
    /// `length` buckets whose bounds start at `start` and grow by `factor`.
    pub fn exponential(start: f64, factor: f64, length: u16) -> Self {
        let bounds: Vec<f64> = (0..length).map(|i| start * factor.powi(i.into())).collect();
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        let inner = Inner {
            bounds,
            counts,
            sum_nanos: AtomicU64::new(0),
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// Records one duration of `seconds`.
    pub fn observe(&self, seconds: f64) {
        let inner = &self.inner;
        let bucket = inner.bounds.partition_point(|bound| *bound < seconds);
        inner.counts[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = (seconds.max(0.0) * 1e9) as u64;
        inner.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        let counts = self.inner.counts.iter();
        counts.map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

impl TypedMetric for Histogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for Histogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let inner = &self.inner;
        let bounds = inner.bounds.iter().copied().chain([f64::INFINITY]);
        let counts = inner.counts.iter().map(|c| c.load(Ordering::Relaxed));
        let buckets: Vec<(f64, u64)> = bounds.zip(counts).collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = inner.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
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
}
