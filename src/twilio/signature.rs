//! Twilio's request signature, computed exactly as the official helper libraries compute it.
//!
//! Pure functions of (URL, parameters or body, secret): no configuration, no I/O. The signed
//! string is the full URL followed by every POST parameter name and value, names sorted
//! byte-wise, repeated names' values de-duplicated and sorted (twilio-python's behaviour).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use subtle::ConstantTimeEq;

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-twilio-signature";
/// The header Twilio adds when a Webhook Setting signs with a shared key.
pub const SIGNATURE_SETTINGS_HEADER: &str = "x-twilio-webhooks-signature-settings";
/// The query parameter that carries the SHA-256 of a JSON body.
pub const BODY_SHA256_PARAM: &str = "bodySHA256";

/// The HMAC hash Twilio signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    HmacSha1,
    HmacSha256,
}

impl Algorithm {
    /// Parses Twilio's algorithm names (case-insensitive, as twilio-python does).
    pub fn from_wire(name: &str) -> Option<Self> {
        match name.trim().to_ascii_uppercase().as_str() {
            "HMAC_SHA1" => Some(Self::HmacSha1),
            "HMAC_SHA256" => Some(Self::HmacSha256),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HmacSha1 => "HMAC_SHA1",
            Self::HmacSha256 => "HMAC_SHA256",
        })
    }
}

/// What the body of a signed request contributes to the signature.
#[derive(Debug, Clone, Copy)]
pub enum Payload<'a> {
    /// `application/x-www-form-urlencoded` parameters, in the order received.
    Form(&'a [(String, String)]),
    /// A raw body (JSON) whose SHA-256 the URL's `bodySHA256` parameter must carry.
    Body(&'a [u8]),
}

/// The parsed `X-Twilio-Webhooks-Signature-Settings` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureSettings {
    /// The shared key's identifier (`key=`), if the header names one.
    pub key: Option<String>,
    /// The algorithm's wire name (`algorithm=`), `HMAC_SHA1` when absent.
    pub algorithm: String,
}

impl SignatureSettings {
    /// Parses `key=…,algorithm=…`; unknown parts are ignored, as twilio-python ignores them.
    pub fn parse(header: &str) -> Self {
        let mut settings = Self {
            key: None,
            algorithm: "HMAC_SHA1".to_owned(),
        };
        for part in header.split(',') {
            let Some((name, value)) = part.split_once('=') else {
                continue;
            };
            let value = value.trim();
            match name.trim() {
                "key" if !value.is_empty() => settings.key = Some(value.to_owned()),
                "algorithm" if !value.is_empty() => settings.algorithm = value.to_owned(),
                _ => {}
            }
        }
        settings
    }
}

/// The string Twilio signs: the URL, then each sorted name followed by its sorted unique values.
pub fn signing_string(url: &str, params: &[(String, String)]) -> String {
    let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in params {
        grouped.entry(name).or_default().push(value);
    }
    let mut out =
        String::with_capacity(url.len() + params.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>());
    out.push_str(url);
    for (name, mut values) in grouped {
        values.sort_unstable();
        values.dedup();
        for value in values {
            out.push_str(name);
            out.push_str(value);
        }
    }
    out
}

/// The base64 HMAC of `data` under `secret`.
pub fn compute(secret: &[u8], algorithm: Algorithm, data: &str) -> String {
    match algorithm {
        Algorithm::HmacSha1 => mac_base64::<Hmac<sha1::Sha1>>(secret, data),
        Algorithm::HmacSha256 => mac_base64::<Hmac<Sha256>>(secret, data),
    }
}

fn mac_base64<M: Mac + hmac::digest::KeyInit>(secret: &[u8], data: &str) -> String {
    let mut mac =
        <M as hmac::digest::KeyInit>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(data.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// Compares two signatures in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The lowercase hex SHA-256 of a body, as carried by `bodySHA256`.
pub fn body_sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The first `bodySHA256` value of the URL's query, if any.
pub fn body_sha256_param(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split_once('#').map_or(query, |(q, _)| q);
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == BODY_SHA256_PARAM)
        .map(|(_, value)| value.into_owned())
}

/// The URL variants the helper libraries try: as received, then without its port, or with the
/// scheme's default port added when it had none. Never re-encoded or re-cased.
pub fn url_candidates(url: &str) -> Vec<String> {
    let mut candidates = vec![url.to_owned()];
    if let Some(parts) = UrlParts::split(url) {
        let variant = match parts.port {
            Some(_) => Some(parts.with_port(None)),
            None => parts.default_port().map(|port| parts.with_port(Some(port))),
        };
        if let Some(variant) = variant {
            if variant != url {
                candidates.push(variant);
            }
        }
    }
    candidates
}

/// A URL cut at its authority's port, with every other byte kept exactly as received.
struct UrlParts<'a> {
    scheme: &'a str,
    /// Everything from the scheme up to and including the host.
    before_port: &'a str,
    port: Option<&'a str>,
    /// The path, query and fragment.
    rest: &'a str,
}

impl<'a> UrlParts<'a> {
    fn split(url: &'a str) -> Option<Self> {
        let scheme_end = url.find("://")?;
        let authority_start = scheme_end + 3;
        let authority_len = url[authority_start..]
            .find(['/', '?', '#'])
            .unwrap_or(url.len() - authority_start);
        let authority_end = authority_start + authority_len;
        let authority = &url[authority_start..authority_end];
        let host_start = authority.rfind('@').map_or(0, |at| at + 1);
        // A colon inside brackets belongs to an IPv6 literal, not a port.
        let host_and_port = &authority[host_start..];
        let port_colon = host_and_port
            .rfind(':')
            .filter(|&colon| !host_and_port[colon..].contains(']'));
        let (before_port, port) = match port_colon {
            Some(colon) => {
                let port = &host_and_port[colon + 1..];
                if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                (&url[..authority_start + host_start + colon], Some(port))
            }
            None => (&url[..authority_end], None),
        };
        Some(Self {
            scheme: &url[..scheme_end],
            before_port,
            port,
            rest: &url[authority_end..],
        })
    }

    fn default_port(&self) -> Option<&'static str> {
        match self.scheme.to_ascii_lowercase().as_str() {
            "https" => Some("443"),
            "http" => Some("80"),
            _ => None,
        }
    }

    fn with_port(&self, port: Option<&str>) -> String {
        match port {
            Some(port) => format!("{}:{}{}", self.before_port, port, self.rest),
            None => format!("{}{}", self.before_port, self.rest),
        }
    }
}

/// Why a request's payload cannot match any signature, before any secret is tried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("a raw (JSON) body is signed only through the URL's bodySHA256 parameter, and the URL has none")]
    MissingBodyHash,
    #[error("the body's SHA-256 ({actual}) differs from the URL's bodySHA256 ({expected})")]
    BodyHashMismatch { expected: String, actual: String },
}

/// The signing string for one URL candidate, once the payload has been checked.
pub fn payload_signing_string(url: &str, payload: Payload<'_>) -> Result<String, PayloadError> {
    match payload {
        Payload::Form(params) => Ok(signing_string(url, params)),
        Payload::Body(body) => {
            let expected = body_sha256_param(url).ok_or(PayloadError::MissingBodyHash)?;
            let actual = body_sha256_hex(body);
            if !constant_time_eq(&actual, &expected) {
                return Err(PayloadError::BodyHashMismatch { expected, actual });
            }
            Ok(url.to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn signing_string_sorts_names_and_dedups_repeated_values() {
        let params = p(&[("b", "2"), ("a", "z"), ("a", "y"), ("a", "z"), ("B", "0")]);
        assert_eq!(signing_string("https://x/cb", &params), "https://x/cbB0ayazb2");
    }

    #[test]
    fn candidates_add_default_port_or_remove_explicit_one() {
        assert_eq!(
            url_candidates("https://h.example.com/cb?a=1"),
            ["https://h.example.com/cb?a=1", "https://h.example.com:443/cb?a=1"]
        );
        assert_eq!(url_candidates("http://h/cb"), ["http://h/cb", "http://h:80/cb"]);
        assert_eq!(
            url_candidates("https://h:8443/cb"),
            ["https://h:8443/cb", "https://h/cb"]
        );
        assert_eq!(
            url_candidates("https://u:p@[::1]:8443/x"),
            ["https://u:p@[::1]:8443/x", "https://u:p@[::1]/x"]
        );
        assert_eq!(
            url_candidates("https://[::1]/x"),
            ["https://[::1]/x", "https://[::1]:443/x"]
        );
    }

    #[test]
    fn candidates_keep_case_and_encoding() {
        let url = "https://Hooks.Example.com/Cb?To=%2B1555&x=a+b";
        assert_eq!(url_candidates(url)[0], url);
        assert_eq!(
            url_candidates(url)[1],
            "https://Hooks.Example.com:443/Cb?To=%2B1555&x=a+b"
        );
    }

    #[test]
    fn unparseable_url_is_tried_as_is() {
        assert_eq!(url_candidates("not a url"), ["not a url"]);
        assert_eq!(url_candidates("https://h:port/x"), ["https://h:port/x"]);
    }

    #[test]
    fn settings_header_parsing() {
        let s = SignatureSettings::parse("key=webhooks_sharedkey_1, algorithm=hmac_sha256");
        assert_eq!(s.key.as_deref(), Some("webhooks_sharedkey_1"));
        assert_eq!(Algorithm::from_wire(&s.algorithm), Some(Algorithm::HmacSha256));
        let s = SignatureSettings::parse("key=,algorithm=");
        assert_eq!((s.key, s.algorithm.as_str()), (None, "HMAC_SHA1"));
        assert_eq!(Algorithm::from_wire("HMAC_MD5"), None);
    }

    #[test]
    fn body_hash_is_checked_before_signing() {
        let body = br#"{"Status":"twilio-approved"}"#;
        let hash = body_sha256_hex(body);
        let url = format!("https://h/cb?{BODY_SHA256_PARAM}={hash}");
        assert_eq!(payload_signing_string(&url, Payload::Body(body)).unwrap(), url);
        let tampered = br#"{"Status":"twilio-rejected"}"#;
        assert!(matches!(
            payload_signing_string(&url, Payload::Body(tampered)),
            Err(PayloadError::BodyHashMismatch { .. })
        ));
        assert_eq!(
            payload_signing_string("https://h/cb", Payload::Body(body)),
            Err(PayloadError::MissingBodyHash)
        );
    }
}
