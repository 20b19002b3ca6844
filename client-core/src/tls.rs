//! Which servers the phone talks to, and how it trusts them.
//!
//! A server address is `https://` (TLS with rustls, certificates verified against the bundled
//! Mozilla roots plus any roots the organisation adds, and optionally pinned to known public
//! keys) or `http://` only to a loopback address (an emulator talking to a server on the same
//! machine), unless the app opts in to plain HTTP explicitly. The TLS connector plugs into ureq's
//! connector chain, so that pinning can check the certificate chain the server presented
//! during the handshake, before any request byte is sent.

use std::net::IpAddr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::error::{Error, Result};

/// How the phone decides to trust a server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerTrust {
    /// Allows `http://` to addresses other than loopback. Credentials and customer data then
    /// cross the network in clear text: only for a closed network the organisation controls.
    pub allow_insecure_http: bool,
    /// SHA-256 hashes of the DER `SubjectPublicKeyInfo` of keys the server's chain must contain,
    /// base64 (the format of `openssl x509 -pubkey | openssl pkey -pubin -outform der |
    /// openssl dgst -sha256 -binary | base64`). Empty: no pinning, the roots decide.
    pub pinned_spki_sha256: Vec<String>,
    /// Root certificates (DER) trusted besides the bundled Mozilla roots: an organisation's own
    /// certificate authority.
    pub extra_roots_der: Vec<Vec<u8>>,
}

/// The checked scheme of a server address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Https,
    Http,
}

/// Checks a server address against the trust policy: `https://`, or `http://` to loopback (or
/// anywhere with `allow_insecure_http`). Names the problem otherwise.
pub(crate) fn check_server_url(url: &str, trust: &ServerTrust) -> Result<Scheme> {
    let refuse = |why: String| Err(Error::BadServerUrl(format!("`{url}`: {why}")));
    let (scheme, rest) = match url.split_once("://") {
        Some(("https", rest)) => (Scheme::Https, rest),
        Some(("http", rest)) => (Scheme::Http, rest),
        _ => {
            return refuse(
                "the address must start with https:// (or http:// for a server on this device)"
                    .into(),
            );
        }
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return refuse("a server address carries no user name or password".into());
    }
    let host = match authority.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host),
    };
    if host.is_empty() {
        return refuse("it names no host".into());
    }
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if scheme == Scheme::Http && !loopback && !trust.allow_insecure_http {
        return refuse(format!(
            "plain http:// is allowed only to this device ({host} is not loopback); use https://, \
             or opt in to insecure HTTP for a closed network"
        ));
    }
    for pin in &trust.pinned_spki_sha256 {
        if !BASE64.decode(pin).is_ok_and(|hash| hash.len() == 32) {
            return Err(Error::BadServerUrl(format!(
                "the pin `{pin}` is not a base64 SHA-256 hash (44 characters)"
            )));
        }
    }
    Ok(scheme)
}

#[cfg(feature = "tls")]
pub(crate) use with_tls::{TlsConnector, Untrusted, agent_config_connector};

#[cfg(feature = "tls")]
mod with_tls {
    use std::fmt;
    use std::io::{Read, Write};
    use std::sync::Arc;

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::{
        ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned,
    };
    use sha2::{Digest, Sha256};
    use ureq::unversioned::transport::{
        Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
        TransportAdapter,
    };

    use super::ServerTrust;
    use crate::error::{Error, Result};

    /// Why a server was not trusted: carried inside the I/O error ureq reports, so the
    /// transport can tell it from the network being down.
    #[derive(Debug)]
    pub(crate) struct Untrusted(pub String);

    impl fmt::Display for Untrusted {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl std::error::Error for Untrusted {}

    /// The rustls configuration for `trust`: the bundled roots and the organisation's, and the
    /// pins on top of the ordinary verification.
    pub(crate) fn agent_config_connector(trust: &ServerTrust) -> Result<TlsConnector> {
        // ring rather than aws-lc-rs: it builds for Android and iOS with the platform's C
        // toolchain alone (aws-lc-rs also needs CMake and NASM). rustls deprecates it only for
        // lacking post-quantum key exchange; the classic TLS 1.3 and 1.2 suites are supported.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut roots = RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        for der in &trust.extra_roots_der {
            roots
                .add(CertificateDer::from(der.clone()))
                .map_err(|e| Error::BadServerUrl(format!("a trusted root is unusable: {e}")))?;
        }
        let roots = Arc::new(roots);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
            .build()
            .map_err(|e| Error::BadServerUrl(format!("the trusted roots are unusable: {e}")))?;
        let pins = trust
            .pinned_spki_sha256
            .iter()
            .filter_map(|pin| BASE64.decode(pin).ok())
            .collect();
        let verifier = Arc::new(PinningVerifier {
            webpki,
            roots,
            algorithms: provider.signature_verification_algorithms,
            pins,
        });
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::BadServerUrl(format!("TLS: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(TlsConnector {
            config: Arc::new(config),
        })
    }

    /// The ordinary web PKI verification (chain to a trusted root, name, validity), then, when
    /// pins are set, a certificate of the verified path (the server's own, an intermediate that
    /// signed it, or the root) must carry a pinned key. Certificates the server sent beyond that
    /// path do not count: anyone can append the genuine server's public certificate to a chain.
    #[derive(Debug)]
    struct PinningVerifier {
        webpki: Arc<WebPkiServerVerifier>,
        roots: Arc<RootCertStore>,
        algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
        pins: Vec<Vec<u8>>,
    }

    impl PinningVerifier {
        /// Whether a path from `end_entity` to a trusted root carries a pinned key.
        fn path_is_pinned(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            now: UnixTime,
        ) -> bool {
            let Ok(cert) = webpki::EndEntityCert::try_from(end_entity) else {
                return false;
            };
            let pinned = |spki: &[u8]| {
                let hash = Sha256::digest(spki);
                self.pins
                    .iter()
                    .any(|pin| pin.as_slice() == hash.as_slice())
            };
            let check = |path: &webpki::VerifiedPath<'_>| {
                let found = pinned(path.end_entity().subject_public_key_info().as_ref())
                    || path
                        .intermediate_certificates()
                        .any(|c| pinned(c.subject_public_key_info().as_ref()))
                    || pinned(webpki::spki_for_anchor(path.anchor()).as_ref());
                // A path without a pin is not the one: the search goes on to another.
                if found {
                    Ok(())
                } else {
                    Err(webpki::Error::UnknownIssuer)
                }
            };
            cert.verify_for_usage(
                self.algorithms.all,
                &self.roots.roots,
                intermediates,
                now,
                webpki::KeyUsage::server_auth(),
                None,
                Some(&check),
            )
            .is_ok()
        }
    }

    impl ServerCertVerifier for PinningVerifier {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            server_name: &ServerName<'_>,
            ocsp_response: &[u8],
            now: UnixTime,
        ) -> std::result::Result<ServerCertVerified, rustls::Error> {
            let verified = self.webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            )?;
            if self.pins.is_empty() || self.path_is_pinned(end_entity, intermediates, now) {
                Ok(verified)
            } else {
                Err(rustls::Error::InvalidCertificate(
                    rustls::CertificateError::ApplicationVerificationFailure,
                ))
            }
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
            self.webpki.verify_tls12_signature(message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
            self.webpki.verify_tls13_signature(message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.webpki.supported_verify_schemes()
        }
    }

    /// Wraps an `https://` connection in TLS with the phone's trust configuration (in ureq's
    /// connector chain, after the TCP connector).
    #[derive(Debug, Clone)]
    pub(crate) struct TlsConnector {
        config: Arc<ClientConfig>,
    }

    /// What the user is told about a refused certificate.
    fn untrusted(e: &rustls::Error) -> Untrusted {
        use rustls::CertificateError as C;
        let why = match e {
            rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
                "its certificate has expired".to_owned()
            }
            rustls::Error::InvalidCertificate(C::NotValidYet | C::NotValidYetContext { .. }) => {
                "its certificate is not valid yet (is the phone's clock right?)".to_owned()
            }
            rustls::Error::InvalidCertificate(
                C::NotValidForName | C::NotValidForNameContext { .. },
            ) => "its certificate is for another name".to_owned(),
            rustls::Error::InvalidCertificate(C::UnknownIssuer) => {
                "its certificate is not issued by a trusted authority".to_owned()
            }
            rustls::Error::InvalidCertificate(C::ApplicationVerificationFailure) => {
                "its key is not one of the pinned keys".to_owned()
            }
            other if format!("{other:?}").contains("CaUsedAsEndEntity") => {
                "it presents a certificate authority's certificate as its own (a self-signed \
                 certificate needs `basicConstraints=critical,CA:FALSE`)"
                    .to_owned()
            }
            other => other.to_string(),
        };
        Untrusted(format!(
            "the server is not trusted: {why}; nothing was sent"
        ))
    }

    impl<In: Transport> Connector<In> for TlsConnector {
        type Out = Either<In, TlsTransport>;

        fn connect(
            &self,
            details: &ConnectionDetails<'_>,
            chained: Option<In>,
        ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
            let Some(transport) = chained else {
                return Ok(None);
            };
            if !details.needs_tls() || transport.is_tls() {
                return Ok(Some(Either::A(transport)));
            }
            let host = details
                .uri
                .host()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
                .unwrap_or_default();
            let name = ServerName::try_from(host.to_owned())
                .map_err(|_| ureq::Error::Tls("the server's name is not a valid TLS name"))?;
            let mut conn = ClientConnection::new(self.config.clone(), name)
                .map_err(|e| ureq::Error::Io(std::io::Error::other(e)))?;
            let mut socket = TransportAdapter::new(transport.boxed(), details.current_time.clone());
            socket.set_timeout(details.timeout);
            if let Err(e) = conn.complete_io(&mut socket) {
                let refused = e
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .map(untrusted);
                return Err(ureq::Error::Io(match refused {
                    Some(untrusted) => {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, untrusted)
                    }
                    None => e,
                }));
            }
            let buffers = LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            );
            Ok(Some(Either::B(TlsTransport {
                buffers,
                stream: StreamOwned::new(conn, socket),
            })))
        }
    }

    /// An established TLS connection as ureq's transport.
    pub(crate) struct TlsTransport {
        buffers: LazyBuffers,
        stream: StreamOwned<ClientConnection, TransportAdapter>,
    }

    impl fmt::Debug for TlsTransport {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("TlsTransport").finish_non_exhaustive()
        }
    }

    impl Transport for TlsTransport {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.buffers
        }

        fn transmit_output(
            &mut self,
            amount: usize,
            timeout: NextTimeout,
        ) -> std::result::Result<(), ureq::Error> {
            self.stream.get_mut().set_timeout(timeout);
            let output = &self.buffers.output()[..amount];
            self.stream.write_all(output)?;
            Ok(())
        }

        fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
            self.stream.get_mut().set_timeout(timeout);
            let input = self.buffers.input_append_buf();
            let amount = self.stream.read(input)?;
            self.buffers.input_appended(amount);
            Ok(amount > 0)
        }

        fn is_open(&mut self) -> bool {
            self.stream.get_mut().get_mut().is_open()
        }

        fn is_tls(&self) -> bool {
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_addresses_follow_the_trust_policy() {
        let strict = ServerTrust::default();
        for ok in [
            "https://fieldsync.example.com",
            "https://10.1.2.3:8443/",
            "http://127.0.0.1:8080",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert!(check_server_url(ok, &strict).is_ok(), "{ok}");
        }
        for refused in [
            "http://fieldsync.example.com",
            "http://10.0.2.2:8080",
            "ftp://example.com",
            "example.com",
            "https://",
            "http://localhost:1@fieldsync.example.com",
        ] {
            let e = check_server_url(refused, &strict).expect_err(refused);
            assert!(e.to_string().contains(refused), "{e}");
        }
        let open = ServerTrust {
            allow_insecure_http: true,
            ..ServerTrust::default()
        };
        assert!(check_server_url("http://10.0.2.2:8080", &open).is_ok());
        let bad_pin = ServerTrust {
            pinned_spki_sha256: vec!["not-a-hash".into()],
            ..ServerTrust::default()
        };
        let e = check_server_url("https://example.com", &bad_pin).expect_err("bad pin");
        assert!(e.to_string().contains("not-a-hash"), "{e}");
    }
}
