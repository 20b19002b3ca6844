//! The enrollment link: what the office's QR code holds so that a phone enrolls by scanning it
//! instead of typing a server address, a user id and a 64-character code.
//!
//! `fieldsync://enroll?server=<URL>&user=<user id>&code=<code>`, each value percent-encoded
//! (RFC 3986). `docs/mobile.md` is the contract.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// The link's scheme and path.
pub const PREFIX: &str = "fieldsync://enroll?";

/// What a value keeps as is: RFC 3986's unreserved characters; everything else is encoded.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The longest link accepted (a QR code at medium error correction holds 2,331 bytes).
pub const MAX_LINK_CHARS: usize = 2_000;

/// What a phone needs to enroll: where, as whom, and the one-time code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentLink {
    /// The server's base URL, e.g. `https://fieldsync.example.com`.
    pub server: String,
    /// The installer's user id.
    pub user: String,
    /// The one-time enrollment code.
    pub code: String,
}

/// Why a text is not an enrollment link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// It does not start with `fieldsync://enroll?`.
    #[error("not an enrollment link: it must start with {PREFIX}")]
    NotALink,
    /// Longer than [`MAX_LINK_CHARS`].
    #[error("the enrollment link is longer than {MAX_LINK_CHARS} characters")]
    TooLong,
    /// A parameter is missing, empty, repeated, unknown or not valid UTF-8 once decoded.
    #[error("the enrollment link's `{0}` is missing or invalid")]
    Parameter(String),
    /// The server is not an `http://` or `https://` URL.
    #[error("the enrollment link's server `{0}` is not an http:// or https:// address")]
    Server(String),
}

impl EnrollmentLink {
    /// The link as text.
    pub fn to_uri(&self) -> String {
        let encode = |value: &str| utf8_percent_encode(value, VALUE).to_string();
        format!(
            "{PREFIX}server={}&user={}&code={}",
            encode(&self.server),
            encode(&self.user),
            encode(&self.code)
        )
    }

    /// Reads a link (surrounding white space ignored). Every one of `server`, `user` and
    /// `code` must appear once, not empty; unknown parameters are refused, so a mistyped one is
    /// never silently dropped.
    pub fn parse(text: &str) -> Result<EnrollmentLink, LinkError> {
        let text = text.trim();
        if text.chars().count() > MAX_LINK_CHARS {
            return Err(LinkError::TooLong);
        }
        let query = text.strip_prefix(PREFIX).ok_or(LinkError::NotALink)?;
        let (mut server, mut user, mut code) = (None, None, None);
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match name {
                "server" => &mut server,
                "user" => &mut user,
                "code" => &mut code,
                other => return Err(LinkError::Parameter(other.to_owned())),
            };
            let decoded = percent_decode_str(value)
                .decode_utf8()
                .map_err(|_| LinkError::Parameter(name.to_owned()))?;
            if decoded.trim().is_empty() || slot.is_some() {
                return Err(LinkError::Parameter(name.to_owned()));
            }
            *slot = Some(decoded.into_owned());
        }
        let take = |slot: Option<String>, name: &str| {
            slot.ok_or_else(|| LinkError::Parameter(name.to_owned()))
        };
        let link = EnrollmentLink {
            server: take(server, "server")?,
            user: take(user, "user")?,
            code: take(code, "code")?,
        };
        if !(link.server.starts_with("https://") || link.server.starts_with("http://")) {
            return Err(LinkError::Server(link.server));
        }
        Ok(link)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The link's text is pinned: phones in the field read what servers print.
    #[test]
    fn the_link_is_pinned_and_reads_back() {
        let link = EnrollmentLink {
            server: "https://fs.example.com:8443/base".into(),
            user: "王芳 w&f".into(),
            code: "0f3a".into(),
        };
        let uri = link.to_uri();
        assert_eq!(
            uri,
            "fieldsync://enroll?server=https%3A%2F%2Ffs.example.com%3A8443%2Fbase\
             &user=%E7%8E%8B%E8%8A%B3%20w%26f&code=0f3a"
        );
        assert_eq!(EnrollmentLink::parse(&format!("  {uri}\n")), Ok(link));
    }

    /// Each mistake is named.
    #[test]
    fn a_broken_link_says_what_is_wrong() {
        let cases = [
            ("https://example.com", LinkError::NotALink),
            (
                "fieldsync://enroll?server=https%3A%2F%2Fa&user=anna",
                LinkError::Parameter("code".into()),
            ),
            (
                "fieldsync://enroll?server=https%3A%2F%2Fa&user=anna&code=",
                LinkError::Parameter("code".into()),
            ),
            (
                "fieldsync://enroll?server=https%3A%2F%2Fa&user=anna&user=ben&code=1",
                LinkError::Parameter("user".into()),
            ),
            (
                "fieldsync://enroll?server=https%3A%2F%2Fa&user=anna&code=1&pin=2",
                LinkError::Parameter("pin".into()),
            ),
            (
                "fieldsync://enroll?server=ftp%3A%2F%2Fa&user=anna&code=1",
                LinkError::Server("ftp://a".into()),
            ),
            (
                "fieldsync://enroll?server=https%3A%2F%2Fa&user=%FF&code=1",
                LinkError::Parameter("user".into()),
            ),
        ];
        for (text, error) in cases {
            assert_eq!(EnrollmentLink::parse(text), Err(error), "{text}");
        }
        let long = format!("{PREFIX}{}", "a".repeat(MAX_LINK_CHARS));
        assert_eq!(EnrollmentLink::parse(&long), Err(LinkError::TooLong));
    }
}
