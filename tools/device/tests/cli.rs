//! The `fieldsync-device` command as a user types it: `--help` for it and every subcommand,
//! and mistakes refused by name before anything is stored.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed expectation is a failed test

use std::process::Command;

const DEVICE: &str = env!("CARGO_BIN_EXE_fieldsync-device");

#[test]
fn every_command_has_generated_help() {
    let out = Command::new(DEVICE).arg("--help").output().expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for option in ["--store", "--user", "--server"] {
        assert!(text.contains(option), "{text}");
    }
    let commands = [
        "enroll",
        "list",
        "show",
        "status",
        "sync",
        "customer",
        "reminders",
        "ack-reminder",
        "watch",
        "start",
        "arrive",
        "check",
        "note",
        "part",
        "rate",
        "ask-help",
        "complete",
        "incomplete",
        "photo",
        "sign",
        "upload",
        "knowledge",
        "search",
        "manual",
        "tip",
    ];
    for command in commands {
        assert!(text.contains(command), "{command} missing from:\n{text}");
        let out = Command::new(DEVICE)
            .args(["--store", "x", "--user", "u", command, "--help"])
            .output()
            .expect("run");
        assert!(out.status.success(), "{command} --help: {out:?}");
    }
}

#[test]
fn mistakes_are_refused_by_name_and_store_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("phone.sqlite3");
    let store = store.to_str().expect("path");
    let out = Command::new(DEVICE)
        .args(["--store", store, "--user", "anna", "rate", "JOB", "many"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("SCORE"));
    let out = Command::new(DEVICE)
        .args(["--user", "anna", "list"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--store"));
    assert!(!dir.path().join("phone.sqlite3").exists(), "nothing stored");
    let out = Command::new(DEVICE)
        .args(["--store", store, "--user", "anna", "ack-reminder", "soon"])
        .output()
        .expect("run");
    assert!(!out.status.success(), "a reminder id is a number");
    assert!(String::from_utf8_lossy(&out.stderr).contains("<ID>"));
    let out = Command::new(DEVICE)
        .args(["--store", store, "--user", "anna", "ack-reminder", "7"])
        .output()
        .expect("run");
    assert!(!out.status.success(), "not on the phone");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("reminder 7 is not on this device"),
        "{out:?}"
    );
    // An enrollment link for someone else, or another server, is refused before any request.
    for (link, expected) in [
        (
            "fieldsync://enroll?server=http%3A%2F%2F127.0.0.1%3A8080&user=ben&code=1",
            "give --user ben",
        ),
        (
            "fieldsync://enroll?server=https%3A%2F%2Ffs.example.com&user=anna&code=1",
            "give --server https://fs.example.com",
        ),
        (
            "fieldsync://enroll?server=http%3A%2F%2F127.0.0.1%3A8080&user=anna",
            "`code` is missing",
        ),
    ] {
        let out = Command::new(DEVICE)
            .args(["--store", store, "--user", "anna", "enroll", link])
            .output()
            .expect("run");
        assert!(!out.status.success(), "{link}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(expected),
            "{link}: {out:?}"
        );
    }
    let out = Command::new(DEVICE)
        .args(["--store", store, "--user", "anna", "customer", "job-9"])
        .output()
        .expect("run");
    assert!(!out.status.success(), "no such job on the phone");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("job-9"),
        "{out:?}"
    );
}
