//! Several server nodes on one PostgreSQL database: any node answers any phone and any office
//! user at any moment, and two nodes merging the same job at once converge (ADR 0014).

use fieldsync_client_core::transport::HttpTransport;
use fieldsync_tests::{Phone, TestServer};

use crate::{phone_heads, server_heads};

/// `phone`'s device, talking to `node` instead of the node it was enrolled on.
fn through(node: &TestServer, phone: &Phone) -> HttpTransport {
    HttpTransport::new(&node.url())
        .expect("transport")
        .with_credential(&phone.credential)
}

#[test]
fn a_phone_and_the_office_move_between_nodes_freely() {
    let a = TestServer::start_on_postgres();
    let b = a.another_node();

    // The office takes the call on node B; the phone, enrolled on A, receives it there.
    let office_b = b.dispatcher();
    let job = office_b.create_job("Ada Lovelace");
    office_b.assign(&job, Some("anna"));
    let phone = a.phone("anna");
    phone.sync();
    assert_eq!(phone.store.job_ids().expect("jobs"), vec![job.clone()]);

    // A session opened on B is good on A: sessions live in the database.
    let same_session_on_a = a.with_token(office_b.token());
    assert_eq!(
        same_session_on_a.job(&job)["summary"]["customer_name"],
        "Ada Lovelace"
    );

    // The installer's note goes up through B; A's office reads it at once.
    phone
        .store
        .append_note(&job, "Replaced the pressure valve.")
        .expect("note");
    let report = through(&b, &phone).sync(&phone.store).expect("sync via B");
    assert_eq!(report.accepted_jobs, 1, "{report:?}");
    let seen_on_a = a.dispatcher().job(&job);
    assert!(
        seen_on_a["job"]["notes"]
            .as_str()
            .is_some_and(|notes| notes.contains("pressure valve")),
        "{seen_on_a}"
    );
    assert_eq!(server_heads(&a, &job), phone_heads(&phone, &job));
    assert_eq!(server_heads(&b, &job), phone_heads(&phone, &job));
}

#[test]
fn two_nodes_merging_the_same_job_at_once_both_succeed_and_converge() {
    let a = TestServer::start_on_postgres();
    let b = a.another_node();
    let office = a.dispatcher();
    let job = office.create_job("Grace Hopper");
    office.assign(&job, Some("anna"));
    // One installer with two phones, each talking to its own node.
    let on_a = a.phone("anna");
    let on_b = b.phone("anna");
    on_a.sync();
    on_b.sync();

    const EDITS: usize = 15;
    let job = job.as_str();
    std::thread::scope(|scope| {
        for (name, phone, node) in [("a", &on_a, &a), ("b", &on_b, &b)] {
            scope.spawn(move || {
                let transport = through(node, phone);
                for n in 0..EDITS {
                    phone
                        .store
                        .append_note(job, &format!("<{name}{n}>"))
                        .expect("note");
                    let report = transport.sync(&phone.store).expect("sync");
                    assert_eq!(report.refused_jobs, 0, "{report:?}");
                }
            });
        }
        // The office edits the same job through both nodes meanwhile.
        scope.spawn(|| {
            for (n, node) in [&a, &b].into_iter().cycle().take(6).enumerate() {
                let start = 1_900_000_000_000 + n as i64 * 3_600_000;
                node.dispatcher()
                    .set_appointment(job, start, start + 3_600_000);
            }
        });
    });

    // Once each phone has heard of the other's work, all four copies are one document.
    for _ in 0..2 {
        through(&a, &on_a).sync(&on_a.store).expect("sync");
        through(&b, &on_b).sync(&on_b.store).expect("sync");
    }
    let heads = server_heads(&a, job);
    assert_eq!(server_heads(&b, job), heads);
    assert_eq!(phone_heads(&on_a, job), heads);
    assert_eq!(phone_heads(&on_b, job), heads);
    let notes = on_a.store.job(job).expect("job").notes;
    for name in ["a", "b"] {
        for n in 0..EDITS {
            // Concurrent first lines may share a line; every edit is there.
            assert!(
                notes.contains(&format!("<{name}{n}>")),
                "{name}{n} missing from {notes:?}"
            );
        }
    }
    assert_eq!(
        a.dispatcher().job(job)["job"]["appointment"]["start"],
        1_900_000_000_000_i64 + 5 * 3_600_000,
        "the office's last appointment wins"
    );
}
