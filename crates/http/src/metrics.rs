//! Prometheus metrics (`GET /metrics`, OpenMetrics text): requests by route and status,
//! uploads by outcome with their latency, the scheduler's work, and the ledger's balances by
//! kind of account.

use std::time::Duration;

use numerus_app::TickReport;
use numerus_ledger::{AccountId, Balance};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Kind {
    kind: String,
}

/// The server's counters.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    uploads: Family<Outcome, Counter>,
    upload_seconds: Histogram,
    scheduler: Family<Kind, Counter>,
    /// Scheduler ticks that failed.
    pub scheduler_errors: Counter,
    balances: Family<Kind, Gauge<f64, std::sync::atomic::AtomicU64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh counters.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("numerus");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        let uploads = Family::<Outcome, Counter>::default();
        registry.register(
            "uploads",
            "Uploads taken by create_submission, by outcome",
            uploads.clone(),
        );
        let upload_seconds = Histogram::new([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]);
        registry.register(
            "upload_validation_seconds",
            "Time from a create_submission request to its answer",
            upload_seconds.clone(),
        );
        let scheduler = Family::<Kind, Counter>::default();
        registry.register(
            "scheduler_work",
            "Scheduler work done: rounds opened, closed, scored days, resolved; uploads reaped",
            scheduler.clone(),
        );
        let scheduler_errors = Counter::default();
        registry.register(
            "scheduler_errors",
            "Scheduler ticks that failed",
            scheduler_errors.clone(),
        );
        let balances = Family::<Kind, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "ledger_nmr",
            "NMR held, by kind of ledger account (treasury, wallet, stake, pending, burn, outside)",
            balances.clone(),
        );
        Self {
            registry,
            requests,
            uploads,
            upload_seconds,
            scheduler,
            scheduler_errors,
            balances,
        }
    }

    /// Counts a request.
    pub fn request(&self, route: &str, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// Counts an upload and its latency.
    pub fn upload(&self, accepted: bool, took: Duration) {
        let outcome = if accepted { "accepted" } else { "refused" };
        self.uploads
            .get_or_create(&Outcome {
                outcome: outcome.to_owned(),
            })
            .inc();
        self.upload_seconds.observe(took.as_secs_f64());
    }

    /// Counts a tick's work.
    pub fn record_tick(&self, report: &TickReport) {
        for (kind, count) in [
            ("opened", report.opened.len()),
            ("closed", report.closed.len()),
            ("scored", report.scored.len()),
            ("resolved", report.resolved.len()),
            ("reaped", report.reaped.len()),
            ("overdue", report.overdue_jobs.len()),
        ] {
            self.scheduler
                .get_or_create(&Kind {
                    kind: kind.to_owned(),
                })
                .inc_by(count as u64);
        }
    }

    /// Sets the ledger gauges from every account's balance (display only: NMR as a float).
    pub fn set_balances(&self, balances: &[(AccountId, Balance)]) {
        let mut totals: std::collections::BTreeMap<String, u128> =
            std::collections::BTreeMap::new();
        for (account, balance) in balances {
            let kind = account.to_string();
            let kind = kind.split(':').next().unwrap_or("other").to_owned();
            *totals.entry(kind).or_default() += balance.posted().base_units();
        }
        for (kind, units) in totals {
            self.balances
                .get_or_create(&Kind { kind })
                .set(units as f64 / 1e18);
        }
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}
