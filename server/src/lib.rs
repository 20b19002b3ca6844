//! The Fieldsync server: reconciles the CRDT changes phones send when they reconnect, decides
//! who may see and change what, runs the SLA clocks and the escalation ladder, and serves the
//! dispatch API and console.
//!
//! Four rooms, each using only the ones below it (ARCHITECTURE.md has the map):
//! - [`http`]: routers, extractors, handlers that only translate, the error mapping;
//! - [`state`]: what the running server shares ([`AppState`]) and the escalation scheduler;
//! - [`domain`]: what Fieldsync does, free of HTTP, with its own error type;
//! - [`storage`]: the storage traits by area, the SQLite backend, the conformance suite, and
//!   the blob store.
//!
//! This file assembles them: [`serve`] and [`BackgroundServer`], and sets the process up for
//! serving ([`limit_malloc_arenas`]).

pub mod domain;
pub mod http;
pub mod state;
pub mod storage;

use std::net::SocketAddr;
use std::sync::Arc;

pub use http::app;
pub use state::AppState;

/// Runs this program again in place with `MALLOC_ARENA_MAX=2`, unless its environment sets the
/// variable already (an operator's choice stands). Call it first in `main`, before any thread
/// starts.
///
/// glibc gives busy threads memory arenas of their own, up to eight per core, and the storage
/// workers keep theirs: with 100 phones online the server's peak RSS was 70 MB with sixteen
/// arenas (glibc's default on two cores) and 48 MB with two, at the same CPU per edit (README,
/// *A fleet online*). glibc reads the variable only as a program starts, so the program is
/// started again with the same arguments in the same process (`exec`: the process id and open
/// files stay). It is started again once at most: a mark in the environment says it was, since
/// glibc removes `MALLOC_ARENA_MAX` from a privileged program's environment (one given file
/// capabilities to bind port 443), where the setting has no effect anyway. Only on Linux with
/// glibc, and only when this process runs the program's own file (not through the dynamic
/// loader or a tool such as valgrind); otherwise, or when the program cannot be started again
/// (its file was replaced by an upgrade), it returns and the server runs with the allocator's
/// defaults.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        const ARENAS: &str = "MALLOC_ARENA_MAX";
        const STARTED_AGAIN: &str = "FIELDSYNC_STARTED_WITH_ARENAS";
        if std::env::var_os(ARENAS).is_some() || std::env::var_os(STARTED_AGAIN).is_some() {
            return;
        }
        let Ok(program) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let Some(name) = args.next() else {
            return;
        };
        // The file this process runs is the program it was started as (argv[0]), not a loader
        // or a tool running it.
        if std::path::Path::new(&name).file_name() != program.file_name() {
            return;
        }
        // `exec` returns only when it failed.
        let error = std::process::Command::new(program)
            .arg0(name)
            .args(args)
            .env(ARENAS, "2")
            .env(STARTED_AGAIN, "1")
            .exec();
        eprintln!("could not start again with {ARENAS}=2 ({error}); going on without");
    }
}

/// Serves `state` on `listener` (a `tokio::net::TcpListener` for HTTP, an
/// [`http::tls::TlsListener`] for HTTPS) until `shutdown` resolves, then ends the live event
/// streams and finishes in-flight requests. The escalation scheduler and the notification
/// outbox run alongside.
pub async fn serve<L>(
    listener: L,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    L: axum::serve::Listener,
    L::Addr: std::fmt::Debug,
    http::PeerAddr:
        for<'a> axum::extract::connect_info::Connected<axum::serve::IncomingStream<'a, L>>,
{
    let scheduler = tokio::spawn(state::scheduler::run(state.clone()));
    let outbox = tokio::spawn(state::outbox::run(state.clone()));
    let closing = state.closing.clone();
    let shutdown = async move {
        shutdown.await;
        // Event streams never end by themselves; a graceful shutdown would wait for them.
        closing.send_replace(true);
    };
    let app = app(state).into_make_service_with_connect_info::<http::PeerAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    scheduler.abort();
    outbox.abort();
    served
}

/// A server running on its own runtime thread: for tests, benchmarks and the device simulator.
/// Dropping it shuts the server down gracefully and waits for it.
pub struct BackgroundServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Its shared state.
    pub state: AppState,
    /// `https` when it serves TLS.
    scheme: &'static str,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for BackgroundServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackgroundServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl BackgroundServer {
    /// Starts a server over `storage` and the blobs under `blob_dir` on `addr` (use port 0
    /// for any free port).
    pub fn start(
        storage: Arc<dyn storage::Storage>,
        blob_dir: &std::path::Path,
        addr: &str,
    ) -> std::io::Result<Self> {
        let blobs = Arc::new(storage::blobs::FsBlobStore::open(blob_dir)?);
        Self::start_with(AppState::new(storage, blobs), addr)
    }

    /// Starts a server with the given state on `addr`.
    pub fn start_with(state: AppState, addr: &str) -> std::io::Result<Self> {
        Self::start_inner(state, addr, None)
    }

    /// Starts a server with the given state on `addr`, serving HTTPS with `certificate`.
    pub fn start_tls(
        state: AppState,
        addr: &str,
        certificate: &Arc<http::tls::ServerCertificate>,
    ) -> std::io::Result<Self> {
        Self::start_inner(state, addr, Some(certificate.clone()))
    }

    fn start_inner(
        state: AppState,
        addr: &str,
        certificate: Option<Arc<http::tls::ServerCertificate>>,
    ) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let listener = runtime.block_on(tokio::net::TcpListener::bind(addr))?;
        let addr = listener.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let serve_state = state.clone();
        let shutdown = async move {
            let _ = rx.await;
        };
        let scheme = if certificate.is_some() {
            "https"
        } else {
            "http"
        };
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                match certificate {
                    Some(certificate) => {
                        let listener = http::tls::TlsListener::new(listener, &certificate)?;
                        serve(listener, serve_state, shutdown).await
                    }
                    None => serve(listener, serve_state, shutdown).await,
                }
            })
        });
        Ok(BackgroundServer {
            addr,
            state,
            scheme,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// The base URL, e.g. `http://127.0.0.1:40123` (`https://localhost:40123` with TLS, so
    /// the name matches a certificate for `localhost`).
    pub fn url(&self) -> String {
        match self.scheme {
            "https" => format!("https://localhost:{}", self.addr.port()),
            _ => format!("http://{}", self.addr),
        }
    }

    /// Stops the server and waits until it has finished.
    pub fn stop(mut self) {
        self.shutdown_and_join();
    }

    fn shutdown_and_join(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take()
            && let Ok(Err(e)) = thread.join()
        {
            tracing::warn!(error = %e, "server stopped with an error");
        }
    }
}

impl Drop for BackgroundServer {
    fn drop(&mut self) {
        self.shutdown_and_join();
    }
}
