//! What the people who run the server watch: counters, gauges and histograms in the Prometheus
//! text format (`GET /metrics`), recorded with the `metrics` facade where things happen and
//! rendered by `metrics-exporter-prometheus`.
//!
//! The recorder is process-wide (the facade has one): several servers in one process, as in
//! the tests, share it.

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Sync rounds answered.
pub const SYNC_ROUNDS: &str = "fieldsync_sync_rounds_total";
/// How long a sync round took, decoding to answer.
pub const SYNC_ROUND_SECONDS: &str = "fieldsync_sync_round_seconds";
/// Pushed jobs by outcome: `accepted`, `refused`, `compensated` (a rule broken and undone).
pub const PUSHED_JOBS: &str = "fieldsync_pushed_jobs_total";
/// Sync bytes by direction: `in` (requests), `out` (answers).
pub const SYNC_BYTES: &str = "fieldsync_sync_bytes_total";
/// Live event streams open now.
pub const EVENT_STREAMS: &str = "fieldsync_event_streams";
/// Blob bytes received in uploads.
pub const UPLOAD_BYTES: &str = "fieldsync_upload_bytes_total";
/// Upload requests (whole blobs or parts) received.
pub const UPLOAD_PARTS: &str = "fieldsync_upload_parts_total";
/// Escalation ladder ticks run.
pub const ESCALATION_TICKS: &str = "fieldsync_escalation_ticks_total";
/// Reminders the ladder fired.
pub const REMINDERS_FIRED: &str = "fieldsync_reminders_fired_total";
/// Office sign-ins by outcome: `ok`, `refused`, `locked_out`.
pub const SIGN_INS: &str = "fieldsync_sign_ins_total";
/// How long a storage transaction took, by kind: `read`, `write`.
pub const STORAGE_SECONDS: &str = "fieldsync_storage_transaction_seconds";
/// The database's size.
pub const DATABASE_BYTES: &str = "fieldsync_database_bytes";
/// The bytes of every blob the server holds.
pub const BLOB_BYTES: &str = "fieldsync_blob_bytes";

/// The buckets of the duration histograms, in seconds: from a millisecond to a minute.
const SECONDS_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// The process's recorder, installed on first use; `None` when another recorder was installed
/// first (the process then has no Prometheus metrics).
pub fn recorder() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "no Prometheus metrics"))
                .ok()?;
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    describe_counter!(SYNC_ROUNDS, "Sync rounds answered.");
    describe_histogram!(SYNC_ROUND_SECONDS, Unit::Seconds, "Sync round duration.");
    describe_counter!(PUSHED_JOBS, "Pushed jobs by outcome.");
    describe_counter!(SYNC_BYTES, Unit::Bytes, "Sync bytes by direction.");
    describe_gauge!(EVENT_STREAMS, "Live event streams open.");
    describe_counter!(UPLOAD_BYTES, Unit::Bytes, "Blob bytes received.");
    describe_counter!(UPLOAD_PARTS, "Upload requests received.");
    describe_counter!(ESCALATION_TICKS, "Escalation ladder ticks.");
    describe_counter!(REMINDERS_FIRED, "Reminders fired by the ladder.");
    describe_counter!(SIGN_INS, "Office sign-ins by outcome.");
    describe_histogram!(
        STORAGE_SECONDS,
        Unit::Seconds,
        "Storage transaction duration."
    );
    describe_gauge!(DATABASE_BYTES, Unit::Bytes, "Database size.");
    describe_gauge!(BLOB_BYTES, Unit::Bytes, "Bytes of the blobs held.");
}
