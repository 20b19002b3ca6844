//! The domain: what Fieldsync does, free of HTTP. Every operation takes the storage (and, for
//! media, the blob store) it works on and the time it runs at, and fails with a
//! [`error::DomainError`] that says what kind of failure it is; `crate::http` decides how a
//! client sees it.
//!
//! - [`sync`]: one sync round (decoded request in, response out) and the fallback.
//! - [`jobs`]: committing a job's document with its history, audit trail, facts and case.
//! - [`dispatch`]: what the office does to jobs; [`planning`]: queues, day board, suggestions;
//!   [`travel`]: where jobs and engineers are, travel between visits, the day's map;
//!   [`schedule`]: engineers' working weeks and time off; [`lists`]: the managed lists of
//!   regions and problem categories;
//!   [`customers`]: the customer records intake links jobs to, their search and merging;
//!   [`customer_link`]: the customer's own page (their job, report, rating and complaints).
//! - [`sla`], [`facts`], [`escalation`], [`kpi`]: SLA clocks, the service facts, the escalation
//!   ladder, the KPIs.
//! - [`knowledge`]: manuals, the case library, field tips and the exchange with phones.
//! - [`media`]: uploads, downloads, job media and signed reports.
//! - [`auth`]: who is calling and what they may do; [`fleet`]: the devices as the office sees
//!   them.
//! - [`clock`]: where time comes from; [`demo`]: a month of demo work.

pub mod auth;
pub mod clock;
pub mod customer_link;
pub mod customers;
pub mod demo;
pub mod dispatch;
pub mod error;
pub mod escalation;
pub mod facts;
pub mod fleet;
pub mod jobs;
pub mod knowledge;
pub mod kpi;
pub mod lists;
pub mod media;
pub mod notify;
pub mod planning;
pub mod schedule;
pub mod sla;
pub mod sync;
pub mod travel;

pub use error::{DomainError, ErrorCode, Problem, Refusal, Thing};
pub use fieldsync_protocol::Language;
