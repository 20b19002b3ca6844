//! Extractors every handler shares: [`Authorized`] checks the caller's permission before the
//! body is read (axum runs extractors from request parts first), and [`JsonBody`] parses a
//! JSON body with an error that names the problem.

use std::marker::PhantomData;
use std::net::IpAddr;
use std::ops::Deref;

use axum::body::Bytes;
use axum::extract::connect_info::ConnectInfo;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::domain::DomainError;
use crate::domain::auth::{CSRF_HEADER, Permission, Principal, RequestFacts, SESSION_COOKIE};
use crate::domain::error::ErrorCode;
use crate::http::PeerAddr;
use crate::http::error::AppError;
use crate::state::AppState;

/// What a request presents, read from its method and headers.
pub fn request_facts<'h>(method: &Method, headers: &'h HeaderMap) -> RequestFacts<'h> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    RequestFacts {
        bearer: header("authorization")
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty()),
        session_cookie: session_cookie(headers),
        changes_state: !(method == Method::GET || method == Method::HEAD),
        csrf_echo: header(CSRF_HEADER),
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value)
}

/// Which [`Permission`] a route needs from a caller.
pub trait Requirement {
    /// The permission `principal` must hold.
    fn permission(principal: &Principal) -> Permission;
}

/// The requirements routes name, one type per [`Permission`].
pub mod need {
    use super::{Permission, Principal, Requirement};
    use std::marker::PhantomData;

    macro_rules! requirements {
        ($($name:ident),* $(,)?) => {$(
            #[doc = concat!("Needs [`Permission::", stringify!($name), "`].")]
            #[derive(Debug)]
            pub struct $name;
            impl Requirement for $name {
                fn permission(_: &Principal) -> Permission {
                    Permission::$name
                }
            }
        )*};
    }
    requirements!(
        Sync,
        ReadJobs,
        EditJobs,
        ReadUsers,
        ManageUsers,
        ReadDevices,
        ManageDevices,
        WatchAll,
        PublishManuals,
        ReadMetrics,
    );

    /// A route phones and the office share: a device needs [`Permission::Sync`], an office
    /// user `P`'s permission.
    #[derive(Debug)]
    pub struct DeviceOr<P>(PhantomData<P>);
    impl<P: Requirement> Requirement for DeviceOr<P> {
        fn permission(principal: &Principal) -> Permission {
            match principal {
                Principal::Device(_) => Permission::Sync,
                Principal::Office { .. } => P::permission(principal),
            }
        }
    }
}

/// The authenticated caller, allowed what `R` requires. Checked from the request's parts,
/// before any of its body is read.
#[derive(Debug)]
pub struct Authorized<R> {
    /// Who is calling.
    pub principal: Principal,
    requirement: PhantomData<R>,
}

impl<R> Deref for Authorized<R> {
    type Target = Principal;

    fn deref(&self) -> &Principal {
        &self.principal
    }
}

impl<S: Send + Sync, R: Requirement> FromRequestParts<S> for Authorized<R> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, AppError> {
        // The authentication middleware puts it there for every route that needs a credential.
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| {
                DomainError::Internal("a route that needs a caller is not authenticated".into())
            })?;
        let request = request_facts(&parts.method, &parts.headers);
        principal.require(R::permission(&principal), &request)?;
        Ok(Authorized {
            principal,
            requirement: PhantomData,
        })
    }
}

/// The client's address: the connection's peer, or, when the peer is one of the configured
/// trusted proxies (`serve --trusted-proxy`), the nearest address in `X-Forwarded-For` that is
/// not a trusted proxy. `None` when the connection's address is unknown (a test calling the
/// router directly).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = peer_address(parts);
        let forwarded: Vec<&[u8]> = parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        Ok(ClientAddr(peer.map(|peer| {
            client_address(peer, &forwarded, &state.trusted_proxies)
        })))
    }
}

/// The connection's own address (IPv4-mapped IPv6 addresses as IPv4).
pub fn peer_address(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<PeerAddr>>()
        .map(|ConnectInfo(PeerAddr(peer))| peer.ip().to_canonical())
}

/// Stands for a client whose address a trusted proxy garbled: never the proxy's own.
const UNKNOWN_CLIENT: IpAddr = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);

/// Walks `X-Forwarded-For` from the nearest hop back while the hop is a trusted proxy. A hop
/// that is not an address (the header is bytes, not always text) stands for an unknown
/// client, never for the proxy that passed it on.
fn client_address(peer: IpAddr, forwarded_for: &[&[u8]], trusted: &[IpAddr]) -> IpAddr {
    let mut client = peer.to_canonical();
    let hops = forwarded_for
        .iter()
        .flat_map(|value| value.split(|b| *b == b','))
        .rev();
    for hop in hops {
        if !trusted.contains(&client) {
            break;
        }
        client = std::str::from_utf8(hop)
            .ok()
            .and_then(|text| text.trim().parse::<IpAddr>().ok())
            .map_or(UNKNOWN_CLIENT, |address| address.to_canonical());
    }
    client
}

/// A JSON request body; one that does not parse is a `400 invalid_json` saying why.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        // A body over the limit, or cut off, is answered as axum answers it (413, 400).
        let body = Bytes::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        parse_json(&body)
            .map(JsonBody)
            .map_err(IntoResponse::into_response)
    }
}

/// Parses a JSON body, naming what is wrong with it.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_json::from_slice(body).map_err(|e| {
        AppError::bad_request(ErrorCode::InvalidJson, format!("invalid request body: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_is_the_nearest_hop_no_trusted_proxy_vouches_for() {
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        let proxy = ip("10.0.0.5");
        let trusted = [proxy, ip("10.0.0.6")];
        let walk = |peer: &str, headers: &[&str]| {
            let headers: Vec<&[u8]> = headers.iter().map(|h| h.as_bytes()).collect();
            client_address(ip(peer), &headers, &trusted)
        };
        // No trusted proxy: the header is ignored, whoever wrote it.
        assert_eq!(walk("203.0.113.9", &["1.2.3.4"]), ip("203.0.113.9"));
        // Through one proxy: the address it saw; an IPv4-mapped peer is the same proxy.
        assert_eq!(walk("10.0.0.5", &["198.51.100.7"]), ip("198.51.100.7"));
        assert_eq!(
            walk("::ffff:10.0.0.5", &["198.51.100.7"]),
            ip("198.51.100.7")
        );
        // Through two, with a spoofed entry the client wrote itself before them.
        assert_eq!(
            walk("10.0.0.5", &["6.6.6.6, 198.51.100.7", "10.0.0.6"]),
            ip("198.51.100.7")
        );
        // Garbage after a trusted hop is an unknown client, never the proxy.
        assert_eq!(walk("10.0.0.5", &["not-an-ip"]), UNKNOWN_CLIENT);
        let raw: &[&[u8]] = &[b"\xff\xfe, 198.51.100.8"];
        assert_eq!(client_address(proxy, raw, &trusted), ip("198.51.100.8"));
        assert_eq!(walk("10.0.0.5", &[]), proxy);
    }

    #[test]
    fn credentials_come_from_the_bearer_header_or_the_session_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer  abc ".parse().expect("header"));
        headers.insert(
            "cookie",
            format!("other=1; {SESSION_COOKIE}=tok; x=2")
                .parse()
                .expect("header"),
        );
        headers.insert(CSRF_HEADER, "c".parse().expect("header"));
        let facts = request_facts(&Method::POST, &headers);
        assert_eq!(facts.bearer, Some("abc"));
        assert_eq!(facts.session_cookie, Some("tok"));
        assert_eq!(facts.csrf_echo, Some("c"));
        assert!(facts.changes_state);
        assert!(!request_facts(&Method::GET, &headers).changes_state);
        assert!(!request_facts(&Method::HEAD, &HeaderMap::new()).changes_state);
        assert_eq!(request_facts(&Method::GET, &HeaderMap::new()).bearer, None);
    }
}
