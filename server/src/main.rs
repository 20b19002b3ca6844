//! The `fieldsync` command: runs the server, or acts as an installer's phone (the device
//! simulator) against a running server.

use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

use fieldsync_client_core::protocol::job::{ChecklistUpdate, Outcome};
use fieldsync_client_core::protocol::rules::Status;
use fieldsync_client_core::transport::HttpTransport;
use fieldsync_client_core::{JobQuery, Store};
use fieldsync_server::blobs::FsBlobStore;
use fieldsync_server::sla::SlaPolicy;
use fieldsync_server::storage::sqlite::SqliteStorage;
use fieldsync_server::{AppState, auth, demo, escalation, knowledge, serve};

const USAGE: &str = "\
usage:
  fieldsync serve [--db PATH] [--blobs DIR] [--addr HOST:PORT] [--sla FILE] [--demo]
      Runs the server and its dispatch console on an embedded SQLite file (default
      fieldsync.sqlite3, 127.0.0.1:8080), keeping photos, signatures, reports and manual
      attachments as files under --blobs (default: the database path with `.blobs` appended). --sla reads the SLA targets per tier and kind from a
      JSON file (GET /v1/config/sla shows the format, with the defaults).
      On a database without an admin it creates the user `admin` with the password in
      FIELDSYNC_ADMIN_PASSWORD, or prints a generated one once. FIELDSYNC_ADMIN_PASSWORD also
      resets the admin's password on an existing database.
      --demo fills an empty database with a month of demo work: installers, a dispatcher,
      customers of both tiers, complaints, escalations, follow-ups and today's jobs.
  fieldsync enroll-code [--db PATH] --user USER
      Prints a one-time enrollment code for USER's phone (also: POST /v1/enrollments).
  fieldsync device --store PATH --user USER [--server URL] COMMAND
      Acts as USER's phone with its local store at PATH (its credential in PATH.credential).
      Commands:
        enroll CODE | list | show JOB | status | sync | watch
        start JOB | arrive JOB | check JOB ITEM [NOTE] | note JOB TEXT
        part JOB PART_NUMBER QUANTITY | rate JOB SCORE [COMMENT] | help JOB REASON
        complete JOB [SUMMARY] | incomplete JOB [REASON]
        photo JOB FILE [CAPTION] | sign JOB IMAGE_FILE SIGNER... | upload
        knowledge | search QUERY... | manual MODEL | tip MODEL TEXT...";

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tower_http=warn".into()),
        )
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => run_server(&args[1..]),
        Some("device") => run_device(&args[1..]),
        Some("enroll-code") => run_enroll_code(&args[1..]),
        _ => Err(USAGE.to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// A command line split into `--flag value` options and positional arguments.
struct Args {
    options: Vec<(String, String)>,
    positional: Vec<String>,
}

impl Args {
    fn parse(args: &[String], flags: &[&str], switches: &[&str]) -> Result<Args, String> {
        let mut parsed = Args {
            options: Vec::new(),
            positional: Vec::new(),
        };
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            if switches.contains(&arg.as_str()) {
                parsed.options.push((arg.clone(), String::new()));
            } else if flags.contains(&arg.as_str()) {
                let value = iter
                    .next()
                    .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))?;
                parsed.options.push((arg.clone(), value.clone()));
            } else if arg.starts_with("--") {
                return Err(format!("unknown option {arg}\n{USAGE}"));
            } else {
                parsed.positional.push(arg.clone());
            }
        }
        Ok(parsed)
    }

    fn option(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn run_server(args: &[String]) -> Result<(), String> {
    let cli = Args::parse(args, &["--db", "--addr", "--sla"], &["--demo"])?;
    if !cli.positional.is_empty() {
        return Err(format!(
            "unexpected argument {}\n{USAGE}",
            cli.positional[0]
        ));
    }
    let db = cli.option("--db").unwrap_or("fieldsync.sqlite3");
    let addr = cli.option("--addr").unwrap_or("127.0.0.1:8080");
    let sla = match cli.option("--sla") {
        Some(path) => {
            SlaPolicy::from_file(std::path::Path::new(path)).map_err(|e| e.to_string())?
        }
        None => SlaPolicy::default(),
    };
    let storage = SqliteStorage::open(db).map_err(|e| format!("cannot open {db}: {e}"))?;
    let blob_dir = cli
        .option("--blobs")
        .map_or_else(|| format!("{db}.blobs"), str::to_owned);
    let blobs = FsBlobStore::open(&blob_dir).map_err(|e| format!("cannot open {blob_dir}: {e}"))?;
    let now = fieldsync_client_core::protocol::now_millis();
    escalation::backfill_facts(&storage, now).map_err(|e| e.to_string())?;
    knowledge::backfill(&storage).map_err(|e| e.to_string())?;
    let admin_password = std::env::var("FIELDSYNC_ADMIN_PASSWORD").ok();
    if let Some(generated) =
        auth::ensure_admin(&storage, admin_password.as_deref()).map_err(|e| e.to_string())?
    {
        println!("created user `admin` with password {generated} (shown once)");
    }
    if cli.option("--demo").is_some() {
        let created = demo::seed(&storage, &sla, now).map_err(|e| e.to_string())?;
        if created > 0 {
            println!(
                "demo data: a month of work, {created} jobs for installers {}",
                demo::INSTALLERS.map(|i| i.0).join(", ")
            );
            println!(
                "  dispatch signs in as `{}` with password `{}`",
                demo::DISPATCHER,
                demo::DISPATCHER_PASSWORD
            );
            for (user, _, role, password) in demo::OFFICE {
                println!("  {role}: `{user}` with password `{password}`");
            }
        }
    }
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let url = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
        println!("Fieldsync server on {url} (database {db})");
        println!("  sign in:  curl -d '{{\"user\":\"dispatch\",\"password\":\"…\"}}' {url}/v1/auth/login");
        println!("  a phone:  fieldsync enroll-code --db {db} --user anna, then fieldsync device --store anna.sqlite3 --user anna --server {url} enroll CODE");
        println!("  console:  {url}/ (API description at {url}/v1/openapi.json)");
        let state = AppState {
            sla: Arc::new(sla),
            ..AppState::new(Arc::new(storage), Arc::new(blobs))
        };
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
            println!("shutting down");
        };
        serve(listener, state, shutdown).await.map_err(|e| e.to_string())
    })
}

/// The image type a file name suggests.
fn image_type(file: &str) -> &'static str {
    let lower = file.to_ascii_lowercase();
    if lower.ends_with(".png") {
        "image/png"
    } else if lower.ends_with(".webp") {
        "image/webp"
    } else {
        "image/jpeg"
    }
}

fn run_enroll_code(args: &[String]) -> Result<(), String> {
    let cli = Args::parse(args, &["--db", "--user"], &[])?;
    let db = cli.option("--db").unwrap_or("fieldsync.sqlite3");
    let user = cli
        .option("--user")
        .ok_or(format!("--user is required\n{USAGE}"))?;
    let storage = SqliteStorage::open(db).map_err(|e| format!("cannot open {db}: {e}"))?;
    let issued = auth::issue_enrollment_code(
        &storage,
        "command line",
        user,
        fieldsync_client_core::protocol::now_millis(),
    )
    .map_err(|e| e.to_string())?;
    println!("{}", issued.code);
    Ok(())
}

/// The simulator keeps the device credential next to its store (a real app uses the platform
/// keystore).
fn credential_path(store: &str) -> String {
    format!("{store}.credential")
}

fn run_device(args: &[String]) -> Result<(), String> {
    let cli = Args::parse(args, &["--store", "--user", "--server"], &[])?;
    let positional = &cli.positional;
    let path = cli
        .option("--store")
        .ok_or(format!("--store is required\n{USAGE}"))?;
    let user = cli
        .option("--user")
        .ok_or(format!("--user is required\n{USAGE}"))?;
    let server = cli.option("--server").unwrap_or("http://127.0.0.1:8080");
    let store = Store::open(path, user).map_err(|e| e.to_string())?;
    let transport = HttpTransport::new(server);
    if let Ok(credential) = std::fs::read_to_string(credential_path(path)) {
        transport.set_credential(credential.trim());
    }
    let arg = |i: usize, what: &str| {
        positional
            .get(i)
            .cloned()
            .ok_or_else(|| format!("missing {what}\n{USAGE}"))
    };
    let command = arg(0, "command")?;
    let e = |e: fieldsync_client_core::Error| e.to_string();
    match command.as_str() {
        "enroll" => {
            let credential = transport.enroll(&store, &arg(1, "CODE")?).map_err(e)?;
            std::fs::write(credential_path(path), credential)
                .map_err(|e| format!("cannot keep the credential: {e}"))?;
            println!("enrolled device {} for {user}", store.identity().device_id);
        }
        "list" => {
            let mut out = std::io::stdout().lock();
            for job in store.list_jobs(&JobQuery::default()).map_err(e)? {
                let state = store.sync_state(&job.id).map_err(e)?;
                let line = format!(
                    "{}  {:<10} {:<12} {:<20} {:?}",
                    job.id,
                    job.status.as_str(),
                    job.kind.as_str(),
                    job.customer_name,
                    state
                );
                // A closed pipe (`... list | head`) just ends the listing.
                if writeln!(out, "{line}").is_err() {
                    break;
                }
            }
        }
        "show" => {
            let job = store.job(&arg(1, "JOB")?).map_err(e)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&job).map_err(|e| e.to_string())?
            );
            println!("status: {}", job.status().as_str());
        }
        "status" => {
            let outbox = store.outbox_status().map_err(e)?;
            println!(
                "device {} for {}; cursor {}",
                store.identity().device_id,
                user,
                store.cursor().map_err(e)?
            );
            println!(
                "outbox: {} waiting, oldest {:?}, refusals {}",
                outbox.depth, outbox.oldest_created_at, outbox.refusals
            );
            for refusal in store.refusals().map_err(e)? {
                println!(
                    "  refused {}: {} ({})",
                    refusal.job_id, refusal.reason, refusal.code
                );
            }
        }
        "sync" => {
            let report = transport.sync(&store).map_err(e)?;
            let stats = transport.stats();
            println!(
                "synced in {} round trips ({} B up, {} B down): {} accepted, {} refused, {} updated, {} removed",
                report.round_trips,
                stats.bytes_sent,
                stats.bytes_received,
                report.accepted_jobs,
                report.refused_jobs,
                report.updated_jobs,
                report.purged_jobs
            );
        }
        "watch" => {
            println!("watching for changes (Ctrl-C to stop)");
            loop {
                if transport
                    .wait_for_nudge(std::time::Duration::from_secs(60))
                    .map_err(e)?
                {
                    let report = transport.sync(&store).map_err(e)?;
                    println!("change arrived: {} jobs updated", report.updated_jobs);
                }
            }
        }
        "start" => store
            .move_status(&arg(1, "JOB")?, Status::EnRoute, None)
            .map_err(e)?,
        "arrive" => store
            .move_status(&arg(1, "JOB")?, Status::OnSite, None)
            .map_err(e)?,
        "check" => {
            let update = ChecklistUpdate {
                done: Some(true),
                note: positional.get(3).cloned(),
                ..Default::default()
            };
            store
                .update_checklist_item(&arg(1, "JOB")?, &arg(2, "ITEM")?, &update)
                .map_err(e)?;
        }
        "note" => store
            .append_note(
                &arg(1, "JOB")?,
                &positional.get(2..).unwrap_or_default().join(" "),
            )
            .map_err(e)?,
        "part" => {
            let quantity = arg(3, "QUANTITY")?
                .parse()
                .map_err(|_| "QUANTITY must be a whole number".to_owned())?;
            store
                .add_part(&arg(1, "JOB")?, &arg(2, "PART_NUMBER")?, quantity, true)
                .map_err(e)?;
        }
        "rate" => {
            let score = arg(2, "SCORE")?
                .parse()
                .map_err(|_| "SCORE must be 1 to 5".to_owned())?;
            store
                .set_rating(
                    &arg(1, "JOB")?,
                    score,
                    &positional.get(3..).map(|r| r.join(" ")).unwrap_or_default(),
                )
                .map_err(e)?;
        }
        "help" => store
            .request_help(
                &arg(1, "JOB")?,
                &positional.get(2..).unwrap_or_default().join(" "),
            )
            .map_err(e)?,
        "complete" | "incomplete" => {
            let outcome = Outcome {
                first_visit_success: Some(command == "complete"),
                summary: positional.get(2..).map(|r| r.join(" ")).unwrap_or_default(),
                ..Outcome::default()
            };
            store
                .finish_visit(&arg(1, "JOB")?, &outcome, command == "complete")
                .map_err(e)?;
        }
        "photo" => {
            let file = arg(2, "FILE")?;
            let bytes = std::fs::read(&file).map_err(|e| format!("cannot read {file}: {e}"))?;
            let caption = positional.get(3..).unwrap_or_default().join(" ");
            let photo = store
                .attach_photo(&arg(1, "JOB")?, &bytes, image_type(&file), &caption)
                .map_err(e)?;
            println!("photo {} ({} bytes)", photo.sha256, photo.size);
        }
        "sign" => {
            let file = arg(2, "IMAGE_FILE")?;
            let bytes = std::fs::read(&file).map_err(|e| format!("cannot read {file}: {e}"))?;
            let signer = positional.get(3..).unwrap_or_default().join(" ");
            let signature = store
                .sign(&arg(1, "JOB")?, &bytes, image_type(&file), &signer)
                .map_err(e)?;
            println!("signed; service report {}", signature.report_sha256);
        }
        "upload" => {
            let report = transport.upload_media(&store).map_err(e)?;
            println!(
                "uploaded {} blobs ({} B); {} still waiting",
                report.uploaded,
                report.bytes_sent,
                store.pending_media().map_err(e)?.len()
            );
        }
        "knowledge" => {
            let applied = transport.sync_knowledge(&store).map_err(e)?;
            println!(
                "manuals updated: {}; {} cases; {} tip changes",
                applied.manuals.join(", "),
                applied.cases,
                applied.tip_changes
            );
        }
        "search" => {
            let query = positional.get(1..).unwrap_or_default().join(" ");
            for hit in store.search(&query, 20).map_err(e)? {
                let snippet: String = hit
                    .snippet
                    .iter()
                    .map(|p| {
                        if p.matched {
                            format!("[{}]", p.text)
                        } else {
                            p.text.clone()
                        }
                    })
                    .collect();
                println!(
                    "{:?} {} {}: {}\n    {snippet}",
                    hit.kind, hit.model, hit.reference, hit.title
                );
            }
        }
        "manual" => {
            let model = arg(1, "MODEL")?;
            let manual = store
                .manual(&model)
                .map_err(e)?
                .ok_or_else(|| format!("no manual for {model} on this phone; run `knowledge`"))?;
            println!("{} (version {})", manual.title, manual.version);
            for section in manual.sections {
                println!("\n## {}\n{}", section.title, section.body);
            }
        }
        "tip" => {
            let tip = store
                .add_tip(
                    &arg(1, "MODEL")?,
                    &positional.get(2..).unwrap_or_default().join(" "),
                )
                .map_err(e)?;
            println!("tip {} saved", tip.id);
        }
        other => return Err(format!("unknown device command `{other}`\n{USAGE}")),
    }
    if !matches!(
        command.as_str(),
        "enroll"
            | "list"
            | "show"
            | "status"
            | "sync"
            | "watch"
            | "upload"
            | "knowledge"
            | "search"
            | "manual"
    ) {
        println!("saved on the phone; run `sync` to send it");
    }
    Ok(())
}
