//! Reference knowledge end to end: manuals published in the office reach the phones whose jobs
//! need them, searchable offline; new versions travel as deltas; completed jobs become cases
//! and field tips merge across phones.

use fieldsync_client_core::protocol::job::Outcome;
use fieldsync_client_core::protocol::knowledge::{HeldManual, KnowledgeRequest, KnowledgeResponse};
use fieldsync_client_core::{HitKind, SearchHit};
use fieldsync_tests::{TestServer, manual_prose, pseudo_random_bytes};
use serde_json::{Value, json};

const MODEL: &str = "HX-200";

fn sections(changed: &[(usize, &str)], extra: Option<(&str, &str)>) -> Vec<Value> {
    let mut sections: Vec<Value> = (0..30)
        .map(|i| {
            let body = changed.iter().find(|(at, _)| *at == i).map_or_else(
                || manual_prose(i as u64 + 1, 250),
                |(_, body)| (*body).to_owned(),
            );
            json!({ "id": format!("step-{i}"), "title": format!("Step {i}"), "body": body })
        })
        .collect();
    sections[3]["body"] = json!("安装步骤：先关闭电源，然后安装阀门并检查密封。");
    sections[4]["body"] = json!("Vérifier la soupape de sécurité avant la remise en service.");
    if let Some((id, body)) = extra {
        sections.push(json!({ "id": id, "title": id, "body": body }));
    }
    sections
}

fn hit_texts(hits: &[SearchHit]) -> Vec<String> {
    hits.iter()
        .map(|h| {
            h.snippet
                .iter()
                .map(|p| p.text.as_str())
                .collect::<String>()
        })
        .collect()
}

fn matched_parts(hit: &SearchHit) -> Vec<String> {
    hit.snippet
        .iter()
        .filter(|p| p.matched)
        .map(|p| p.text.to_lowercase())
        .collect()
}

#[test]
fn a_manual_is_searchable_offline_and_new_versions_arrive_as_deltas() {
    let mut server = TestServer::start();
    let dispatcher = server.dispatcher();
    let diagram = pseudo_random_bytes(7, 120_000);
    let diagram_sha = dispatcher.upload_blob(&diagram, "image/png");
    let v1 = json!({
        "model": MODEL, "version": 1, "title": "HX-200 heat pump",
        "sections": sections(&[], None),
        "attachments": [{ "sha256": diagram_sha, "name": "wiring.png", "mime": "image/png" }],
    });
    let published = dispatcher.publish_manual(&v1);
    assert_eq!(
        published["changed_sections"].as_array().map(Vec::len),
        Some(30)
    );
    let job = dispatcher.create_job_on("Ada", MODEL, "anna");
    // A manual for a model nobody works on does not travel.
    dispatcher.publish_manual(&json!({
        "model": "OTHER-1", "version": 1, "title": "Other",
        "sections": [{ "id": "intro", "title": "Intro", "body": "soupape elsewhere" }],
    }));

    let phone = server.phone("anna");
    phone.sync();
    let before = phone.transport.stats();
    let applied = phone
        .transport
        .sync_knowledge(&phone.store)
        .expect("knowledge");
    let first = phone.transport.stats().bytes_received - before.bytes_received;
    assert_eq!(applied.manuals, vec![MODEL.to_owned()]);
    let manual = phone.store.manual(MODEL).expect("manual").expect("held");
    assert_eq!((manual.version, manual.sections.len()), (1, 30));
    assert!(manual.attachments.iter().all(|a| a.held));
    assert_eq!(
        phone.store.blob(&diagram_sha).expect("blob"),
        Some(diagram.clone())
    );
    assert!(phone.store.manual("OTHER-1").expect("other").is_none());
    assert_eq!(phone.store.job(&job).expect("job").product.model, MODEL);
    // A job sync keeps the manual's attachments: they belong to no job.
    phone.sync();
    assert_eq!(
        phone.store.blob(&diagram_sha).expect("blob"),
        Some(diagram.clone())
    );

    // Offline: the server is gone, the manual is still searchable.
    server.stop();
    let chinese = phone.store.search("安装", 10).expect("search");
    assert_eq!(chinese.len(), 1, "{:?}", hit_texts(&chinese));
    assert_eq!(
        (chinese[0].kind, chinese[0].reference.as_str()),
        (HitKind::Manual, "step-3")
    );
    assert!(
        matched_parts(&chinese[0]).iter().any(|p| p == "安装"),
        "{:?}",
        chinese[0].snippet
    );
    // 电源 sits in the middle of a sentence too; a character pair that never occurs next to
    // each other finds nothing.
    assert_eq!(phone.store.search("电源", 10).expect("search").len(), 1);
    assert!(phone.store.search("装电", 10).expect("search").is_empty());
    // Typed in Traditional characters, the Simplified text is found.
    let traditional = phone.store.search("安裝 電源", 10).expect("search");
    assert_eq!(
        traditional.first().map(|h| h.reference.as_str()),
        Some("step-3")
    );
    // Without accents, and as a prefix while typing.
    let french = phone.store.search("securite", 10).expect("search");
    assert_eq!(french.first().map(|h| h.reference.as_str()), Some("step-4"));
    let typing = phone.store.search("Verif", 10).expect("search");
    assert_eq!(typing.first().map(|h| h.reference.as_str()), Some("step-4"));
    assert!(
        matched_parts(&typing[0]).iter().any(|p| p == "vérifier"),
        "{:?}",
        typing[0].snippet
    );
    let ranked = phone.store.search("thermostat", 5).expect("search");
    assert_eq!(ranked.len(), 5);
    assert!(
        phone
            .store
            .search("soupape", 10)
            .expect("search")
            .iter()
            .all(|h| h.model == MODEL)
    );
    assert!(phone.store.search("\"unbalanced AND (", 10).is_ok());

    // Version 2 changes one section and adds one; the phone receives only those.
    server.restart_with(|_| {});
    let dispatcher = server.dispatcher();
    let v2 = json!({
        "model": MODEL, "version": 2, "title": "HX-200 heat pump",
        "sections": sections(&[(10, "Reset the controller: hold the mode key for ten seconds.")],
            Some(("winter", "Frost protection: keep the circulation pump running."))),
        "attachments": [{ "sha256": diagram_sha, "name": "wiring.png", "mime": "image/png" }],
    });
    let published = dispatcher.publish_manual(&v2);
    assert_eq!(published["changed_sections"], json!(["step-10", "winter"]));
    let device = server.with_token(Some(&phone.credential));
    let request = KnowledgeRequest {
        v: 1,
        manuals: vec![HeldManual {
            model: MODEL.into(),
            version: 1,
        }],
        ..KnowledgeRequest::default()
    };
    let answer = device.post(
        "/v1/knowledge",
        &serde_json::to_value(&request).expect("json"),
    );
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let delta: KnowledgeResponse = serde_json::from_value(answer.body).expect("answer");
    assert_eq!(delta.manuals.len(), 1);
    assert_eq!(delta.manuals[0].base_version, Some(1));
    assert_eq!(delta.manuals[0].section_order.len(), 31);
    let sent: Vec<&str> = delta.manuals[0]
        .sections
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    assert_eq!(sent, ["step-10", "winter"]);

    let before = phone.transport.stats();
    phone
        .transport
        .sync_knowledge(&phone.store)
        .expect("knowledge");
    let second = phone.transport.stats();
    let delta_bytes = second.bytes_received - before.bytes_received;
    println!("manual v1: {first} bytes received; v2 as a delta: {delta_bytes} bytes");
    assert_eq!(
        second.round_trips - before.round_trips,
        1,
        "the unchanged diagram is not fetched again"
    );
    assert!(
        delta_bytes * 20 < first,
        "delta {delta_bytes} bytes vs first {first} bytes"
    );
    let manual = phone.store.manual(MODEL).expect("manual").expect("held");
    assert_eq!((manual.version, manual.sections.len()), (2, 31));
    assert_eq!(
        manual.sections[3].body,
        "安装步骤：先关闭电源，然后安装阀门并检查密封。"
    );
    assert_eq!(
        phone.store.search("controller", 5).expect("search")[0].reference,
        "step-10"
    );
    assert!(!phone.store.search("frost", 5).expect("search").is_empty());

    // Version 3 brings a new PDF. While its bytes cannot be fetched, version 2 stays shown.
    let pdf = [b"%PDF-1.4\n".as_slice(), &pseudo_random_bytes(9, 50_000)].concat();
    let pdf_sha = dispatcher.upload_blob(&pdf, "application/pdf");
    let mut v3 = v2.clone();
    v3["version"] = json!(3);
    v3["attachments"]
        .as_array_mut()
        .expect("attachments")
        .push(json!({ "sha256": pdf_sha, "name": "service.pdf", "mime": "application/pdf" }));
    v3["sections"][10]["body"] = json!("Reset: press and hold the mode key for twenty seconds.");
    dispatcher.publish_manual(&v3);
    let stored_pdf = server.blob_dir().join(&pdf_sha[..2]).join(&pdf_sha);
    let aside = server.blob_dir().join("aside");
    std::fs::rename(&stored_pdf, &aside).expect("move the PDF away");
    let error = phone
        .transport
        .sync_knowledge(&phone.store)
        .expect_err("the PDF is missing");
    assert!(
        error.to_string().contains("unknown_blob") || error.to_string().contains("404"),
        "{error}"
    );
    let shown = phone.store.manual(MODEL).expect("manual").expect("held");
    assert_eq!(
        shown.version, 2,
        "the complete version stays until the new one is whole"
    );
    assert!(shown.sections[10].body.contains("ten seconds"));
    assert_eq!(
        phone.store.search("controller", 5).expect("search").len(),
        1
    );
    std::fs::rename(&aside, &stored_pdf).expect("put the PDF back");
    phone
        .transport
        .sync_knowledge(&phone.store)
        .expect("knowledge");
    let shown = phone.store.manual(MODEL).expect("manual").expect("held");
    assert_eq!(shown.version, 3);
    assert!(shown.sections[10].body.contains("twenty seconds"));
    assert_eq!(phone.store.blob(&pdf_sha).expect("pdf"), Some(pdf));
    assert!(
        phone
            .store
            .search("controller", 5)
            .expect("search")
            .is_empty()
    );

    // A job on another model takes the manual away once it is done.
    dispatcher.assign(&job, None);
    phone.sync();
    phone
        .transport
        .sync_knowledge(&phone.store)
        .expect("knowledge");
    assert!(phone.store.manual(MODEL).expect("manual").is_none());
    assert!(phone.store.search("soupape", 5).expect("search").is_empty());
    assert_eq!(phone.store.blob(&diagram_sha).expect("blob"), None);
}

#[test]
fn completed_jobs_become_cases_and_field_tips_merge_across_phones() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let fixed = dispatcher.create_job_on("Ada", MODEL, "anna");
    let anna = server.phone("anna");
    let bens_job = dispatcher.create_job_on("Grace", MODEL, "ben");
    let ben = server.phone("ben");
    anna.sync();
    ben.sync();

    anna.arrive(&fixed);
    let outcome = Outcome {
        cause: "Limescale blocked the diverter valve".into(),
        fix: "Descaled and replaced the diverter cartridge".into(),
        summary: "Heating restored".into(),
        ..Outcome::default()
    };
    anna.store
        .finish_visit(&fixed, &outcome, true)
        .expect("complete");
    anna.sync();
    let cases = dispatcher.get(&format!("/v1/cases?model={MODEL}"));
    assert_eq!(
        cases.body.as_array().map(Vec::len),
        Some(1),
        "{:?}",
        cases.body
    );
    assert_eq!(cases.body[0]["engineer"], "anna");

    ben.transport.sync_knowledge(&ben.store).expect("knowledge");
    let found = ben.store.search("diverter", 10).expect("search");
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].kind, found[0].reference.as_str()),
        (HitKind::Case, fixed.as_str())
    );
    assert_eq!(
        ben.store.cases(MODEL).expect("cases")[0].cause,
        outcome.cause
    );
    assert_eq!(ben.store.job(&bens_job).expect("job").product.model, MODEL);

    // Tips written offline on both phones merge.
    anna.store
        .add_tip(MODEL, "Bleed the pump before restarting after descaling")
        .expect("tip");
    ben.store
        .add_tip(MODEL, "The display fuse sits behind the lower cover")
        .expect("tip");
    assert_eq!(
        ben.store.search("lower cov", 5).expect("search")[0].kind,
        HitKind::Tip
    );
    anna.transport
        .sync_knowledge(&anna.store)
        .expect("knowledge");
    ben.transport.sync_knowledge(&ben.store).expect("knowledge");
    anna.transport
        .sync_knowledge(&anna.store)
        .expect("knowledge");
    for phone in [&anna, &ben] {
        let tips = phone.store.tips(MODEL).expect("tips");
        let authors: Vec<&str> = tips.iter().map(|t| t.by.as_str()).collect();
        assert_eq!(tips.len(), 2, "{authors:?}");
        assert!(authors.contains(&"anna") && authors.contains(&"ben"));
        assert_eq!(
            phone.store.search("bleed", 5).expect("search")[0].kind,
            HitKind::Tip
        );
    }
    // Nothing is sent twice: a further exchange carries no tip changes.
    let again = anna
        .transport
        .sync_knowledge(&anna.store)
        .expect("knowledge");
    assert_eq!((again.tip_changes, again.cases), (0, 0));
}
