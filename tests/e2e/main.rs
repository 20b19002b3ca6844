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
mod operations;
mod scenarios;
mod simulation;
mod tls;

/// Hex heads of a phone's copy of a job, sorted as the server reports them.
pub fn phone_heads(phone: &fieldsync_tests::Phone, job: &str) -> Vec<String> {
    let mut heads: Vec<String> = phone
        .store
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
    let mut heads: Vec<String> = server.dispatcher().job(job)["heads"]
        .as_array()
        .expect("heads")
        .iter()
        .map(|h| h.as_str().expect("hex").to_owned())
        .collect();
    heads.sort();
    heads
}
