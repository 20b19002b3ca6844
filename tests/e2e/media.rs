//! Media end to end: photos and signatures captured offline reach the server intact through
//! cut connections and restarts, are stored once, are never evicted before the server holds
//! them, and the customer's signature stays bound to the report it signed.

use std::path::{Path, PathBuf};
use std::process::Command;

use fieldsync_client_core::protocol::job::{Outcome, Signature};
use fieldsync_client_core::report::{Language, ReportOptions, service_report_pdf};
use fieldsync_client_core::transport::HttpTransport;
use fieldsync_client_core::{Error, Store};
use fieldsync_tests::{
    CuttingProxy, Phone, TestServer, artifacts_dir, pseudo_random_bytes, sha256_hex,
};
use serde_json::json;

const MODEL: &str = "HX-200";

/// Blob files the server holds (not counting uploads in progress).
fn stored_blob_files(server: &TestServer) -> Vec<String> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(server.blob_dir())
        .expect("blob dir")
        .flatten()
    {
        if dir.file_name() == "staging" {
            continue;
        }
        for file in std::fs::read_dir(dir.path())
            .expect("fan-out dir")
            .flatten()
        {
            files.push(file.file_name().to_string_lossy().into_owned());
        }
    }
    files.sort();
    files
}

#[test]
fn photos_captured_offline_arrive_intact_through_cut_connections_and_restarts() {
    let mut server = TestServer::start();
    let dispatcher = server.dispatcher();
    let job = dispatcher.create_job_on("Ada", MODEL, "anna");
    let other = dispatcher.create_job_on("Bea", MODEL, "anna");
    let phone = server.phone("anna");
    phone.sync();
    let photos: Vec<Vec<u8>> = [(1, 700_000), (2, 300_000), (3, 90_000)]
        .into_iter()
        .map(|(seed, len)| pseudo_random_bytes(seed, len))
        .collect();
    for photo in &photos {
        phone
            .store
            .attach_photo(&job, photo, "image/jpeg", "valve")
            .expect("photo");
    }
    // The same picture on another job is the same blob.
    phone
        .store
        .attach_photo(&other, &photos[0], "image/jpeg", "same valve")
        .expect("photo");
    assert_eq!(phone.store.pending_media().expect("pending").len(), 3);
    phone.sync();
    let view = dispatcher.job(&job);
    assert_eq!(view["media"].as_array().map(Vec::len), Some(3));
    assert!(
        view["media"]
            .as_array()
            .expect("media")
            .iter()
            .all(|m| m["received"] == false)
    );

    // Each attempt runs on a freshly opened store (the app was killed and started again) and
    // loses its connection after a random number of bytes; the server restarts once too.
    let total: u64 = photos.iter().map(|p| p.len() as u64).sum();
    let mut seed = 0x5eed_u64;
    let mut cuts = Vec::new();
    for round in 0..8 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let cut = seed % (total / 3);
        let proxy = CuttingProxy::start(&server.addr(), cut);
        let store = Store::open(phone.path(), "anna").expect("reopen the store");
        let transport = HttpTransport::new(&proxy.url())
            .expect("transport")
            .with_credential(&phone.credential)
            .with_upload_part_bytes(64 * 1024);
        let result = transport.upload_media(&store);
        cuts.push((cut, result.is_ok()));
        if round == 3 {
            server.restart_with(|_| {});
        }
    }
    println!("cut after (bytes, finished): {cuts:?}");
    // No connection carries a third of the bytes, so finishing through cut connections at all
    // means every attempt continued where the previous one stopped.
    assert!(
        cuts.iter().filter(|(_, finished)| !finished).count() >= 3,
        "{cuts:?}"
    );
    assert!(cuts.iter().any(|(_, finished)| *finished), "{cuts:?}");
    let store = Store::open(phone.path(), "anna").expect("reopen the store");
    let transport = HttpTransport::new(&server.url())
        .expect("transport")
        .with_credential(&phone.credential);
    let mut finished = transport.upload_media(&store);
    for _ in 0..20 {
        // A handler still winding down a cut connection holds the blob for a moment.
        if matches!(&finished, Err(Error::Server { status: 409, .. })) {
            std::thread::sleep(std::time::Duration::from_millis(100));
            finished = transport.upload_media(&store);
        }
    }
    finished.expect("the last upload completes");
    assert!(store.pending_media().expect("pending").is_empty());

    let dispatcher = server.dispatcher();
    for photo in &photos {
        let (status, bytes) = dispatcher.get_bytes(&format!("/v1/blobs/{}", sha256_hex(photo)));
        assert_eq!(status, 200);
        assert!(
            bytes == *photo,
            "a blob differs from what the phone captured"
        );
    }
    let mut expected: Vec<String> = photos.iter().map(|p| sha256_hex(p)).collect();
    expected.sort();
    assert_eq!(
        stored_blob_files(&server),
        expected,
        "each photo is stored once"
    );
    assert_eq!(
        std::fs::read_dir(server.blob_dir().join("staging"))
            .expect("staging")
            .count(),
        0
    );
    let view = dispatcher.job(&job);
    assert!(
        view["media"]
            .as_array()
            .expect("media")
            .iter()
            .all(|m| m["received"] == true)
    );
    let linked = fieldsync_server::storage::read(server.storage().as_ref(), |tx| {
        tx.blob_jobs(&sha256_hex(&photos[0]))
    })
    .expect("read");
    let mut both = vec![job.clone(), other.clone()];
    both.sort();
    assert_eq!(linked, both, "one blob, linked to both jobs");
    let other_view = dispatcher.job(&other);
    assert_eq!(other_view["media"][0]["received"], true, "{other_view:?}");

    // Another phone with the same bytes sends none of them.
    let bens_job = dispatcher.create_job_on("Cy", MODEL, "ben");
    let ben = server.phone("ben");
    ben.sync();
    ben.store
        .attach_photo(&bens_job, &photos[1], "image/jpeg", "")
        .expect("photo");
    let report = ben.transport.upload_media(&ben.store).expect("upload");
    assert_eq!((report.uploaded, report.bytes_sent), (1, 0));
    // Linked to Ben's job all the same: his phone may fetch it again.
    let fetched = ben
        .transport
        .fetch_blob(&sha256_hex(&photos[1]))
        .expect("fetch");
    assert!(fetched == photos[1]);
    ben.sync();
    assert_eq!(dispatcher.job(&bens_job)["media"][0]["received"], true);
}

#[test]
fn eviction_takes_reference_content_least_recently_used_and_never_unsent_media() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let mut attachments = Vec::new();
    for (seed, model) in [(11, "HX-200"), (12, "KX-9")] {
        let bytes = pseudo_random_bytes(seed, 150_000);
        let sha = dispatcher.upload_blob(&bytes, "image/png");
        dispatcher.publish_manual(&json!({
            "model": model, "version": 1, "title": format!("{model} manual"),
            "sections": [{ "id": "intro", "title": "Intro", "body": format!("{model} gasket") }],
            "attachments": [{ "sha256": sha, "name": "diagram.png", "mime": "image/png" }],
        }));
        dispatcher.create_job_on("Ada", model, "anna");
        attachments.push(sha);
    }
    let phone = server.phone("anna");
    phone.sync();
    phone
        .transport
        .sync_knowledge(&phone.store)
        .expect("knowledge");
    assert_eq!(
        phone.store.storage_usage().expect("usage").reference,
        300_000
    );
    // KX-9's manual was opened last: HX-200's diagram goes first.
    std::thread::sleep(std::time::Duration::from_millis(5));
    phone.store.manual("KX-9").expect("manual");
    phone
        .store
        .set_storage_budget(Some(200_000))
        .expect("budget");
    assert_eq!(phone.store.blob(&attachments[0]).expect("blob"), None);
    assert!(phone.store.blob(&attachments[1]).expect("blob").is_some());
    let hx = phone
        .store
        .manual("HX-200")
        .expect("manual")
        .expect("still shown");
    assert!(
        !hx.attachments[0].held,
        "the text stays, the diagram is fetched again when needed"
    );
    assert_eq!(phone.store.search("gasket", 5).expect("search").len(), 2);

    // Photos the server does not hold yet are never evicted, however far over budget.
    let job = phone.store.job_ids().expect("ids")[0].clone();
    let photos: Vec<Vec<u8>> = (0..2)
        .map(|i| pseudo_random_bytes(20 + i, 200_000))
        .collect();
    for photo in &photos {
        phone
            .store
            .attach_photo(&job, photo, "image/jpeg", "")
            .expect("photo");
    }
    phone
        .store
        .set_storage_budget(Some(10_000))
        .expect("budget");
    let usage = phone.store.storage_usage().expect("usage");
    assert_eq!((usage.unsent_media, usage.reference), (400_000, 0));
    for photo in &photos {
        assert_eq!(
            phone.store.blob(&sha256_hex(photo)).expect("blob").as_ref(),
            Some(photo)
        );
    }
    assert_eq!(phone.store.pending_media().expect("pending").len(), 2);
    // Once the server holds them, they may go too.
    phone.transport.upload_media(&phone.store).expect("upload");
    let usage = phone.store.storage_usage().expect("usage");
    assert_eq!((usage.unsent_media, usage.sent_media), (0, 0));
    phone.sync();
    assert_eq!(
        phone.store.sync_state(&job).expect("state"),
        fieldsync_client_core::JobSyncState::Accepted
    );
}

/// The customer signs on the phone; returns the signature and the report it signed.
fn sign(phone: &Phone, job: &str, signer: &str) -> (Signature, Vec<u8>) {
    let image = pseudo_random_bytes(30, 20_000);
    let signature = phone
        .store
        .sign(job, &image, "image/png", signer)
        .expect("sign");
    let report = phone
        .store
        .blob(&signature.report_sha256)
        .expect("report")
        .expect("held");
    (signature, report)
}

#[test]
fn the_signature_is_bound_to_the_service_report_dispatch_and_the_customer_download() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let job = dispatcher.create_job_on("Ada Lovelace", MODEL, "anna");
    let phone = server.phone("anna");
    phone.sync();
    phone.arrive(&job);
    let outcome = Outcome {
        cause: "Failed pressure sensor".into(),
        fix: "Replaced the sensor".into(),
        summary: "Boiler back in service".into(),
        ..Outcome::default()
    };
    phone
        .store
        .finish_visit(&job, &outcome, true)
        .expect("complete");
    let preview = phone
        .store
        .preview_report(&job, "Ada Lovelace")
        .expect("preview");
    assert!(preview.starts_with(b"%PDF-1.4"));
    let (signature, report) = sign(&phone, &job, "Ada Lovelace");
    assert_eq!(sha256_hex(&report), signature.report_sha256);
    let text = String::from_utf8_lossy(&report);
    assert!(
        text.contains("Signed by Ada Lovelace"),
        "the report names the signer"
    );
    assert!(
        text.contains("Replaced the sensor"),
        "the report carries the outcome"
    );
    phone.sync();

    // Until the phone uploads them, the job cannot be closed and there is no report.
    let close = dispatcher.post(
        &format!("/v1/jobs/{job}/status"),
        &json!({ "to": "closed" }),
    );
    assert_eq!(
        (close.status, close.body["code"].as_str()),
        (409, Some("media_missing"))
    );
    assert_eq!(
        dispatcher.get_bytes(&format!("/v1/jobs/{job}/report")).0,
        404
    );
    phone.transport.upload_media(&phone.store).expect("upload");
    let (status, served) = dispatcher.get_bytes(&format!("/v1/jobs/{job}/report"));
    assert_eq!(status, 200);
    assert!(
        served == report,
        "dispatch gets the very bytes the customer signed"
    );
    let view = dispatcher.job(&job);
    assert_eq!(view["report"]["received"], true);
    assert_eq!(view["report"]["signed_by"], "Ada Lovelace");

    // The customer's link works without an account.
    let link = dispatcher.post(&format!("/v1/jobs/{job}/report-link"), &json!({}));
    assert_eq!(link.status, 201, "{:?}", link.body);
    let url = link.body["url"].as_str().expect("url");
    let (status, downloaded) = server.anonymous().get_bytes(url);
    assert_eq!(status, 200);
    assert!(downloaded == report);
    assert_eq!(
        server.anonymous().get_bytes("/v1/reports/not-a-token").0,
        404
    );

    // A later change to the job does not change what was signed.
    phone
        .store
        .append_note(&job, "Customer asked for a follow-up call")
        .expect("note");
    phone.sync();
    let (_, after) = dispatcher.get_bytes(&format!("/v1/jobs/{job}/report"));
    assert!(after == report);
    assert_eq!(
        dispatcher.job(&job)["job"]["signature"]["report_sha256"],
        signature.report_sha256.as_str()
    );
    let close = dispatcher.post(
        &format!("/v1/jobs/{job}/status"),
        &json!({ "to": "closed", "reason": "the customer confirmed by e-mail" }),
    );
    assert_eq!(close.status, 200, "{:?}", close.body);
}

/// The CJK font Debian's `fonts-noto-cjk` installs (what Android ships as well).
const NOTO_CJK: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";

/// Runs one of poppler's tools (`pdftotext`, `pdffonts`, `pdftoppm`) on `pdf` and returns what
/// it wrote to standard output (`pdftotext` is told to write there, the others do so without a
/// file name); `fontconfig` points the reader at a font configuration.
fn poppler(tool: &str, args: &[&str], pdf: &Path, fontconfig: Option<&Path>) -> Vec<u8> {
    let mut command = Command::new(tool);
    command.args(args).arg(pdf);
    if tool == "pdftotext" {
        command.arg("-");
    }
    if let Some(config) = fontconfig {
        command.env("FONTCONFIG_FILE", config);
    }
    let output = command.output().unwrap_or_else(|e| {
        panic!("{tool} cannot run ({e}): install poppler-utils (scripts/test.sh does)")
    });
    assert!(
        output.status.success(),
        "{tool}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[test]
fn a_chinese_customer_signs_a_report_in_chinese_on_china_time_that_any_reader_shows() {
    assert!(
        Path::new(NOTO_CJK).exists(),
        "{NOTO_CJK} is missing: install fonts-noto-cjk (scripts/test.sh does)"
    );
    let server = TestServer::start_in_zone("Asia/Shanghai");
    let dispatcher = server.dispatcher();
    let answer = dispatcher.post(
        "/v1/jobs",
        &json!({
            "kind": "installation",
            "customer": { "name": "张伟", "tier": "vip" },
            "site": { "address": "上海市浦东新区世纪大道100号", "region": "华东" },
            "product": { "model": "KFR-35GW", "serial": "SN-88" },
            "problem": { "category": "新机安装", "description": "客厅挂机，需打孔" },
        }),
    );
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    let job = answer.body["id"].as_str().expect("id").to_owned();
    dispatcher.assign(&job, Some("anna"));
    // The office knows the engineer by name; the phone learns it at enrollment.
    let renamed = server.office("admin").post(
        "/v1/users",
        &json!({ "id": "anna", "name": "王芳", "role": "installer" }),
    );
    assert!(renamed.status < 300, "{:?}", renamed.body);

    let mut phone = server.phone("anna");
    phone.store = phone
        .store
        .with_locale("zh-CN")
        .with_report_fonts(vec![PathBuf::from(NOTO_CJK)]);
    phone.sync();
    assert_eq!(
        phone
            .store
            .organisation_time_zone()
            .expect("zone")
            .as_deref(),
        Some("Asia/Shanghai"),
        "the server announces the organisation's zone"
    );
    phone.arrive(&job);
    let outcome = Outcome {
        fix: "安装完成，试机正常".into(),
        ..Outcome::default()
    };
    phone
        .store
        .finish_visit(&job, &outcome, true)
        .expect("complete");
    let (_, report) = sign(&phone, &job, "张伟");
    let dir = tempfile::tempdir().expect("tempdir");
    let signed = dir.path().join("signed.pdf");
    std::fs::write(&signed, &report).expect("write");

    // The text comes back out: labels, what dispatch typed, the signer, China time.
    let text =
        String::from_utf8(poppler("pdftotext", &["-enc", "UTF-8"], &signed, None)).expect("utf-8");
    for expected in [
        "服务报告",
        "客户等级：VIP",
        "名称：张伟",
        "地址：上海市浦东新区世纪大道100号",
        "处理方法：安装完成，试机正常",
        "工程师：王芳",
        "签名人：张伟",
        "UTC+08:00",
        "第 1 页，共 1 页",
    ] {
        assert!(text.contains(expected), "{expected} missing from:\n{text}");
    }
    assert!(!text.contains('?'), "a character was lost:\n{text}");

    // One font, a subset, embedded: nothing depends on the reader's fonts.
    let fonts = String::from_utf8(poppler("pdffonts", &[], &signed, None)).expect("utf-8");
    let font_rows: Vec<&str> = fonts.lines().skip(2).collect();
    assert_eq!(font_rows.len(), 1, "{fonts}");
    let row: Vec<&str> = font_rows[0].split_whitespace().collect();
    assert!(row[0].contains("+NotoSansCJKsc"), "{fonts}");
    assert!(
        row.windows(3).any(|w| w == ["yes", "yes", "yes"]),
        "emb sub uni: {fonts}"
    );
    assert!(
        report.len() < 150_000,
        "the subset is small: {} bytes",
        report.len()
    );

    // Rendered with no fonts at all for the reader, the page is the same as with the system's
    // CJK fonts, and another name draws other glyphs (a missing glyph would draw the same box).
    let no_fonts = dir.path().join("fonts.conf");
    std::fs::write(
        &no_fonts,
        format!(
            "<?xml version=\"1.0\"?><fontconfig><cachedir>{}</cachedir></fontconfig>",
            dir.path().join("cache").display()
        ),
    )
    .expect("fonts.conf");
    let render = |pdf: &Path, fontconfig: Option<&Path>| {
        poppler(
            "pdftoppm",
            &["-gray", "-r", "60", "-f", "1", "-l", "1"],
            pdf,
            fontconfig,
        )
    };
    let bare = render(&signed, Some(&no_fonts));
    assert_eq!(
        bare,
        render(&signed, None),
        "the page depends on the reader's fonts"
    );
    let held = phone.store.job(&job).expect("job");
    let options = ReportOptions {
        language: Language::Chinese,
        time_zone: jiff_zone("Asia/Shanghai"),
        fonts: vec![PathBuf::from(NOTO_CJK)],
        ..ReportOptions::default()
    };
    let at = 1_795_003_600_000;
    let pages: Vec<Vec<u8>> = ["张伟", "李娜"]
        .iter()
        .map(|name| {
            let path = dir.path().join(format!("{name}.pdf"));
            std::fs::write(&path, service_report_pdf(&held, name, at, &options)).expect("write");
            render(&path, Some(&no_fonts))
        })
        .collect();
    assert_ne!(pages[0], pages[1], "different names draw the same glyphs");

    // For a person to look at.
    let artifacts = artifacts_dir();
    std::fs::create_dir_all(&artifacts).expect("artifacts dir");
    let png = artifacts.join("service-report-zh");
    let status = Command::new("pdftoppm")
        .args(["-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile"])
        .arg(&signed)
        .arg(&png)
        .env("FONTCONFIG_FILE", &no_fonts)
        .status()
        .expect("pdftoppm");
    assert!(status.success());
}

fn jiff_zone(name: &str) -> fieldsync_client_core::report::TimeZone {
    fieldsync_client_core::report::TimeZone::get(name).expect("zone")
}

#[test]
fn bad_uploads_and_manuals_get_clear_errors_and_leave_nothing_half_written() {
    let server = TestServer::start();
    let dispatcher = server.dispatcher();
    let job = dispatcher.create_job_on("Ada", MODEL, "anna");
    let bens = dispatcher.create_job_on("Bea", MODEL, "ben");
    let phone = server.phone("anna");
    let device = server.with_token(Some(&phone.credential));
    let bytes = pseudo_random_bytes(40, 10_000);
    let sha = sha256_hex(&bytes);
    let put = |sha: &str, query: &str, range: Option<&str>, body: &[u8]| {
        let mut headers = vec![("Content-Type", "image/jpeg")];
        if let Some(range) = range {
            headers.push(("Content-Range", range));
        }
        device.put_bytes(&format!("/v1/blobs/{sha}{query}"), &headers, body)
    };
    let code = |answer: &fieldsync_tests::Answer| {
        (
            answer.status,
            answer.body["code"].as_str().unwrap_or("").to_owned(),
        )
    };
    let on_job = format!("?job={job}");

    // Bytes that do not hash to their name are discarded.
    let wrong = sha256_hex(b"something else");
    assert_eq!(
        code(&put(&wrong, &on_job, None, &bytes)),
        (422, "hash_mismatch".into())
    );
    let status = device.get(&format!("/v1/blobs/{wrong}/upload"));
    assert_eq!(
        (
            status.body["received"].as_u64(),
            status.body["complete"].as_bool()
        ),
        (Some(0), Some(false))
    );
    assert_eq!(dispatcher.get_bytes(&format!("/v1/blobs/{wrong}")).0, 404);
    // Oversized, unknown or foreign job, no job, a malformed name.
    let huge = format!("bytes 0-9/{}", (64u64 << 20) + 1);
    assert_eq!(
        code(&put(&sha, &on_job, Some(&huge), &bytes[..10])),
        (413, "blob_too_large".into())
    );
    assert_eq!(
        code(&put(&sha, "?job=no-such-job", None, &bytes)),
        (404, "unknown_job".into())
    );
    assert_eq!(
        code(&put(&sha, &format!("?job={bens}"), None, &bytes)),
        (404, "unknown_job".into())
    );
    let missing_job = put(&sha, "", None, &bytes);
    assert_eq!(
        (missing_job.status, missing_job.body["field"].as_str()),
        (400, Some("job"))
    );
    assert_eq!(
        code(&put("ABC", &on_job, None, &bytes)),
        (400, "invalid_sha256".into())
    );
    assert_eq!(
        code(&put(&sha, &on_job, Some("bytes 9-2/10000"), &bytes[..8])),
        (400, "bad_content_range".into())
    );

    // Parts must continue exactly where the server's copy ends.
    assert_eq!(
        put(&sha, &on_job, Some("bytes 0-999/10000"), &bytes[..1000]).status,
        200
    );
    let gap = put(
        &sha,
        &on_job,
        Some("bytes 2000-2999/10000"),
        &bytes[2000..3000],
    );
    assert_eq!(
        (code(&gap), gap.body["received"].as_u64()),
        ((409, "chunk_out_of_order".into()), Some(1000))
    );
    let overlap = put(
        &sha,
        &on_job,
        Some("bytes 500-1499/10000"),
        &bytes[500..1500],
    );
    assert_eq!(
        (code(&overlap), overlap.body["received"].as_u64()),
        ((409, "chunk_out_of_order".into()), Some(1000))
    );
    let long = put(
        &sha,
        &on_job,
        Some("bytes 1000-1999/10000"),
        &bytes[1000..2500],
    );
    assert_eq!(code(&long), (400, "bad_content_range".into()));
    let resized = put(
        &sha,
        &on_job,
        Some("bytes 1000-1999/20000"),
        &bytes[1000..2000],
    );
    assert_eq!(code(&resized), (400, "bad_content_range".into()));
    let status = device.get(&format!("/v1/blobs/{sha}/upload"));
    assert_eq!(
        status.body["received"].as_u64(),
        Some(1000),
        "refused parts left nothing behind"
    );
    assert_eq!(
        dispatcher.get_bytes(&format!("/v1/blobs/{sha}")).0,
        404,
        "a partial blob is invisible"
    );
    let rest = put(&sha, &on_job, Some("bytes 1000-9999/10000"), &bytes[1000..]);
    assert_eq!(
        (rest.status, rest.body["complete"].as_bool()),
        (201, Some(true))
    );
    assert!(dispatcher.get_bytes(&format!("/v1/blobs/{sha}")).1 == bytes);

    // Every byte staged but never finished (the server stopped in between): asking the
    // progress finishes it, so the phone is never told "all there" of a blob not held.
    let stranded = pseudo_random_bytes(41, 5_000);
    let stranded_sha = sha256_hex(&stranded);
    assert_eq!(
        put(
            &stranded_sha,
            &on_job,
            Some("bytes 0-4998/5000"),
            &stranded[..4999]
        )
        .status,
        200
    );
    server
        .state()
        .blobs
        .append(&stranded_sha, 4999, &[&stranded[4999..]])
        .expect("stage the last byte behind the server's back");
    let status = device.get(&format!("/v1/blobs/{stranded_sha}/upload"));
    assert_eq!(
        (
            status.body["complete"].as_bool(),
            status.body["received"].as_u64()
        ),
        (Some(true), Some(5000))
    );
    assert!(dispatcher.get_bytes(&format!("/v1/blobs/{stranded_sha}")).1 == stranded);

    // Manuals: each mistake names its field or cause, and nothing is published.
    let manual = |version: u32, section_id: &str, attachment: Option<&str>| {
        let attachments: Vec<_> = attachment
            .map(|sha| json!({ "sha256": sha, "name": "a.png", "mime": "image/png" }))
            .into_iter()
            .collect();
        json!({
            "model": MODEL, "version": version, "title": "Manual",
            "sections": [{ "id": section_id, "title": "Intro", "body": "text" }],
            "attachments": attachments,
        })
    };
    let never_uploaded = sha256_hex(b"never uploaded");
    let answer = dispatcher.post("/v1/manuals", &manual(1, "intro", Some(&never_uploaded)));
    assert_eq!(code(&answer), (400, "missing_blob".into()));
    let answer = dispatcher.post("/v1/manuals", &manual(1, "Not A Slug", None));
    assert_eq!(
        (answer.status, answer.body["field"].as_str()),
        (400, Some("section id"))
    );
    let answer = dispatcher.post("/v1/manuals", &manual(0, "intro", None));
    assert_eq!(
        (answer.status, answer.body["field"].as_str()),
        (400, Some("version"))
    );
    assert_eq!(dispatcher.get("/v1/manuals").body, json!([]));
    dispatcher.publish_manual(&manual(2, "intro", None));
    let answer = dispatcher.post("/v1/manuals", &manual(2, "intro", None));
    assert_eq!(code(&answer), (409, "stale_version".into()));
    let answer = server.office("admin").put_bytes(
        &format!("/v1/blobs/{sha}"),
        &[("Content-Type", "image/png")],
        &bytes,
    );
    assert_eq!(answer.status, 403, "admins read; they do not publish");
}

/// An upload refused for who sends it (an expired credential, a role that may not upload) is
/// answered after its body is read, never by cutting the connection: a phone gets the error to
/// act on, and a proxy in front gets an answer rather than a broken pipe it would report as 502.
#[test]
fn an_upload_refused_for_its_sender_is_answered_not_cut() {
    let server = TestServer::start();
    let photo = pseudo_random_bytes(21, 3 << 20);
    let path = format!("/v1/blobs/{}", sha256_hex(&photo));
    let headers = [("Content-Type", "image/jpeg")];
    for _ in 0..3 {
        let expired = server
            .with_token(Some("no-such-credential"))
            .put_bytes(&path, &headers, &photo);
        assert_eq!(expired.status, 401, "{:?}", expired.body);
        let admin = server.office("admin").put_bytes(&path, &headers, &photo);
        assert_eq!(
            (admin.status, admin.body["code"].as_str()),
            (403, Some("forbidden")),
            "{:?}",
            admin.body
        );
    }
}
