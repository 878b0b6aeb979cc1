//! `PUBLIC_URL`: what Twilio calls, and so what it signs.

use super::{invalid, ConfigError};

/// Where Twilio posts status changes (under `PUBLIC_URL`'s prefix, if any).
pub const CALLBACK_PATH: &str = "/twilio/status-callback";

/// `PUBLIC_URL`, kept byte for byte as configured, since Twilio signs exactly that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    /// Scheme, host, port and prefix, without a trailing slash.
    base: String,
    /// Whether the host is this machine (127.0.0.0/8, ::1, localhost): local testing.
    loopback: bool,
    /// The path prefix (`/prefix`), or empty.
    prefix: String,
}

impl PublicUrl {
    /// Whether Twilio (and a browser) reach the service over https.
    pub fn is_https(&self) -> bool {
        self.base.starts_with("https://")
    }

    /// Refuses plain http beyond this machine unless `allow_insecure`: Twilio's callbacks
    /// would cross the network readable, and a captured one could be replayed.
    pub fn require_tls(self, allow_insecure: bool) -> Result<Self, ConfigError> {
        if self.is_https() || self.loopback || allow_insecure {
            return Ok(self);
        }
        Err(invalid(
            "PUBLIC_URL",
            format!(
                "{:?} is plain http: Twilio's callbacks would cross the network unencrypted, to be \
                 read and replayed. Use https (TLS at your proxy), or set ALLOW_INSECURE_PUBLIC_URL=true \
                 (http on 127.0.0.1, ::1 and localhost is always allowed, for local testing)",
                self.base
            ),
        ))
    }

    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        // The text is kept as written (Twilio signs it byte for byte), so refuse what the URL
        // parser would silently forgive: surrounding or inner whitespace (a pasted newline),
        // backslashes, or a scheme without `//`.
        let sloppy = raw
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
            || !["https://", "http://"].iter().any(|scheme| {
                raw.get(..scheme.len())
                    .is_some_and(|start| start.eq_ignore_ascii_case(scheme))
            });
        if sloppy {
            return Err(invalid(
                "PUBLIC_URL",
                format!("{raw:?} must be exactly http(s)://host[:port][/prefix], with no spaces, newlines or backslashes"),
            ));
        }
        let parsed =
            url::Url::parse(raw).map_err(|e| invalid("PUBLIC_URL", format!("{raw:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
            return Err(invalid(
                "PUBLIC_URL",
                format!("{raw:?} must be http(s)://host[:port][/prefix]"),
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid(
                "PUBLIC_URL",
                format!("{raw:?} must not carry a query or fragment"),
            ));
        }
        let base = raw.trim_end_matches('/').to_owned();
        let prefix = parsed.path().trim_end_matches('/').to_owned();
        let loopback = match parsed.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        };
        Ok(Self {
            base,
            loopback,
            prefix,
        })
    }

    /// The path prefix requests arrive under, or `""`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The URL Twilio signed for a request with this path and raw query: `PUBLIC_URL`, the path
    /// after the prefix (a proxy may or may not have stripped it), and the query as received.
    pub fn signed_url(&self, path: &str, query: Option<&str>) -> String {
        let rest = path
            .strip_prefix(self.prefix.as_str())
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
            .unwrap_or(path);
        self.route_url(rest, query)
    }

    /// `PUBLIC_URL` + `route` + the raw query: the signed URL of a request the router matched to
    /// `route`, whether it arrived under the prefix or with it stripped. (Stripping the prefix
    /// from the path cannot tell those apart when the prefix is itself the route's start, as
    /// with `PUBLIC_URL=https://host/twilio`.)
    pub fn route_url(&self, route: &str, query: Option<&str>) -> String {
        let mut url = String::with_capacity(self.base.len() + route.len() + query.map_or(0, |q| q.len() + 1));
        url.push_str(&self.base);
        url.push_str(route);
        if let Some(query) = query {
            url.push('?');
            url.push_str(query);
        }
        url
    }

    /// The callback URL to register with Twilio.
    pub fn callback_url(&self) -> String {
        format!("{}{}", self.base, CALLBACK_PATH)
    }
}
