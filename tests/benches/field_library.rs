//! The field-library benchmark: offline search over a phone's manuals and media upload
//! throughput.
//!
//! Search: a phone holds 5,000 manual pages (50 product models × 100 sections of about 300
//! words, English with French and Chinese passages). Reported: the median and p90 time of a
//! search (20 results with snippets) per kind of query, as an installer types.
//!
//! Upload: four 24 MiB photos captured on the phone are uploaded with the resumable, hashed,
//! chunked upload to a real server on loopback, against a plain HTTP `PUT` of the same bytes to
//! a minimal server on the same machine that writes them to a file and syncs it. Medians of 3.
//!
//! Run with `cargo bench -p fieldsync-tests --bench field_library` (add `-- --quick` for a
//! smaller run, `-- --only search` or `-- --only upload` for one half).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed expectation is a failed test

use std::time::{Duration, Instant};

use fieldsync_client_core::Store;
use fieldsync_client_core::protocol::knowledge::{KnowledgeResponse, ManualDelta, Section};
use fieldsync_server::state::limits::DeviceQuotas;
use fieldsync_tests::{TestServer, manual_prose, pseudo_random_bytes};

const CHINESE: [&str; 4] = [
    "安装前请关闭电源并检查管道。",
    "如果压力过低，请检查阀门和密封圈。",
    "定期清洁过滤器可以延长设备寿命。",
    "调试完成后记录运行参数。",
];

fn page(seed: u64, words: usize) -> String {
    let mut text = manual_prose(seed, words);
    text.push(' ');
    text.push_str(CHINESE[usize::try_from(seed % 4).unwrap_or(0)]);
    text
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn p90(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[(values.len() * 9 / 10).min(values.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn search_bench(models: usize, sections: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("phone.sqlite3"), "anna").expect("store");
    let prepared = store.prepare_knowledge().expect("prepare");
    let manuals = (0..models)
        .map(|m| {
            let sections: Vec<Section> = (0..sections)
                .map(|s| Section {
                    id: format!("s-{s}"),
                    title: format!("Section {s}"),
                    body: page((m * sections + s) as u64 + 1, 300),
                })
                .collect();
            ManualDelta {
                model: format!("MODEL-{m}"),
                version: 1,
                title: format!("Model {m} installation manual"),
                base_version: None,
                section_order: sections.iter().map(|s| s.id.clone()).collect(),
                sections,
                attachments: Vec::new(),
            }
        })
        .collect();
    let started = Instant::now();
    store
        .apply_knowledge(
            &prepared,
            &KnowledgeResponse {
                v: 1,
                manuals,
                ..KnowledgeResponse::default()
            },
        )
        .expect("install manuals");
    let pages = models * sections;
    println!(
        "\n### Offline search over {pages} manual pages\n\nIndexed in {:.1} s.\n",
        started.elapsed().as_secs_f64()
    );
    println!("| query | results | median ms | p90 ms |");
    println!("|---|---:|---:|---:|");
    let queries: [(&str, &[&str]); 6] = [
        ("one word", &["gasket", "inverter", "bracket"]),
        (
            "typing a word",
            &["t", "th", "the", "ther", "therm", "thermo"],
        ),
        (
            "two words",
            &["bleed valve", "defrost sensor", "torque bracket"],
        ),
        ("without accents", &["securite", "verifier soupape"]),
        ("Chinese, two characters", &["安装", "阀门", "过滤"]),
        ("no match", &["xylophone", "不存在"]),
    ];
    let mut all = Vec::new();
    for (label, terms) in queries {
        let mut times = Vec::new();
        let mut results = 0;
        for _ in 0..40 {
            for term in terms {
                let started = Instant::now();
                let hits = store.search(term, 20).expect("search");
                times.push(started.elapsed());
                results = results.max(hits.len());
            }
        }
        all.extend(times.iter().copied());
        println!(
            "| {label} | {results} | {} | {} |",
            ms(median(times.clone())),
            ms(p90(times))
        );
    }
    println!("| all | | {} | {} |", ms(median(all.clone())), ms(p90(all)));
}

/// A plain HTTP upload target: each `PUT` body streamed into a file, synced, answered 201.
fn plain_server(dir: std::path::PathBuf) -> (String, std::thread::JoinHandle<()>) {
    use axum::body::Body;
    use axum::extract::Path;
    use tokio_stream::StreamExt;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().route(
        "/upload/{name}",
        axum::routing::put(move |Path(name): Path<String>, body: Body| {
            let path = dir.join(name);
            async move {
                use std::io::Write;
                // Plain blocking writes: the simplest server anyone would write.
                let mut file = std::fs::File::create(&path).expect("create");
                let mut stream = body.into_data_stream();
                while let Some(Ok(bytes)) = stream.next().await {
                    file.write_all(&bytes).expect("write");
                }
                file.sync_all().expect("sync");
                axum::http::StatusCode::CREATED
            }
        }),
    );
    let thread = std::thread::spawn(move || {
        runtime.block_on(async move {
            let _ = axum::serve(listener, app).await;
        });
    });
    (url, thread)
}

fn upload_bench(photos: usize, photo_bytes: usize, runs: usize) {
    let blobs: Vec<Vec<u8>> = (0..photos)
        .map(|i| pseudo_random_bytes(100 + i as u64, photo_bytes))
        .collect();
    let total = (photos * photo_bytes) as f64;
    let mut ours = Vec::new();
    let mut plain = Vec::new();
    let plain_dir = tempfile::tempdir().expect("tempdir");
    let (plain_url, _plain) = plain_server(plain_dir.path().to_path_buf());
    let agent = fieldsync_tests::agent();
    for run in 0..runs {
        // The server's own throughput: the per-device bandwidth limit is off.
        let server = TestServer::start_with_quotas(DeviceQuotas {
            upload_bytes_per_second: None,
            ..DeviceQuotas::default()
        });
        let dispatcher = server.dispatcher();
        let job = dispatcher.create_job_on("Ada", "HX-200", "anna");
        let phone = server.phone("anna");
        phone.sync();
        for (i, blob) in blobs.iter().enumerate() {
            // Distinct per run, so the server never holds them already.
            let mut bytes = blob.clone();
            bytes[0] = u8::try_from(run).unwrap_or(0);
            bytes[1] = u8::try_from(i).unwrap_or(0);
            phone
                .store
                .attach_photo(&job, &bytes, "image/jpeg", "")
                .expect("photo");
        }
        let started = Instant::now();
        let report = phone.transport.upload_media(&phone.store).expect("upload");
        ours.push(started.elapsed());
        assert_eq!(report.uploaded, photos as u64);

        let started = Instant::now();
        for (i, blob) in blobs.iter().enumerate() {
            let response = agent
                .put(format!("{plain_url}/upload/{run}-{i}"))
                .header("Content-Type", "image/jpeg")
                .send(&blob[..])
                .expect("plain upload");
            assert_eq!(response.status().as_u16(), 201);
        }
        plain.push(started.elapsed());
    }
    let (ours, plain) = (median(ours), median(plain));
    let rate = |d: Duration| total / d.as_secs_f64() / f64::from(1u32 << 20);
    println!(
        "\n### Media upload, {photos} × {} MiB photos (median of {runs})\n",
        photo_bytes >> 20
    );
    println!("| upload | time s | MiB/s |");
    println!("|---|---:|---:|");
    println!(
        "| Fieldsync: chunked, resumable, hash-verified | {:.2} | {:.0} |",
        ours.as_secs_f64(),
        rate(ours)
    );
    println!(
        "| plain HTTP PUT of the same bytes | {:.2} | {:.0} |",
        plain.as_secs_f64(),
        rate(plain)
    );
    println!(
        "\nThroughput ratio (Fieldsync / plain): {:.2}×",
        plain.as_secs_f64() / ours.as_secs_f64()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(String::as_str);
    if only != Some("upload") {
        if quick {
            search_bench(10, 100);
        } else {
            search_bench(50, 100);
        }
    }
    if only != Some("search") {
        if quick {
            upload_bench(2, 8 << 20, 1);
        } else {
            upload_bench(4, 24 << 20, 3);
        }
    }
}
