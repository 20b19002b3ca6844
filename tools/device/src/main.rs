//! `fieldsync-device`: an installer's phone on the command line. It runs the same library the
//! apps embed (`fieldsync-client-core`) against a running server, with its local store in a
//! SQLite file: enroll, sync, work on jobs offline, capture media, search the manuals.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fieldsync_client_core::protocol::job::{ChecklistUpdate, Outcome};
use fieldsync_client_core::protocol::now_millis;
use fieldsync_client_core::protocol::rules::Status;
use fieldsync_client_core::transport::HttpTransport;
use fieldsync_client_core::{JobQuery, ServerTrust, Store};

/// Acts as USER's phone with its local store at STORE (its credential kept in
/// STORE.credential; a real app uses the platform keystore).
#[derive(Debug, Parser)]
#[command(name = "fieldsync-device", version)]
struct Cli {
    /// The phone's local store (an SQLite file, created on first use).
    #[arg(long, value_name = "PATH")]
    store: PathBuf,
    /// The installer signed in on the phone.
    #[arg(long)]
    user: String,
    /// The server's base URL: https://, or http:// to this machine.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// Allows http:// to another machine (clear text: a closed network only).
    #[arg(long)]
    allow_insecure_http: bool,
    /// Pins the server's key: a base64 SHA-256 of a public key (SPKI) its certificate chain
    /// must contain. Repeat for several.
    #[arg(long, value_name = "SHA256_BASE64")]
    pin: Vec<String>,
    /// Trusts this root certificate (PEM or DER file) besides the bundled ones, e.g. the
    /// organisation's own authority. Repeat for several.
    #[arg(long, value_name = "FILE")]
    trust_root: Vec<PathBuf>,
    /// The phone's language (a BCP 47 tag): `zh-CN` prints the service report in Chinese.
    #[arg(long, value_name = "TAG", default_value = "en")]
    locale: String,
    /// A font file the service report draws Chinese with (OpenType, TrueType or a collection).
    /// Repeat for several, first choice first [default: the platform's usual CJK font, e.g.
    /// Debian's fonts-noto-cjk].
    #[arg(long, value_name = "FILE")]
    report_font: Vec<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// What the phone does.
#[derive(Debug, Subcommand)]
enum Command {
    /// Trades a one-time enrollment code (from dispatch) for the device's credential.
    Enroll {
        /// The code, or the enrollment link the office's QR code holds
        /// (`fieldsync://enroll?server=…&user=…&code=…`; its server and user must be this
        /// phone's `--server` and `--user`).
        code: String,
    },
    /// Lists the jobs on the phone.
    List,
    /// Shows one job in full.
    Show {
        /// The job id.
        job: String,
    },
    /// Shows the outbox and any refused changes.
    Status,
    /// Sends the phone's changes and receives the server's.
    Sync,
    /// Shows the customer of a job as the last sync brought them: their phones and sites, the
    /// products they own with warranties, and their jobs (works offline).
    Customer {
        /// The job id.
        job: String,
    },
    /// Lists the reminders the escalation ladder sent the installer (as the last sync
    /// brought them), newest first.
    Reminders,
    /// Acknowledges a reminder (offline; the server hears it at the next sync).
    AckReminder {
        /// The reminder's id, as `reminders` lists it.
        id: u64,
    },
    /// Waits for the server's live nudges and syncs on each (Ctrl-C to stop).
    Watch,
    /// Sets off to a job (en route).
    Start {
        /// The job id.
        job: String,
    },
    /// Arrives on site.
    Arrive {
        /// The job id.
        job: String,
    },
    /// Ticks a checklist item, with an optional note.
    Check {
        /// The job id.
        job: String,
        /// The checklist item's id.
        item: String,
        /// A note on the item.
        note: Option<String>,
    },
    /// Adds a note to the job.
    Note {
        /// The job id.
        job: String,
        /// The note's words.
        #[arg(required = true)]
        text: Vec<String>,
    },
    /// Records a part used.
    Part {
        /// The job id.
        job: String,
        /// The part number.
        part_number: String,
        /// How many.
        quantity: u32,
    },
    /// Records the customer's rating (1 to 5) on the phone.
    Rate {
        /// The job id.
        job: String,
        /// The score, 1 to 5.
        score: u8,
        /// The customer's words.
        comment: Vec<String>,
    },
    /// Asks the office for help with a job (climbs the escalation ladder).
    AskHelp {
        /// The job id.
        job: String,
        /// Why.
        #[arg(required = true)]
        reason: Vec<String>,
    },
    /// Completes the visit: the job is done.
    Complete {
        /// The job id.
        job: String,
        /// What was done.
        summary: Vec<String>,
    },
    /// Ends the visit without finishing: a follow-up is needed.
    Incomplete {
        /// The job id.
        job: String,
        /// Why.
        reason: Vec<String>,
    },
    /// Attaches a photo (JPEG, PNG or WebP) to a job.
    Photo {
        /// The job id.
        job: String,
        /// The image file.
        file: PathBuf,
        /// The caption.
        caption: Vec<String>,
    },
    /// The customer signs: renders the service report and binds the signature to it.
    Sign {
        /// The job id.
        job: String,
        /// The signature image file.
        image_file: PathBuf,
        /// Who signs.
        #[arg(required = true)]
        signer: Vec<String>,
    },
    /// Writes a job's service report to a file: the signed one, or else a preview of what the
    /// customer would sign now.
    Report {
        /// The job id.
        job: String,
        /// Where to write the PDF.
        out: PathBuf,
        /// Who would sign, for a preview.
        signer: Vec<String>,
    },
    /// Uploads captured photos, signatures and reports.
    Upload,
    /// Fetches manuals, cases and field tips for the phone's jobs.
    Knowledge,
    /// Searches manuals, cases and tips offline.
    Search {
        /// The words to find.
        #[arg(required = true)]
        query: Vec<String>,
    },
    /// Shows a product model's manual.
    Manual {
        /// The product model, e.g. HP-200.
        model: String,
    },
    /// Adds a field tip for a product model.
    Tip {
        /// The product model.
        model: String,
        /// The tip's words.
        #[arg(required = true)]
        text: Vec<String>,
    },
}

impl Command {
    /// Whether the command only changes the phone's store (and needs a `sync` to reach the
    /// server).
    fn saves_offline(&self) -> bool {
        matches!(
            self,
            Command::Start { .. }
                | Command::Arrive { .. }
                | Command::Check { .. }
                | Command::Note { .. }
                | Command::Part { .. }
                | Command::Rate { .. }
                | Command::AskHelp { .. }
                | Command::Complete { .. }
                | Command::Incomplete { .. }
                | Command::Photo { .. }
                | Command::Sign { .. }
                | Command::Tip { .. }
        )
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The credential is kept next to the store.
fn credential_path(store: &std::path::Path) -> PathBuf {
    let mut path = store.as_os_str().to_owned();
    path.push(".credential");
    PathBuf::from(path)
}

/// Writes a secret readable by its owner only.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    std::io::Write::write_all(&mut options.open(path)?, bytes)
}

/// The image type a file name suggests.
fn image_type(file: &std::path::Path) -> &'static str {
    let lower = file.to_string_lossy().to_ascii_lowercase();
    if lower.ends_with(".png") {
        "image/png"
    } else if lower.ends_with(".webp") {
        "image/webp"
    } else {
        "image/jpeg"
    }
}

/// A root certificate from a PEM or DER file, as DER.
fn read_root(file: &std::path::Path) -> Result<Vec<u8>, String> {
    let bytes = read_file(file)?;
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Ok(bytes);
    };
    let base64: String = text
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .skip(1)
        .take_while(|l| !l.starts_with("-----END CERTIFICATE-----"))
        .collect();
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(base64)
        .map_err(|e| format!("{} is not a PEM certificate: {e}", file.display()))
}

fn read_file(file: &std::path::Path) -> Result<Vec<u8>, String> {
    std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
}

fn run(cli: &Cli) -> Result<(), String> {
    let user = &cli.user;
    let mut store = Store::open(&cli.store, user)
        .map_err(|e| e.to_string())?
        .with_locale(&cli.locale);
    if !cli.report_font.is_empty() {
        store = store.with_report_fonts(cli.report_font.clone());
    }
    let trust = ServerTrust {
        allow_insecure_http: cli.allow_insecure_http,
        pinned_spki_sha256: cli.pin.clone(),
        extra_roots_der: cli
            .trust_root
            .iter()
            .map(|path| read_root(path))
            .collect::<Result<_, _>>()?,
    };
    let transport = HttpTransport::connect(&cli.server, &trust).map_err(|e| e.to_string())?;
    if let Ok(credential) = std::fs::read_to_string(credential_path(&cli.store)) {
        transport.set_credential(credential.trim());
    }
    let language = fieldsync_client_core::Language::from_tag(&cli.locale);
    let e = |e: fieldsync_client_core::Error| e.message(language);
    match &cli.command {
        Command::Enroll { code } => {
            let code = if code.trim().starts_with("fieldsync:") {
                let link = fieldsync_client_core::parse_enrollment_link(code).map_err(e)?;
                if link.user != *user {
                    return Err(format!(
                        "the link enrolls {}'s phone, not {user}'s: give --user {}",
                        link.user, link.user
                    ));
                }
                if link.server.trim_end_matches('/') != cli.server.trim_end_matches('/') {
                    return Err(format!(
                        "the link is for the server at {}: give --server {} (with every command)",
                        link.server, link.server
                    ));
                }
                link.code
            } else {
                code.clone()
            };
            let credential = transport.enroll(&store, &code).map_err(e)?;
            write_private(&credential_path(&cli.store), credential.as_bytes())
                .map_err(|e| format!("cannot keep the credential: {e}"))?;
            println!("enrolled device {} for {user}", store.identity().device_id);
        }
        Command::List => {
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
        Command::Show { job } => {
            let job = store.job(job).map_err(e)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&job).map_err(|e| e.to_string())?
            );
            println!("status: {}", job.status().as_str());
        }
        Command::Status => {
            let outbox = store.outbox_status().map_err(e)?;
            println!(
                "device {} for {}; cursor {}",
                store.identity().device_id,
                user,
                store.cursor().map_err(e)?
            );
            let oldest = outbox.oldest_created_at.map_or_else(
                || "none".to_owned(),
                |at| format!("{} s old", (now_millis() - at).max(0) / 1000),
            );
            println!(
                "outbox: {} waiting (oldest {oldest}), {} refused; media waiting: {}",
                outbox.depth,
                outbox.refusals,
                store.pending_media().map_err(e)?.len()
            );
            for refusal in store.refusals().map_err(e)? {
                println!(
                    "  refused {}: {} ({})",
                    refusal.job_id, refusal.reason, refusal.code
                );
            }
        }
        Command::Sync => {
            let report = transport.sync(&store).map_err(e)?;
            let stats = transport.stats();
            println!(
                "synced in {} round trip(s) ({} B up, {} B down): {} accepted, {} refused, {} updated, {} removed",
                report.round_trips,
                stats.bytes_sent,
                stats.bytes_received,
                report.accepted_jobs,
                report.refused_jobs,
                report.updated_jobs,
                report.purged_jobs
            );
            for reminder in &report.new_reminders {
                println!(
                    "reminder {}: {} (job {}, ring {})",
                    reminder.id, reminder.message, reminder.job_id, reminder.ring
                );
            }
        }
        Command::Customer { job } => match store.customer_card(job).map_err(e)? {
            Some(card) => println!(
                "{}",
                serde_json::to_string_pretty(&card).map_err(|e| e.to_string())?
            ),
            None => println!("no customer card for job {job} (as of the last sync)"),
        },
        Command::Reminders => {
            let reminders = store.reminders().map_err(e)?;
            if reminders.is_empty() {
                println!("no reminders (as of the last sync)");
            }
            for reminder in reminders {
                println!(
                    "{}  job {}  ring {}  {}  {}",
                    reminder.id, reminder.job_id, reminder.ring, reminder.rule, reminder.message
                );
            }
        }
        Command::AckReminder { id } => {
            store.acknowledge_reminder(*id).map_err(e)?;
            println!("reminder {id} acknowledged; the server hears it at the next sync");
        }
        Command::Watch => {
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
        Command::Start { job } => store.move_status(job, Status::EnRoute, None).map_err(e)?,
        Command::Arrive { job } => store.move_status(job, Status::OnSite, None).map_err(e)?,
        Command::Check { job, item, note } => {
            let update = ChecklistUpdate {
                done: Some(true),
                note: note.clone(),
                ..Default::default()
            };
            store.update_checklist_item(job, item, &update).map_err(e)?;
        }
        Command::Note { job, text } => store.append_note(job, &text.join(" ")).map_err(e)?,
        Command::Part {
            job,
            part_number,
            quantity,
        } => store
            .add_part(job, part_number, *quantity, true)
            .map_err(e)?,
        Command::Rate {
            job,
            score,
            comment,
        } => store
            .set_rating(job, *score, &comment.join(" "))
            .map_err(e)?,
        Command::AskHelp { job, reason } => {
            store.request_help(job, &reason.join(" ")).map_err(e)?
        }
        Command::Complete {
            job,
            summary: words,
        }
        | Command::Incomplete { job, reason: words } => {
            let completed = matches!(cli.command, Command::Complete { .. });
            let outcome = Outcome {
                first_visit_success: Some(completed),
                summary: words.join(" "),
                ..Outcome::default()
            };
            store.finish_visit(job, &outcome, completed).map_err(e)?;
        }
        Command::Photo { job, file, caption } => {
            let photo = store
                .attach_photo(job, &read_file(file)?, image_type(file), &caption.join(" "))
                .map_err(e)?;
            println!("photo {} ({} bytes)", photo.sha256, photo.size);
        }
        Command::Sign {
            job,
            image_file,
            signer,
        } => {
            let signature = store
                .sign(
                    job,
                    &read_file(image_file)?,
                    image_type(image_file),
                    &signer.join(" "),
                )
                .map_err(e)?;
            println!("signed; service report {}", signature.report_sha256);
        }
        Command::Report { job, out, signer } => {
            let signed = store
                .job(job)
                .map_err(e)?
                .signature
                .map(|signature| signature.report_sha256);
            let (pdf, what) = match signed {
                Some(sha256) => {
                    let held = store.blob(&sha256).map_err(e)?;
                    let pdf = held.ok_or("the signed report is no longer on the phone")?;
                    (pdf, "signed report")
                }
                None => (
                    store.preview_report(job, &signer.join(" ")).map_err(e)?,
                    "preview",
                ),
            };
            std::fs::write(out, &pdf)
                .map_err(|err| format!("cannot write {}: {err}", out.display()))?;
            println!("{what} written to {} ({} bytes)", out.display(), pdf.len());
        }
        Command::Upload => {
            let report = transport.upload_media(&store).map_err(e)?;
            println!(
                "uploaded {} file(s) ({} B); {} still waiting",
                report.uploaded,
                report.bytes_sent,
                store.pending_media().map_err(e)?.len()
            );
        }
        Command::Knowledge => {
            let applied = transport.sync_knowledge(&store).map_err(e)?;
            println!(
                "manuals updated: {}; {} cases; {} tip changes",
                applied.manuals.join(", "),
                applied.cases,
                applied.tip_changes
            );
        }
        Command::Search { query } => {
            for hit in store.search(&query.join(" "), 20).map_err(e)? {
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
        Command::Manual { model } => {
            let manual = store
                .manual(model)
                .map_err(e)?
                .ok_or_else(|| format!("no manual for {model} on this phone; run `knowledge`"))?;
            println!("{} (version {})", manual.title, manual.version);
            for section in manual.sections {
                println!("\n## {}\n{}", section.title, section.body);
            }
        }
        Command::Tip { model, text } => {
            let tip = store.add_tip(model, &text.join(" ")).map_err(e)?;
            println!("tip {} saved", tip.id);
        }
    }
    if cli.command.saves_offline() {
        println!("saved on the phone; run `sync` to send it");
    }
    Ok(())
}
