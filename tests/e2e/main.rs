//! Fieldsync's end-to-end suite: one binary, a real server on a real socket per test.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed expectation is a failed test

mod access;
mod bad_input;
mod browser;
mod console;
mod hostile;
mod knowledge;
mod media;
mod nodes;
mod notifications;
mod operations;
mod scenarios;
mod simulation;
mod tls;

/// Hex heads of a phone's copy of a job, sorted as the server reports them.
pub fn phone_heads(phone: &fieldsync_tests::Phone, job: &str) -> Vec<String> {
    store_heads(&phone.store, job)
}

/// Hex heads of a phone store's copy of a job, sorted.
pub fn store_heads(store: &fieldsync_client_core::Store, job: &str) -> Vec<String> {
    let mut heads: Vec<String> = store
        .heads(job)
        .expect("heads")
        .iter()
        .map(ToString::to_string)
        .collect();
    heads.sort();
    heads
}

/// Hex heads of the server's copy of a job.
pub fn server_heads(server: &fieldsync_tests::TestServer, job: &str) -> Vec<String> {
    office_heads(&server.dispatcher(), job)
}

/// Hex heads of the server's copy of a job, as an office caller reads them, sorted.
pub fn office_heads(office: &fieldsync_tests::Dispatcher, job: &str) -> Vec<String> {
    let mut heads: Vec<String> = office.job(job)["heads"]
        .as_array()
        .expect("heads")
        .iter()
        .map(|h| h.as_str().expect("hex").to_owned())
        .collect();
    heads.sort();
    heads
}
