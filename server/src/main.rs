//! `fieldsync`: runs the server and its dispatch console, prints an enrollment code, or moves an
//! installation from SQLite to PostgreSQL. (An installer's phone on the command line is the
//! separate `fieldsync-device`.)

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use fieldsync_protocol::now_millis;
use fieldsync_server::domain::sla::SlaPolicy;
use fieldsync_server::domain::travel::{DEFAULT_TRAVEL_KMH, TravelSpeed};
use fieldsync_server::domain::{Language, auth, customers, demo, dispatch, escalation, knowledge};
use fieldsync_server::http::tls::{ServerCertificate, TlsListener};
use fieldsync_server::state::MapTiles;
use fieldsync_server::state::outbox::{Outbox, OutboxSettings};
use fieldsync_server::storage::Storage;
use fieldsync_server::storage::blobs::{self, BlobLocation, FsBlobStore};
use fieldsync_server::storage::postgres::{self, PostgresStorage};
use fieldsync_server::storage::sqlite::SqliteStorage;
use fieldsync_server::{AppState, serve};

/// Fieldsync: the sync and dispatch server for offline-first field service.
#[derive(Debug, Parser)]
#[command(name = "fieldsync", version)]
struct Cli {
    /// How log lines are written: `text` for people, `json` (one object per line) for a log
    /// collector. `RUST_LOG` filters them (default `info`).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the request span's fields (`request_id`, …).
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the server and its dispatch console on an embedded SQLite file, or on PostgreSQL
    /// with --database.
    ///
    /// On a database without an admin it creates the user `admin` with the password in
    /// FIELDSYNC_ADMIN_PASSWORD, or prints a generated one once; FIELDSYNC_ADMIN_PASSWORD also
    /// resets the admin's password on an existing database.
    Serve(Box<ServeArgs>),
    /// Prints a one-time enrollment code for USER's phone (also: POST /v1/enrollments).
    EnrollCode {
        #[command(flatten)]
        database: DatabaseArgs,
        /// The installer whose phone is enrolled.
        #[arg(long)]
        user: String,
    },
    /// Moves an installation from its SQLite file into an empty PostgreSQL database, and its
    /// media from a folder into object storage, so that several nodes can serve it.
    ///
    /// The database move copies every table with every id (history, cursors, credentials, the
    /// server id), so phones keep syncing without re-enrolling; both databases are compared
    /// afterwards. The media move copies every blob, each verified by its hash, and skips those
    /// already there, so it can be run again. Give either pair or both; stop the server first.
    #[command(group = clap::ArgGroup::new("what").required(true).multiple(true).args(["from", "blobs_from"]))]
    Migrate {
        /// The SQLite database, as `sqlite:PATH` (the server's --db file).
        #[arg(long, value_name = "sqlite:PATH", requires = "to")]
        from: Option<String>,
        /// The PostgreSQL database, as a `postgres://` URL (as --database takes it).
        #[arg(long, value_name = "URL", requires = "from")]
        to: Option<String>,
        /// The blob folder (the server's --blobs, by default the SQLite file's path with
        /// `.blobs` appended).
        #[arg(long, value_name = "DIR", requires = "blobs_to")]
        blobs_from: Option<PathBuf>,
        /// Where the blobs go, as --blobs takes it: s3://BUCKET/PREFIX, with the AWS_*
        /// variables as for serve.
        #[arg(long, value_name = "s3://BUCKET/PREFIX", requires = "blobs_from", value_parser = BlobLocation::parse)]
        blobs_to: Option<BlobLocation>,
    },
}

/// Where the server's data is: an SQLite file, or a PostgreSQL database.
#[derive(Debug, clap::Args)]
struct DatabaseArgs {
    /// The SQLite database file (created on first start).
    #[arg(long, value_name = "PATH", default_value = "fieldsync.sqlite3")]
    db: PathBuf,
    /// A PostgreSQL database instead of the SQLite file, as a connection URL
    /// (postgres://USER:PASSWORD@HOST:PORT/DATABASE; `?options=-csearch_path%3DSCHEMA` picks a
    /// schema). Several server nodes may share it. The database must exist; its tables are
    /// created and migrated on start.
    #[arg(
        long,
        value_name = "URL",
        env = "FIELDSYNC_DATABASE_URL",
        conflicts_with = "db"
    )]
    database: Option<String>,
}

impl DatabaseArgs {
    /// Opens the storage these arguments name.
    fn open(&self) -> Result<Arc<dyn Storage>, String> {
        match &self.database {
            Some(url) => Ok(Arc::new(PostgresStorage::connect(url).map_err(|e| {
                format!(
                    "cannot open the PostgreSQL database at {}: {e}",
                    redacted(url)
                )
            })?)),
            None => {
                Ok(Arc::new(SqliteStorage::open(&self.db).map_err(|e| {
                    format!("cannot open {}: {e}", self.db.display())
                })?))
            }
        }
    }

    /// What to call the database in messages (never its password).
    fn describe(&self) -> String {
        match &self.database {
            Some(url) => redacted(url),
            None => self.db.display().to_string(),
        }
    }
}

/// A connection string without its password, for messages and logs: the URL form's
/// `user:password@` and the key=value form's `password=…`.
fn redacted(url: &str) -> String {
    if !url.contains("://") {
        return url
            .split_whitespace()
            .map(|pair| match pair.split_once('=') {
                Some(("password", _)) => "password=***",
                _ => pair,
            })
            .collect::<Vec<_>>()
            .join(" ");
    }
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.find(':') {
                Some(colon) => format!("{}:***{}", &url[..scheme + 3 + colon], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Reads `--travel-kmh`: a number within the speeds [`TravelSpeed`] takes.
fn travel_speed(value: &str) -> Result<f64, String> {
    let kmh: f64 = value
        .trim()
        .parse()
        .map_err(|_| format!("`{value}` is not a number of km/h"))?;
    TravelSpeed::new(kmh).map(TravelSpeed::kmh)
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    database: DatabaseArgs,
    /// Where photos, signatures, reports and manual attachments are kept: a folder, or
    /// s3://BUCKET/PREFIX for S3-compatible object storage, configured by the usual AWS_*
    /// variables (AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)
    /// [default: the SQLite file's path with `.blobs` appended; needed with --database].
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX", value_parser = BlobLocation::parse)]
    blobs: Option<BlobLocation>,
    /// The address to listen on.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    addr: String,
    /// The SLA targets per tier and kind, as JSON (GET /v1/config/sla shows the format, with
    /// the defaults).
    #[arg(long, value_name = "FILE")]
    sla: Option<PathBuf>,
    /// Fills an empty database with a month of demo work: installers, a dispatcher, customers
    /// of both tiers, complaints, escalations, follow-ups and today's jobs.
    #[arg(long)]
    demo: bool,
    /// The demo organisation's language: `en`, or `zh-CN` for a Chinese organisation (people,
    /// customers and addresses in Shanghai, Guangzhou and Beijing, notes, checklists and
    /// manuals in Chinese; the time zone defaults to Asia/Shanghai).
    #[arg(long, value_name = "LOCALE", default_value = "en", requires = "demo")]
    demo_locale: String,
    /// Serves HTTPS with this certificate chain (PEM, leaf first); needs --tls-key. The files
    /// are read again on SIGHUP, so a renewed certificate needs no restart.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM); needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// An address (IP) that may read /metrics without a credential, e.g. the Prometheus
    /// server's. Repeat for several. Admins may always read it.
    #[arg(long, value_name = "IP")]
    metrics_from: Vec<std::net::IpAddr>,
    /// A reverse proxy in front of the server whose `X-Forwarded-For` names the client (for the
    /// per-address sign-in limits and --metrics-from). Repeat for several. Without it the
    /// header is ignored.
    #[arg(long, value_name = "IP")]
    trusted_proxy: Vec<std::net::IpAddr>,
    /// The offline lease: a phone that has not synced for this many days locks its store
    /// until it reconnects.
    #[arg(long, value_name = "DAYS", default_value_t = 14, value_parser = clap::value_parser!(u64).range(1..=3650))]
    lease_lock_days: u64,
    /// A phone that has not synced for this many days also deletes what the server already
    /// holds (never unsent work). At least --lease-lock-days.
    #[arg(long, value_name = "DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
    lease_wipe_days: u64,
    /// A closed job nobody has changed for this many days leaves its installer's phone (once
    /// everything captured on the phone is on the server); reopening it brings it back.
    #[arg(long, value_name = "DAYS", default_value_t = 7, value_parser = clap::value_parser!(i64).range(1..=3650))]
    keep_closed_days: i64,
    /// The organisation's time zone (an IANA name such as Asia/Shanghai): the day board and the
    /// KPIs count its days, and phones print the times of service reports in it
    /// [default: UTC, or Asia/Shanghai for the language zh-CN].
    #[arg(long, value_name = "IANA NAME", env = "FIELDSYNC_TIME_ZONE")]
    time_zone: Option<String>,
    /// How fast engineers get from one site to the next, in km/h along a straight line: a
    /// visit booked with less time than that from the visit before it or to the one after it
    /// is refused unless dispatch gives a reason (between 1 and 200).
    #[arg(long, value_name = "KM/H", default_value_t = DEFAULT_TRAVEL_KMH, value_parser = travel_speed)]
    travel_kmh: f64,
    /// A map tile server the console draws today's map on, with {z}, {x} and {y} in the
    /// address (e.g. https://tile.openstreetmap.org/{z}/{x}/{y}.png; respect its usage
    /// policy) [default: none: the map draws its points on a plain background].
    #[arg(long, value_name = "URL", env = "FIELDSYNC_MAP_TILES", value_parser = MapTiles::parse)]
    map_tiles: Option<MapTiles>,
    /// The organisation's working language, `en` or `zh-CN`: new jobs get their checklist
    /// in it [default: en, or the demo's language with --demo-locale].
    #[arg(long, value_name = "LANGUAGE", env = "FIELDSYNC_LANGUAGE")]
    language: Option<String>,
    /// The country whose numbering plan customers' phone numbers follow (ISO 3166 code, e.g.
    /// CN): intake refuses a number that is not one of its numbers (or, with `+`, another
    /// country's); `none` checks only the shape of a number [default: CN with the language
    /// zh-CN, otherwise none].
    #[arg(long, value_name = "COUNTRY", env = "FIELDSYNC_PHONE_REGION")]
    phone_region: Option<String>,
    /// The server's address as customers and phones reach it, for the links in notifications
    /// and the phones' enrollment links (e.g. https://service.example.com); needed with --smtp
    /// or --webhook [default: the address it listens on, for the log; the address the office
    /// reached the server at, for enrollment links].
    #[arg(long, value_name = "URL", env = "FIELDSYNC_PUBLIC_URL")]
    public_url: Option<String>,
    /// Notifies customers by e-mail through this SMTP server: smtp://HOST:PORT (add
    /// ?tls=required for STARTTLS) or smtps://HOST:PORT, with USER:PASSWORD@ before the host
    /// when it asks for them; needs --mail-from.
    #[arg(
        long,
        value_name = "URL",
        env = "FIELDSYNC_SMTP",
        requires = "mail_from"
    )]
    smtp: Option<String>,
    /// The sender of the e-mails, e.g. "Service <service@example.com>".
    #[arg(
        long,
        value_name = "ADDRESS",
        env = "FIELDSYNC_MAIL_FROM",
        requires = "smtp"
    )]
    mail_from: Option<String>,
    /// Notifies customers through the organisation's gateway (SMS, WeChat): each notification
    /// is POSTed to this URL as signed JSON (docs/notifications.md); needs
    /// --webhook-secret-file.
    #[arg(
        long,
        value_name = "URL",
        env = "FIELDSYNC_WEBHOOK",
        requires = "webhook_secret_file"
    )]
    webhook: Option<String>,
    /// A file holding the secret the webhook's requests are signed with (at least 16
    /// characters).
    #[arg(long, value_name = "FILE", requires = "webhook")]
    webhook_secret_file: Option<PathBuf>,
    /// Also writes every notification to the log (it always does when neither --smtp nor
    /// --webhook is given).
    #[arg(long)]
    notify_log: bool,
}

fn main() -> ExitCode {
    fieldsync_server::limit_malloc_arenas();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,rustls=warn".into());
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr());
    match cli.log_format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(colour)
            .with_env_filter(filter)
            .init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_writer(std::io::stderr)
            .with_env_filter(filter)
            .init(),
    }
    let result = match cli.command {
        Command::Serve(args) => run_server(*args),
        Command::EnrollCode { database, user } => run_enroll_code(&database, &user),
        Command::Migrate {
            from,
            to,
            blobs_from,
            blobs_to,
        } => {
            let database = match (from, to) {
                (Some(from), Some(to)) => run_migrate(&from, &to),
                _ => Ok(()),
            };
            database.and_then(|()| match (blobs_from, blobs_to) {
                (Some(from), Some(to)) => run_migrate_blobs(&from, &to),
                _ => Ok(()),
            })
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_server(args: ServeArgs) -> Result<(), String> {
    if args.lease_wipe_days < args.lease_lock_days {
        return Err(format!(
            "--lease-wipe-days ({}) must be at least --lease-lock-days ({})",
            args.lease_wipe_days, args.lease_lock_days
        ));
    }
    const DAY_MS: u64 = 24 * 60 * 60 * 1000;
    let demo_locale = Language::parse(&args.demo_locale)?;
    let language = match &args.language {
        Some(tag) => Language::parse(tag)?,
        None => demo_locale,
    };
    let zone_name = match (&args.time_zone, language) {
        (Some(name), _) => name.as_str(),
        (None, Language::Chinese) => "Asia/Shanghai",
        (None, Language::English) => "UTC",
    };
    let time_zone = fieldsync_server::state::OrganisationZone::named(zone_name)?;
    let phone_region = match &args.phone_region {
        Some(code) => dispatch::phone_region(code)?,
        None => dispatch::default_phone_region(language),
    };
    let lease = fieldsync_protocol::wire::Lease {
        lock_after_ms: args.lease_lock_days * DAY_MS,
        wipe_after_ms: args.lease_wipe_days * DAY_MS,
    };
    let sla = match &args.sla {
        Some(path) => SlaPolicy::from_file(path).map_err(|e| e.to_string())?,
        None => SlaPolicy::default(),
    };
    let blob_location = match (&args.blobs, &args.database.database) {
        (Some(location), _) => location.clone(),
        (None, None) => {
            let mut dir = args.database.db.clone().into_os_string();
            dir.push(".blobs");
            BlobLocation::Folder(dir.into())
        }
        (None, Some(_)) => {
            return Err(
                "--database needs --blobs: where media is kept, s3://BUCKET/PREFIX \
                 or a folder (every node of a deployment must use the same)"
                    .into(),
            );
        }
    };
    // Notification settings are checked before the database is touched: a mistake there must
    // not leave a half-started installation behind (a created admin whose password scrolled by).
    if args.public_url.is_none() && (args.smtp.is_some() || args.webhook.is_some()) {
        return Err(
            "--smtp and --webhook send customers links: give --public-url, the address \
             customers reach this server at (e.g. https://service.example.com)"
                .into(),
        );
    }
    let webhook_secret = match &args.webhook_secret_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            format!(
                "cannot read the webhook secret from {}: {e}",
                path.display()
            )
        })?),
        None => None,
    };
    let outbox_settings = OutboxSettings {
        smtp: args.smtp.clone(),
        mail_from: args.mail_from.clone(),
        webhook: args.webhook.clone(),
        webhook_secret,
        log: args.notify_log,
        // Without one the links point at the address the server listens on, known once it
        // listens; any address checks the rest now.
        public_url: args
            .public_url
            .clone()
            .unwrap_or_else(|| "http://localhost".into()),
    };
    Outbox::configure(outbox_settings.clone())?;
    let shared = args.database.open()?;
    let storage = shared.as_ref();
    let blobs = blob_location.open()?;
    let now = now_millis();
    escalation::backfill_facts(storage, now).map_err(|e| e.to_string())?;
    knowledge::backfill(storage).map_err(|e| e.to_string())?;
    customers::backfill_history(storage).map_err(|e| e.to_string())?;
    let admin_password = std::env::var("FIELDSYNC_ADMIN_PASSWORD").ok();
    if let Some(generated) =
        auth::ensure_admin(storage, admin_password.as_deref()).map_err(|e| e.to_string())?
    {
        println!("created user `admin` with password {generated} (shown once)");
    }
    if args.demo {
        seed_demo(storage, &sla, now, demo_locale)?;
    }
    let certificate = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(ServerCertificate::load(cert, key).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    // The banner's examples name people this database has.
    let users = dispatch::Dispatch::new(storage, "admin")
        .users()
        .unwrap_or_default();
    let first_with = |role: &str| users.iter().find(|u| u.role == role).map(|u| u.id.clone());
    let office_user = first_with("dispatcher").unwrap_or_else(|| "admin".into());
    let installer = first_with("installer");
    runtime.block_on(async {
        let addr = &args.addr;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let scheme = if certificate.is_some() {
            "https"
        } else {
            "http"
        };
        let url = format!(
            "{scheme}://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let db = args.database.describe();
        let store = match &args.database.database {
            Some(_) => format!("--database {db}"),
            None => format!("--db {db}"),
        };
        // With TLS, the name the certificate is for (localhost on this machine).
        let url = if scheme == "https" {
            url.replace("://127.0.0.1", "://localhost")
        } else {
            url
        };
        let outbox = Outbox::configure(OutboxSettings {
            public_url: args.public_url.clone().unwrap_or_else(|| url.clone()),
            ..outbox_settings
        })?;
        let channels: Vec<&str> = outbox.channels().iter().map(|c| c.as_str()).collect();
        let zone = time_zone.name();
        let tag = language.tag();
        let told = channels.join(", ");
        println!(
            "Fieldsync server on {url} (database {db}, time zone {zone}, language {tag}, notifications by {told})"
        );
        tracing::info!(%url, "serving");
        println!(
            "  sign in:  curl -d '{{\"user\":\"{office_user}\",\"password\":\"…\"}}' {url}/v1/auth/login"
        );
        match &installer {
            Some(installer) => println!(
                "  a phone:  fieldsync enroll-code {store} --user {installer}, then \
                 fieldsync-device --store {installer}.sqlite3 --user {installer} --server {url} \
                 enroll CODE"
            ),
            None => println!(
                "  a phone:  create an installer first (POST /v1/users, as admin), then \
                 fieldsync enroll-code {store} --user ID"
            ),
        }
        println!("  console:  {url}/ (API description at {url}/v1/openapi.json)");
        let state = AppState {
            outbox: Arc::new(outbox),
            sla: Arc::new(sla),
            metrics_from: args.metrics_from.clone().into(),
            trusted_proxies: args.trusted_proxy.clone().into(),
            lease,
            keep_closed: args.keep_closed_days * DAY_MS as i64,
            time_zone: Arc::new(time_zone),
            language,
            phone_region,
            public_url: args
                .public_url
                .as_deref()
                .map(|url| url.trim().trim_end_matches('/').to_owned()),
            travel: TravelSpeed::new(args.travel_kmh)?,
            map_tiles: args.map_tiles.clone().map(Arc::new),
            ..AppState::new(shared, blobs)
        };
        let served = match certificate {
            Some(certificate) => {
                #[cfg(unix)]
                {
                    // Registered before anything else runs: an early SIGHUP must not kill us.
                    let hangups =
                        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
                            .map_err(|e| format!("cannot listen for SIGHUP: {e}"))?;
                    tokio::spawn(reload_on_hangup(certificate.clone(), hangups));
                }
                let listener =
                    TlsListener::new(listener, &certificate).map_err(|e| e.to_string())?;
                serve(listener, state, shutdown_signal()).await
            }
            None => serve(listener, state, shutdown_signal()).await,
        };
        served.map_err(|e| e.to_string())
    })
}

fn seed_demo(
    storage: &dyn Storage,
    sla: &SlaPolicy,
    now: i64,
    locale: Language,
) -> Result<(), String> {
    let created = demo::seed(storage, sla, now, locale).map_err(|e| e.to_string())?;
    if created > 0 {
        let engineers: Vec<&str> = demo::engineers(locale).iter().map(|i| i.0).collect();
        println!(
            "demo data: a month of work, {created} jobs for installers {}",
            engineers.join(", ")
        );
        println!(
            "  dispatch signs in as `{}` with password `{}`",
            demo::DISPATCHER,
            demo::DISPATCHER_PASSWORD
        );
        for (user, _, role, password) in demo::office(locale) {
            println!("  {role}: `{user}` with password `{password}`");
        }
    }
    Ok(())
}

/// Reads the certificate files again at every SIGHUP (after a renewal); a broken file keeps
/// the certificate in use and says why.
#[cfg(unix)]
async fn reload_on_hangup(
    certificate: Arc<ServerCertificate>,
    mut hangups: tokio::signal::unix::Signal,
) {
    while hangups.recv().await.is_some() {
        match certificate.reload() {
            Ok(()) => tracing::info!("TLS certificate reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "TLS certificate not reloaded; the old one stays")
            }
        }
    }
}

/// Resolves at Ctrl-C or, on Unix, SIGTERM (what systemd and container orchestrators send).
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down");
}

fn run_enroll_code(database: &DatabaseArgs, user: &str) -> Result<(), String> {
    if database.database.is_none() && !database.db.exists() {
        return Err(format!(
            "there is no database at {} (give the server's with --db, or --database)",
            database.db.display()
        ));
    }
    let storage = database.open()?;
    let issued = auth::issue_enrollment_code(storage.as_ref(), "command line", user, now_millis())
        .map_err(|e| e.to_string())?;
    println!("{}", issued.code);
    Ok(())
}

fn run_migrate(from: &str, to: &str) -> Result<(), String> {
    let path = from.strip_prefix("sqlite:").ok_or_else(|| {
        format!("--from takes sqlite:PATH (the server's --db file), not `{from}`")
    })?;
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        return Err(format!(
            "--to takes a postgres:// URL, not `{}`",
            redacted(to)
        ));
    }
    let imported = postgres::import_sqlite(std::path::Path::new(path), to)
        .map_err(|e| format!("cannot move {path} into {}: {e}", redacted(to)))?;
    for (table, rows) in &imported.tables {
        let noun = if *rows == 1 { "row" } else { "rows" };
        println!("{table:>20}  {rows} {noun}");
    }
    println!(
        "moved {path} into {}; both hold the same rows in every table",
        redacted(to)
    );
    println!(
        "start the server with --database and --blobs: the same blob folder ({path}.blobs unless \
         it had another --blobs), or the bucket --blobs-from/--blobs-to moved it into"
    );
    Ok(())
}

fn run_migrate_blobs(from: &std::path::Path, to: &BlobLocation) -> Result<(), String> {
    if !from.is_dir() {
        return Err(format!("--blobs-from {} is not a folder", from.display()));
    }
    let source =
        FsBlobStore::open(from).map_err(|e| format!("cannot open {}: {e}", from.display()))?;
    let target = to.open()?;
    let copied = blobs::copy_folder(&source, target.as_ref()).map_err(|e| {
        format!(
            "cannot copy {} into {to}: {}",
            from.display(),
            fieldsync_server::storage::with_causes(&e)
        )
    })?;
    println!(
        "copied {} blobs ({} bytes) from {} into {to}, each verified by its hash; {} were there \
         already",
        copied.copied,
        copied.bytes,
        from.display(),
        copied.present
    );
    Ok(())
}
