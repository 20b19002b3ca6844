//! Pins the persisted and wire formats and the merge behaviour of the job document.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed expectation is a failed test

use fieldsync_protocol::automerge::{ActorId, AutoCommit, ReadDoc};
use fieldsync_protocol::job::{
    Appointment, ChecklistUpdate, Customer, Editor, JobDoc, JobKind, NewJob, Role, Tier, read_job,
};
use fieldsync_protocol::rules::Status;
use fieldsync_protocol::wire::{self, JobChanges, SyncRequest, SyncResponse, WireError};

/// Reads a stored fixture. With `FIELDSYNC_BLESS=<file name>` in the environment it first
/// (re)writes that one fixture from `make`: that is how a fixture is created, and a reviewed diff
/// is how a format change lands. Fixtures of earlier versions are never re-blessed.
fn fixture(name: &str, make: impl FnOnce() -> Vec<u8>) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    if std::env::var_os("FIELDSYNC_BLESS").is_some_and(|bless| bless == name) {
        std::fs::write(&path, make()).expect("write fixture");
    }
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

/// The layout of the pilot builds, before schema version 1: a flat record without escalation,
/// checklist, notes, outcome or rating.
fn legacy_document() -> Vec<u8> {
    use fieldsync_protocol::automerge::{ObjType, ROOT, transaction::Transactable};
    let mut doc = AutoCommit::new().with_actor(actor(9));
    doc.put(ROOT, "schema_version", 0_u64).expect("put");
    doc.put(ROOT, "id", "job-legacy").expect("put");
    doc.put(ROOT, "kind", "maintenance").expect("put");
    doc.put(ROOT, "created_at", NOW).expect("put");
    let customer = doc.put_object(ROOT, "customer", ObjType::Map).expect("put");
    doc.put(&customer, "name", "Old Customer").expect("put");
    doc.put_object(ROOT, "transitions", ObjType::List)
        .expect("put");
    doc.save()
}

const NOW: i64 = 1_790_000_000_000;

fn dispatcher() -> Editor {
    Editor {
        user: "disp-1".into(),
        device: "console".into(),
        role: Role::Dispatch,
    }
}

fn installer(device: &str) -> Editor {
    Editor {
        user: "tech-1".into(),
        device: device.into(),
        role: Role::Installer,
    }
}

fn actor(n: u8) -> ActorId {
    ActorId::from([n; 16].as_slice())
}

fn new_job() -> NewJob {
    NewJob {
        id: "job-1".into(),
        kind: JobKind::Repair,
        call_received_at: NOW - 30_000,
        customer: Customer {
            id: "c-1".into(),
            name: "Ada".into(),
            tier: Tier::Vip,
            ..Default::default()
        },
        checklist: vec![
            ("power".into(), "Check power supply".into()),
            ("seal".into(), "Check seal".into()),
        ],
        ..Default::default()
    }
}

fn assigned_job() -> JobDoc {
    let mut doc = JobDoc::create(actor(1), &new_job(), &dispatcher(), NOW).expect("create");
    doc.set_appointment(
        Appointment {
            start: NOW + 3_600_000,
            end: NOW + 7_200_000,
        },
        &dispatcher(),
        NOW,
    )
    .expect("appointment");
    doc.assign(Some("tech-1"), &dispatcher(), NOW)
        .expect("assign");
    doc
}

fn fork(doc: &mut JobDoc, n: u8) -> JobDoc {
    let bytes = doc.automerge().save();
    JobDoc::load(&bytes, actor(n)).expect("load")
}

#[test]
fn created_job_reads_back() {
    let doc = assigned_job();
    let job = doc.read().expect("read");
    assert_eq!(job.id, "job-1");
    assert_eq!(job.schema_version, 1);
    assert_eq!(job.customer.tier, Tier::Vip);
    assert_eq!(job.assignee.as_deref(), Some("tech-1"));
    assert_eq!(job.status(), Status::Assigned);
    assert_eq!(job.checklist.len(), 2);
    assert_eq!(job.checklist["seal"].position, 1);
    assert_eq!(job.appointment.map(|a| a.end), Some(NOW + 7_200_000));
}

#[test]
fn every_commit_records_wall_clock_time() {
    let mut doc = assigned_job();
    let changes = doc.automerge().get_changes(&[]);
    assert!(
        changes.iter().all(|c| c.timestamp() == NOW / 1000),
        "a change has no time"
    );
}

#[test]
fn concurrent_on_site_and_completed_end_completed() {
    let mut server = assigned_job();
    let mut phone_a = fork(&mut server, 2);
    let mut phone_b = fork(&mut server, 3);
    phone_a
        .transition(Status::EnRoute, &installer("a"), NOW, None)
        .expect("en route");
    phone_a
        .transition(Status::OnSite, &installer("a"), NOW, None)
        .expect("on site");
    phone_b
        .transition(Status::EnRoute, &installer("b"), NOW, None)
        .expect("en route");
    phone_b
        .transition(Status::OnSite, &installer("b"), NOW, None)
        .expect("on site");
    phone_b
        .transition(Status::Completed, &installer("b"), NOW, None)
        .expect("completed");
    // Merge in both orders: both replicas agree.
    let mut left = fork(&mut phone_a, 4);
    left.automerge().merge(phone_b.automerge()).expect("merge");
    let mut right = fork(&mut phone_b, 5);
    right.automerge().merge(phone_a.automerge()).expect("merge");
    assert_eq!(left.read().expect("read").status(), Status::Completed);
    assert_eq!(right.read().expect("read").status(), Status::Completed);
}

#[test]
fn only_dispatch_reopens() {
    let mut doc = assigned_job();
    doc.transition(Status::OnSite, &installer("a"), NOW, None)
        .expect("on site");
    doc.transition(Status::Incomplete, &installer("a"), NOW, None)
        .expect("incomplete");
    assert!(
        doc.transition(Status::Assigned, &installer("a"), NOW, None)
            .is_err()
    );
    doc.transition(Status::Assigned, &dispatcher(), NOW, None)
        .expect("follow-up");
    assert_eq!(doc.read().expect("read").status(), Status::Assigned);
    assert!(doc.assign(Some("tech-2"), &installer("a"), NOW).is_err());
}

#[test]
fn checklist_item_edited_on_two_devices_keeps_both_fields() {
    let mut server = assigned_job();
    let mut phone_a = fork(&mut server, 2);
    let mut phone_b = fork(&mut server, 3);
    let tick = ChecklistUpdate {
        done: Some(true),
        ..Default::default()
    };
    let remark = ChecklistUpdate {
        note: Some("cable frayed".into()),
        ..Default::default()
    };
    phone_a
        .update_checklist_item("power", &tick, NOW)
        .expect("tick");
    phone_b
        .update_checklist_item("power", &remark, NOW)
        .expect("note");
    phone_a
        .automerge()
        .merge(phone_b.automerge())
        .expect("merge");
    let item = phone_a.read().expect("read").checklist["power"].clone();
    assert!(item.done);
    assert_eq!(item.note, "cable frayed");
    assert_eq!(item.label, "Check power supply");
}

#[test]
fn notes_are_collaborative_text() {
    let mut server = assigned_job();
    let mut phone_a = fork(&mut server, 2);
    let mut phone_b = fork(&mut server, 3);
    phone_a
        .splice_notes(0, 0, "Replaced fuse. ", NOW)
        .expect("a");
    phone_b
        .splice_notes(0, 0, "Customer not home at 9. ", NOW)
        .expect("b");
    phone_a
        .automerge()
        .merge(phone_b.automerge())
        .expect("merge");
    let notes = phone_a.read().expect("read").notes;
    assert!(
        notes.contains("Replaced fuse. ") && notes.contains("Customer not home at 9. "),
        "{notes}"
    );
    assert!(phone_a.splice_notes(999, 0, "x", NOW).is_err());
}

/// A document written by an earlier layout (no escalation, checklist, notes, outcome or rating,
/// as the first pilot builds wrote) must still read, with defaults for what it lacks.
#[test]
fn older_schema_fixture_reads_with_defaults() {
    let bytes = fixture("job-schema-0.automerge", legacy_document);
    let doc = AutoCommit::load(&bytes).expect("load fixture");
    let job = read_job(&doc).expect("read older document");
    assert_eq!(job.id, "job-legacy");
    assert_eq!(job.schema_version, 0);
    assert_eq!(job.customer.name, "Old Customer");
    assert_eq!(job.status(), Status::New);
    assert_eq!(job.ring(), 1);
    assert!(job.checklist.is_empty() && job.notes.is_empty() && job.rating.is_none());
    // And it accepts edits in the new code.
    let mut doc = JobDoc::from_automerge(doc);
    doc.request_help(&installer("a"), "stuck", NOW)
        .expect("edit older document");
    assert_eq!(doc.read().expect("read").ring(), 2);
}

#[test]
fn wrong_types_are_named() {
    let mut doc = AutoCommit::new();
    use fieldsync_protocol::automerge::transaction::Transactable;
    doc.put(fieldsync_protocol::automerge::ROOT, "id", "job-x")
        .expect("put");
    doc.put(fieldsync_protocol::automerge::ROOT, "kind", "teleportation")
        .expect("put");
    let error = read_job(&doc).expect_err("unknown kind").to_string();
    assert!(error.contains("teleportation"), "{error}");
    assert!(
        doc.get(fieldsync_protocol::automerge::ROOT, "id")
            .expect("get")
            .is_some()
    );
}

fn sample_request() -> SyncRequest {
    SyncRequest {
        v: wire::PROTOCOL_VERSION,
        device: "dev-1".into(),
        user: "tech-1".into(),
        actor: vec![7; 16].into(),
        cursor: 42,
        push: vec![JobChanges {
            job: "job-1".into(),
            changes: vec![vec![1, 2, 3].into()],
        }],
        resync: vec![],
        report: None,
        acknowledged: vec![],
        customers_token: None,
    }
}

/// The version 1 encoding is a contract with phones in the field: this pins it byte for byte.
/// `report` is an optional field added within version 1: requests without it stay
/// byte-identical (above); this pins one with it.
#[test]
fn sync_request_v1_with_report_is_pinned() {
    let with_report = || SyncRequest {
        report: Some(fieldsync_protocol::wire::DeviceReport {
            app_version: "2.3.1".into(),
            library_version: "0.1.0".into(),
            protocol_version: wire::PROTOCOL_VERSION,
            device_time: NOW,
            outbox_depth: 3,
            oldest_outbox_at: Some(NOW - 60_000),
            parked: 1,
            pending_media_bytes: 2_048,
            free_storage_bytes: Some(1 << 30),
            last_error: Some("the server cannot be reached".into()),
            log: vec![fieldsync_protocol::wire::LogEntry {
                at: NOW - 30_000,
                level: "warn".into(),
                message: "sync failed: timed out".into(),
            }],
        }),
        ..sample_request()
    };
    let pinned = fixture("sync-request-v1-report.cbor", || {
        wire::encode(&with_report())
    });
    assert_eq!(wire::encode(&with_report()), pinned);
    assert_eq!(wire::decode::<SyncRequest>(&pinned), Ok(with_report()));
}

#[test]
fn sync_request_v1_encoding_is_pinned() {
    let encoded = wire::encode(&sample_request());
    let pinned = fixture("sync-request-v1.cbor", || wire::encode(&sample_request()));
    assert_eq!(encoded, pinned, "the v1 wire encoding changed");
    assert_eq!(wire::decode::<SyncRequest>(&pinned), Ok(sample_request()));
}

#[test]
fn sync_response_round_trips_and_defaults_missing_lists() {
    let response = SyncResponse {
        v: 1,
        server: "s".into(),
        cursor: 9,
        accepted: vec!["job-1".into()],
        ..Default::default()
    };
    assert_eq!(
        wire::decode::<SyncResponse>(&wire::encode(&response)),
        Ok(response)
    );
    #[derive(serde::Serialize)]
    struct Minimal {
        v: u32,
        server: &'static str,
        cursor: u64,
    }
    let minimal = wire::encode(&Minimal {
        v: 1,
        server: "s",
        cursor: 3,
    });
    assert_eq!(
        wire::decode::<SyncResponse>(&minimal).map(|r| r.cursor),
        Ok(3)
    );
}

#[test]
fn bad_messages_are_named() {
    let mut newer = sample_request();
    newer.v = 2;
    assert_eq!(
        wire::decode::<SyncRequest>(&wire::encode(&newer)),
        Err(WireError::UnsupportedVersion {
            found: 2,
            supported: 1
        })
    );
    let encoded = wire::encode(&sample_request());
    assert!(matches!(
        wire::decode::<SyncRequest>(&encoded[..encoded.len() / 2]),
        Err(WireError::Malformed(_))
    ));
    assert!(matches!(
        wire::decode::<SyncRequest>(b"\x01"),
        Err(WireError::Malformed(_))
    ));
    assert!(matches!(
        wire::decode::<SyncRequest>(&wire::encode(&[1, 2])),
        Err(WireError::Malformed(_))
    ));
}

#[test]
fn outcome_fields_edited_on_two_devices_both_survive() {
    use fieldsync_protocol::job::Outcome;
    let mut server = assigned_job();
    let mut phone_a = fork(&mut server, 2);
    let mut phone_b = fork(&mut server, 3);
    phone_a
        .set_outcome(
            &Outcome {
                cause: "corroded contact".into(),
                ..Default::default()
            },
            NOW,
        )
        .expect("a");
    phone_b
        .set_outcome(
            &Outcome {
                first_visit_success: Some(true),
                ..Default::default()
            },
            NOW,
        )
        .expect("b");
    phone_a
        .automerge()
        .merge(phone_b.automerge())
        .expect("merge");
    let outcome = phone_a.read().expect("read").outcome;
    assert_eq!(outcome.cause, "corroded contact");
    assert_eq!(outcome.first_visit_success, Some(true));
}

fn sample_response() -> SyncResponse {
    use fieldsync_protocol::wire::{JobDocument, Refusal, ResyncMessage};
    SyncResponse {
        v: wire::PROTOCOL_VERSION,
        server: "srv-1".into(),
        cursor: 46,
        more: false,
        reset: false,
        accepted: vec!["job-1".into()],
        refused: vec![Refusal {
            job: "job-9".into(),
            code: "unknown_job".into(),
            reason: "there is no job `job-9`".into(),
        }],
        resync_needed: vec!["job-3".into()],
        changes: vec![JobChanges {
            job: "job-2".into(),
            changes: vec![vec![4, 5].into()],
        }],
        documents: vec![JobDocument {
            job: "job-4".into(),
            doc: vec![6].into(),
        }],
        left: vec!["job-5".into()],
        resync: vec![ResyncMessage {
            job: "job-3".into(),
            message: vec![0x42].into(),
        }],
        violations: vec![],
        lease: None,
        time_zone: None,
        reminders: None,
        customers: None,
    }
}

fn response_with_violation() -> SyncResponse {
    SyncResponse {
        violations: vec![fieldsync_protocol::wire::ViolationReport {
            job: "job-1".into(),
            change: vec![7; 32].into(),
            field: "assignee".into(),
            reason: "phones may not change `assignee`".into(),
        }],
        ..sample_response()
    }
}

/// `violations` is an optional field added within version 1: responses without it are pinned
/// above (and stay byte-identical); this pins one with it.
#[test]
fn sync_response_v1_with_violations_is_pinned() {
    let pinned = fixture("sync-response-v1-violations.cbor", || {
        wire::encode(&response_with_violation())
    });
    assert_eq!(wire::encode(&response_with_violation()), pinned);
    assert_eq!(
        wire::decode::<SyncResponse>(&pinned),
        Ok(response_with_violation())
    );
}

/// `lease` is an optional field added within version 1: responses without it stay
/// byte-identical (above); this pins one with it.
#[test]
fn sync_response_v1_with_lease_is_pinned() {
    let with_lease = || SyncResponse {
        lease: Some(fieldsync_protocol::wire::Lease::default()),
        ..sample_response()
    };
    let pinned = fixture(
        "sync-response-v1-lease.cbor",
        || wire::encode(&with_lease()),
    );
    assert_eq!(wire::encode(&with_lease()), pinned);
    assert_eq!(wire::decode::<SyncResponse>(&pinned), Ok(with_lease()));
}

/// `time_zone` is an optional field added within version 1, like `lease`.
#[test]
fn sync_response_v1_with_time_zone_is_pinned() {
    let with_zone = || SyncResponse {
        time_zone: Some("Asia/Shanghai".into()),
        ..sample_response()
    };
    let pinned = fixture("sync-response-v1-time-zone.cbor", || {
        wire::encode(&with_zone())
    });
    assert_eq!(wire::encode(&with_zone()), pinned);
    assert_eq!(wire::decode::<SyncResponse>(&pinned), Ok(with_zone()));
}

/// The installer's reminders: `acknowledged` and `reminders` are optional fields added within
/// version 1, like `lease`.
#[test]
fn sync_messages_v1_with_reminders_are_pinned() {
    let acknowledging = || SyncRequest {
        acknowledged: vec![7, 9],
        ..sample_request()
    };
    let pinned = fixture("sync-request-v1-acknowledged.cbor", || {
        wire::encode(&acknowledging())
    });
    assert_eq!(wire::encode(&acknowledging()), pinned);
    assert_eq!(wire::decode::<SyncRequest>(&pinned), Ok(acknowledging()));
    let reminding = || SyncResponse {
        reminders: Some(vec![fieldsync_protocol::wire::PhoneReminder {
            id: 7,
            job: "job-1".into(),
            rule: "resolve:owner".into(),
            ring: 1,
            clock: "resolve".into(),
            message: "resolve due within 2h".into(),
            created_at: NOW,
        }]),
        ..sample_response()
    };
    let pinned = fixture("sync-response-v1-reminders.cbor", || {
        wire::encode(&reminding())
    });
    assert_eq!(wire::encode(&reminding()), pinned);
    assert_eq!(wire::decode::<SyncResponse>(&pinned), Ok(reminding()));
}

/// The customer cards: `customers_token` and `customers` are optional fields added within
/// version 1, like `lease`.
#[test]
fn sync_messages_v1_with_customer_cards_are_pinned() {
    use fieldsync_protocol::wire::{CardJob, CardProduct, CustomerCard, CustomerCards};
    let holding = || SyncRequest {
        customers_token: Some("1.1700000000000.42.0f3a".into()),
        ..sample_request()
    };
    let pinned = fixture(
        "sync-request-v1-customers.cbor",
        || wire::encode(&holding()),
    );
    assert_eq!(wire::encode(&holding()), pinned);
    assert_eq!(wire::decode::<SyncRequest>(&pinned), Ok(holding()));
    let carding = || SyncResponse {
        customers: Some(CustomerCards {
            token: "1.1700000000000.42.9bc1".into(),
            unchanged: false,
            cards: vec![CustomerCard {
                id: "cus-1".into(),
                merged: vec!["cus-0".into()],
                name: "张伟".into(),
                tier: "vip".into(),
                phones: vec!["138 0013 8000".into()],
                sites: vec!["上海市浦东新区世纪大道100号".into()],
                products: vec![CardProduct {
                    model: "KFR-35".into(),
                    serial: "SN-1".into(),
                    install_date: Some(NOW - 1_000),
                    purchase_ref: "PO-7".into(),
                    warranty_end: Some(NOW + 1_000),
                }],
                jobs: vec![CardJob {
                    job: "job-0".into(),
                    kind: "repair".into(),
                    status: "closed".into(),
                    call_received_at: NOW - 500,
                    completed_at: Some(NOW - 100),
                    engineer: "anna".into(),
                    site: "上海市浦东新区世纪大道100号".into(),
                    model: "KFR-35".into(),
                    serial: "SN-1".into(),
                    category: "no cooling".into(),
                    description: "不制冷".into(),
                    cause: "low refrigerant".into(),
                    fix: "recharged".into(),
                    summary: "cooling again".into(),
                    first_visit_fixed: Some(true),
                    rating: Some(5),
                }],
            }],
        }),
        ..sample_response()
    };
    let pinned = fixture("sync-response-v1-customers.cbor", || {
        wire::encode(&carding())
    });
    assert_eq!(wire::encode(&carding()), pinned);
    assert_eq!(wire::decode::<SyncResponse>(&pinned), Ok(carding()));
}

#[test]
fn sync_response_v1_encoding_is_pinned() {
    let pinned = fixture("sync-response-v1.cbor", || wire::encode(&sample_response()));
    assert_eq!(
        wire::encode(&sample_response()),
        pinned,
        "the v1 wire encoding changed"
    );
    assert_eq!(wire::decode::<SyncResponse>(&pinned), Ok(sample_response()));
}

fn schema_v1_sample() -> JobDoc {
    let mut doc = assigned_job();
    doc.transition(Status::OnSite, &installer("a"), NOW, Some((52.5, 13.4)))
        .expect("on site");
    doc.update_checklist_item(
        "power",
        &ChecklistUpdate {
            done: Some(true),
            ..Default::default()
        },
        NOW,
    )
    .expect("tick");
    doc.splice_notes(0, 0, "Replaced fuse.", NOW)
        .expect("notes");
    doc
}

fn layout(doc: &AutoCommit) -> String {
    serde_json::to_string_pretty(&fieldsync_protocol::automerge::AutoSerde::from(doc))
        .expect("json")
}

/// The schema 1 layout (keys, nesting, types as JSON) that today's code writes is pinned, so a
/// layout change is a reviewed diff; and a schema 1 document stored by an earlier build keeps
/// loading into the same layout.
#[test]
fn schema_v1_document_layout_is_pinned() {
    let written_now = layout(schema_v1_sample().automerge());
    let pinned = String::from_utf8(fixture("job-schema-1.json", || {
        written_now.clone().into_bytes()
    }))
    .expect("utf-8");
    assert_eq!(written_now, pinned, "the schema 1 layout changed");

    let stored = fixture("job-schema-1.automerge", || {
        schema_v1_sample().automerge().save()
    });
    let doc = AutoCommit::load(&stored).expect("load pinned document");
    assert_eq!(
        layout(&doc),
        pinned,
        "a stored schema 1 document reads differently"
    );
    let job = read_job(&doc).expect("read");
    assert_eq!(job.status(), Status::OnSite);
    assert!(job.checklist["power"].done);
}

/// Reading a job document walks it once, straight into the model; it reads the same job as its
/// JSON does (nested objects, text, lists, optional values, enums and a merged conflict).
#[test]
fn a_job_reads_as_its_json_does() {
    use fieldsync_protocol::job::{Job, PartUsed, Rating};
    let mut doc = schema_v1_sample();
    doc.add_part(
        &PartUsed {
            part_number: "FLT-9".into(),
            quantity: 2,
            under_warranty: true,
            by: "a".into(),
            at: NOW,
        },
        NOW,
    )
    .expect("part");
    doc.set_rating(
        &Rating {
            score: 4,
            comment: "准时".into(),
        },
        NOW,
    )
    .expect("rating");
    doc.request_help(&installer("a"), "second pair of hands", NOW)
        .expect("help");
    let mut other = JobDoc::load(&doc.automerge().save(), actor(9)).expect("fork");
    other
        .splice_notes(0, 0, "On the roof. ", NOW)
        .expect("their notes");
    doc.splice_notes(0, 0, "Ladder needed. ", NOW)
        .expect("our notes");
    let mut merged = doc.into_automerge();
    merged.merge(&mut other.into_automerge()).expect("merge");

    let through_json: Job = serde_json::from_str(&layout(&merged)).expect("from json");
    assert_eq!(read_job(&merged).expect("read"), through_json);
}

#[test]
fn hostile_nesting_is_refused_not_a_crash() {
    use fieldsync_protocol::automerge::{ObjType, ROOT, transaction::Transactable};
    let mut doc = AutoCommit::new();
    doc.put(ROOT, "id", "job-deep").expect("put");
    let mut obj = doc.put_object(ROOT, "customer", ObjType::Map).expect("put");
    for _ in 0..100_000 {
        obj = doc.put_object(&obj, "x", ObjType::Map).expect("nest");
    }
    let error = read_job(&doc).expect_err("too deep").to_string();
    assert!(error.contains("nest deeper"), "{error}");
}
