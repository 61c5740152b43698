//! What AWS Lambda bills for lee, from measured durations: billed
//! duration, GB-seconds, how much of a month the free tier covers and the
//! bill past it. Pure arithmetic, no clock.
//!
//! Prices: AWS Lambda pricing, <https://aws.amazon.com/lambda/pricing/>,
//! US East (N. Virginia), as of 2026, the tier a 128 MB function stays in
//! (arm64's first 7.5 billion GB-seconds a month). The same numbers are
//! carried by load-testing tools that price Lambda runs (Artillery's
//! `platform/aws-lambda/prices.js`: arm64 `1333340` per 10^11 GB-s).

use std::time::Duration;

/// arm64 compute, US dollars per GB-second (first tier).
pub const ARM64_USD_PER_GB_SECOND: f64 = 0.000_013_333_4;

/// Requests, US dollars per million (any architecture).
pub const USD_PER_MILLION_REQUESTS: f64 = 0.20;

/// Requests a month the free tier covers (it never expires).
pub const FREE_REQUESTS: u64 = 1_000_000;

/// GB-seconds a month the free tier covers, x86_64 and arm64 together.
pub const FREE_GB_SECONDS: f64 = 400_000.0;

/// Duration as Lambda bills it: rounded up to the next whole millisecond,
/// at least 1 ms.
pub fn billed_ms(duration: Duration) -> u64 {
    let nanos = duration.as_nanos();
    let ms = nanos.div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).max(1)
}

/// GB-seconds for `billed_ms` milliseconds at `memory_mb` (Lambda counts
/// 1 GB as 1024 MB).
pub fn gb_seconds(billed_ms: f64, memory_mb: u32) -> f64 {
    billed_ms / 1000.0 * f64::from(memory_mb) / 1024.0
}

/// The free tier's two caps, and which one a workload meets first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FreeTier {
    /// Invocations a month the request allowance covers.
    pub by_requests: u64,
    /// Invocations a month the GB-second allowance covers.
    pub by_compute: u64,
}

/// Which free-tier cap a workload meets first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Binds {
    /// The 1 M requests.
    Requests,
    /// The 400 000 GB-seconds.
    Compute,
}

impl FreeTier {
    /// The caps for invocations of `gb_seconds_each`.
    pub fn for_invocations(gb_seconds_each: f64) -> FreeTier {
        let by_compute = if gb_seconds_each > 0.0 {
            // A float past u64's range saturates, which is the truth here.
            (FREE_GB_SECONDS / gb_seconds_each).floor() as u64
        } else {
            u64::MAX
        };
        FreeTier {
            by_requests: FREE_REQUESTS,
            by_compute,
        }
    }

    /// Invocations a month that cost nothing.
    pub fn invocations(&self) -> u64 {
        self.by_requests.min(self.by_compute)
    }

    /// The cap met first.
    pub fn binds(&self) -> Binds {
        if self.by_compute < self.by_requests {
            Binds::Compute
        } else {
            Binds::Requests
        }
    }
}

/// A month's bill past the free tier, US dollars.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MonthlyCost {
    /// For requests past the free million.
    pub requests: f64,
    /// For GB-seconds past the free 400 000.
    pub compute: f64,
}

impl MonthlyCost {
    /// The bill for `invocations` a month of `gb_seconds_each`, arm64.
    pub fn of(invocations: u64, gb_seconds_each: f64) -> MonthlyCost {
        let paid_requests = invocations.saturating_sub(FREE_REQUESTS);
        let paid_gb_seconds = (invocations as f64 * gb_seconds_each - FREE_GB_SECONDS).max(0.0);
        MonthlyCost {
            requests: paid_requests as f64 / 1e6 * USD_PER_MILLION_REQUESTS,
            compute: paid_gb_seconds * ARM64_USD_PER_GB_SECOND,
        }
    }

    /// Both together.
    pub fn total(&self) -> f64 {
        self.requests + self.compute
    }
}

/// A workload's bill: what it costs per invocation and a month.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Projection {
    /// Mean billed duration per invocation, ms.
    pub billed_ms: f64,
    /// GB-seconds per invocation.
    pub gb_seconds_each: f64,
    /// The free tier's caps for it.
    pub free: FreeTier,
    /// The bill for the month's volume.
    pub cost: MonthlyCost,
}

impl Projection {
    /// `invocations` (at least one) that were billed `billed_ms_total`
    /// together, at `memory_mb`, projected to `monthly` invocations.
    pub fn new(billed_ms_total: u64, invocations: u64, memory_mb: u32, monthly: u64) -> Projection {
        let billed_ms = billed_ms_total as f64 / invocations.max(1) as f64;
        let gb_seconds_each = gb_seconds(billed_ms, memory_mb);
        Projection {
            billed_ms,
            gb_seconds_each,
            free: FreeTier::for_invocations(gb_seconds_each),
            cost: MonthlyCost::of(monthly, gb_seconds_each),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn billed_duration_rounds_up_to_the_millisecond() {
        assert_eq!(billed_ms(Duration::ZERO), 1);
        assert_eq!(billed_ms(Duration::from_micros(40)), 1);
        assert_eq!(billed_ms(Duration::from_millis(1)), 1);
        assert_eq!(billed_ms(Duration::from_nanos(1_000_001)), 2);
        assert_eq!(billed_ms(Duration::from_micros(30_400)), 31);
        assert_eq!(billed_ms(Duration::from_millis(100)), 100);
    }

    #[test]
    fn a_thousand_one_millisecond_invocations_at_128_mb() {
        assert!(close(gb_seconds(1000.0, 128), 0.125));
        assert!(close(gb_seconds(1.0, 1024), 0.001));
    }

    #[test]
    fn ten_million_at_100_ms_meets_the_request_cap_and_pays_for_requests_only() {
        let each = gb_seconds(100.0, 128);
        let tier = FreeTier::for_invocations(each);
        assert_eq!(tier.by_compute, 32_000_000);
        assert_eq!(tier.binds(), Binds::Requests);
        assert_eq!(tier.invocations(), 1_000_000);
        // 125 000 GB-s is under the free 400 000; 9 M paid requests.
        let cost = MonthlyCost::of(10_000_000, each);
        assert!(close(cost.requests, 1.80), "{cost:?}");
        assert!(close(cost.compute, 0.0), "{cost:?}");
    }

    #[test]
    fn two_million_at_1_ms_pays_twenty_cents() {
        let each = gb_seconds(1.0, 128);
        let tier = FreeTier::for_invocations(each);
        assert_eq!(tier.binds(), Binds::Requests);
        assert_eq!(tier.by_compute, 3_200_000_000);
        let cost = MonthlyCost::of(2_000_000, each);
        assert!(close(cost.total(), 0.20), "{cost:?}");
    }

    #[test]
    fn a_hanging_home_assistant_makes_compute_the_cap() {
        // Every invocation waiting 4 s at 128 MB: 0.5 GB-s each.
        let each = gb_seconds(4000.0, 128);
        let tier = FreeTier::for_invocations(each);
        assert_eq!(tier.by_compute, 800_000);
        assert_eq!(tier.binds(), Binds::Compute);
        assert_eq!(tier.invocations(), 800_000);
        // A million: 500 000 GB-s, 100 000 of them paid; no paid requests.
        let cost = MonthlyCost::of(1_000_000, each);
        assert!(close(cost.requests, 0.0));
        assert!(close(cost.compute, 100_000.0 * ARM64_USD_PER_GB_SECOND));
        assert!(close(cost.compute, 1.33334), "{cost:?}");
    }

    #[test]
    fn a_projection_averages_the_billed_durations() {
        // 3 invocations billed 1, 1 and 4 ms: 2 ms each on average.
        let p = Projection::new(6, 3, 128, 3_000_000);
        assert!(close(p.billed_ms, 2.0));
        assert!(close(p.gb_seconds_each, 0.000_25));
        assert_eq!(p.free.binds(), Binds::Requests);
        assert!(close(p.cost.total(), 0.40), "{p:?}");
    }

    #[test]
    fn nothing_is_billed_inside_the_free_tier() {
        let cost = MonthlyCost::of(FREE_REQUESTS, gb_seconds(1.0, 128));
        assert_eq!(cost.total(), 0.0);
        assert_eq!(FreeTier::for_invocations(0.0).binds(), Binds::Requests);
    }
}
