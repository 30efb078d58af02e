//! The temperature lab: one prompt at several temperatures, `k` samples each, decoded together,
//! and what it measures — determinism, diversity, outcomes, pass@k (docs/LAB.md).

pub mod chart;
pub mod invariance;
pub mod judge;
pub mod lanes;
pub mod metrics;
pub mod outcome;
pub mod pass_at_k;
pub mod problems;
pub mod record;
pub mod summary;

pub use invariance::BatchInvariance;
pub use judge::{outcome, post_process, structures, usable};
pub use lanes::{LabRequest, LabRun, LaneResult, isolated_sampling, lane_seed, published_sampling};
pub use outcome::{Outcome, classify};
pub use pass_at_k::{Interval, bootstrap_mean, pass_at_k};
pub use problems::{Problem, parse_jsonl};
pub use record::{LabRecord, RecordMeta, differences};
pub use summary::{TemperatureSummary, reported_ks, summarize};
