//! HTTPS served by the server itself (`serve --tls-cert FILE --tls-key FILE`): rustls behind
//! axum, with the certificate reloaded from its files without a restart (SIGHUP), so a renewed
//! certificate takes effect for new connections while open ones carry on.
//!
//! Handshakes run in tasks of their own, so a client that stalls mid-handshake holds up nobody;
//! a failed handshake is logged and dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable certificate or key.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server's certificate and key, read from PEM files and replaceable while serving.
#[derive(Debug)]
pub struct ServerCertificate {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ServerCertificate {
    /// Reads the certificate chain (`cert_file`, PEM, leaf first) and its private key
    /// (`key_file`, PEM: PKCS#8, PKCS#1 or SEC1).
    pub fn load(cert_file: &Path, key_file: &Path) -> Result<Arc<Self>, TlsError> {
        let key = read(cert_file, key_file)?;
        Ok(Arc::new(ServerCertificate {
            cert_file: cert_file.to_owned(),
            key_file: key_file.to_owned(),
            current: RwLock::new(Arc::new(key)),
        }))
    }

    /// Reads the files again; new connections get the new certificate. A broken file leaves
    /// the current certificate in place.
    pub fn reload(&self) -> Result<(), TlsError> {
        let key = read(&self.cert_file, &self.key_file)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
        Ok(())
    }

    /// The rustls configuration that serves this certificate (HTTP/1.1).
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, rustls::Error> {
        // ring, as on the phone: one crypto implementation across the product.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

fn read(cert_file: &Path, key_file: &Path) -> Result<CertifiedKey, TlsError> {
    let invalid = |path: &Path, reason: String| TlsError::Invalid {
        path: path.to_owned(),
        reason,
    };
    let bytes = |path: &Path| {
        std::fs::read(path).map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })
    };
    let chain = CertificateDer::pem_slice_iter(&bytes(cert_file)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(cert_file, format!("not a PEM certificate chain: {e}")))?;
    if chain.is_empty() {
        return Err(invalid(cert_file, "holds no certificate".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&bytes(key_file)?)
        .map_err(|e| invalid(key_file, format!("not a PEM private key: {e}")))?;
    #[allow(deprecated)]
    let provider = rustls::crypto::ring::default_provider();
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| invalid(key_file, format!("unusable private key: {e}")))?;
    let certified = CertifiedKey::new(chain, signing_key);
    certified
        .keys_match()
        .map_err(|e| invalid(key_file, format!("does not match the certificate: {e}")))?;
    Ok(certified)
}

/// A listener that accepts TCP connections and completes their TLS handshakes, for
/// `axum::serve`.
#[derive(Debug)]
pub struct TlsListener {
    local: SocketAddr,
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    /// Serves `certificate` on `tcp`.
    pub fn new(tcp: TcpListener, certificate: &Arc<ServerCertificate>) -> std::io::Result<Self> {
        let local = tcp.local_addr()?;
        let acceptor =
            TlsAcceptor::from(certificate.server_config().map_err(std::io::Error::other)?);
        let (ready_tx, ready) = mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                // Stops as soon as the listener is gone (the server shuts down).
                let accepted = tokio::select! {
                    accepted = tcp.accept() => accepted,
                    () = ready_tx.closed() => return,
                };
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Out of file descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let (acceptor, ready) = (acceptor.clone(), ready_tx.clone());
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = ready.send((tls, peer)).await;
                        }
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener { local, ready })
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(connection) => connection,
            // The accepting task only ends when this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
