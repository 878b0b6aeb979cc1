//! Failed checks (callback signatures, API tokens), counted per client address in fixed
//! one-minute windows. An address over the limit has its failing requests answered 429 until
//! its window ends, which bounds what a guesser can try. The callback receiver asks only once
//! a signature has failed, so a callback that verifies is never refused.

use axum::http::{HeaderMap, HeaderName};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);
/// Addresses tracked at most: past this, expired windows are swept (at most once a second, so
/// a flood cannot make every failure pay for a sweep), and while that frees nothing a new
/// address goes uncounted: memory stays bounded however many addresses an attacker has.
const MAX_TRACKED: usize = 65_536;
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Counts failed signature checks per client address.
pub struct FailureLimiter {
    /// Failures allowed per address and minute; 0 turns the limiter off.
    limit: u32,
    tracked: Mutex<Tracked>,
}

struct Tracked {
    windows: HashMap<IpAddr, Window>,
    swept: Option<Instant>,
}

#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl FailureLimiter {
    pub fn new(limit_per_minute: u32) -> Self {
        Self {
            limit: limit_per_minute,
            tracked: Mutex::new(Tracked {
                windows: HashMap::new(),
                swept: None,
            }),
        }
    }

    /// How long `client` must wait, if it is over the limit.
    pub fn blocked(&self, client: IpAddr, now: Instant) -> Option<Duration> {
        if self.limit == 0 {
            return None;
        }
        let tracked = self.tracked.lock().unwrap_or_else(|e| e.into_inner());
        let window = tracked.windows.get(&key(client))?;
        let ends = window.started + WINDOW;
        (window.failures >= self.limit && now < ends).then(|| ends - now)
    }

    /// Counts one failed check by `client`.
    pub fn failed(&self, client: IpAddr, now: Instant) {
        if self.limit == 0 {
            return;
        }
        let mut tracked = self.tracked.lock().unwrap_or_else(|e| e.into_inner());
        let Tracked { windows, swept } = &mut *tracked;
        if windows.len() >= MAX_TRACKED && swept.is_none_or(|at| now.duration_since(at) >= SWEEP_EVERY) {
            windows.retain(|_, w| now.duration_since(w.started) < WINDOW);
            *swept = Some(now);
        }
        let client = key(client);
        if windows.len() >= MAX_TRACKED && !windows.contains_key(&client) {
            return;
        }
        let window = windows.entry(client).or_insert(Window {
            started: now,
            failures: 0,
        });
        if now.duration_since(window.started) >= WINDOW {
            *window = Window {
                started: now,
                failures: 0,
            };
        }
        window.failures = window.failures.saturating_add(1);
    }
}

/// A limiter of failed checks and how to tell the client's address (one for signatures,
/// one for API tokens: `state::Guards`).
pub struct FailureGuard {
    limiter: FailureLimiter,
    client_ip_header: Option<HeaderName>,
}

impl FailureGuard {
    pub fn new(failures_per_minute: u32, client_ip_header: Option<&str>) -> Result<Self, String> {
        let client_ip_header = client_ip_header
            .filter(|name| !name.trim().is_empty())
            .map(|name| {
                HeaderName::try_from(name.trim())
                    .map_err(|_| format!("CLIENT_IP_HEADER: {name:?} is not a header name"))
            })
            .transpose()?;
        Ok(Self {
            limiter: FailureLimiter::new(failures_per_minute),
            client_ip_header,
        })
    }

    /// The client's address, or how long it must wait while it is over the limit.
    pub fn admit(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Result<Option<IpAddr>, Duration> {
        let client = self.client(peer, headers);
        match self.blocked(client) {
            None => Ok(client),
            Some(wait) => Err(wait),
        }
    }

    /// The client's address (the peer, or behind a proxy `CLIENT_IP_HEADER`'s), without
    /// asking the limiter.
    pub fn client(&self, peer: Option<SocketAddr>, headers: &HeaderMap) -> Option<IpAddr> {
        let header = self.client_ip_header.as_ref().map(HeaderName::as_str);
        peer.map(|peer| client_addr(peer.ip(), header, headers))
    }

    /// How long `client` must wait while it is over the limit.
    pub fn blocked(&self, client: Option<IpAddr>) -> Option<Duration> {
        self.limiter.blocked(client?, Instant::now())
    }

    /// Counts a failed check.
    pub fn failed(&self, client: Option<IpAddr>) {
        if let Some(client) = client {
            self.limiter.failed(client, Instant::now());
        }
    }
}

/// IPv6 clients by their /64: one host usually holds a whole /64 and could rotate within it.
fn key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The client's address: the TCP peer, or behind a proxy the right-most address of the
/// configured header (the one the proxy itself appended; the left-most are the client's word).
pub fn client_addr(peer: IpAddr, header: Option<&str>, headers: &HeaderMap) -> IpAddr {
    header
        .and_then(|name| headers.get_all(name).iter().next_back())
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .and_then(address)
        .unwrap_or(peer)
}

/// An address as proxies write it: `ip`, `ip:port`, `[v6]`, `[v6]:port`, or a `Forwarded`
/// element (`for=...;proto=https`, quoted or not).
fn address(text: &str) -> Option<IpAddr> {
    let mut text = text.trim();
    if let Some(forwarded) = text.split(';').map(str::trim).find_map(|pair| {
        pair.get(..4)
            .filter(|k| k.eq_ignore_ascii_case("for="))
            .map(|_| &pair[4..])
    }) {
        text = forwarded.trim().trim_matches('"');
    }
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Ok(socket) = text.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    let bracketed = text.strip_prefix('[')?.split(']').next()?;
    bracketed.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_form_proxies_write_is_read() {
        let peer = ip("10.0.0.1");
        for (value, expected) in [
            ("203.0.113.7", "203.0.113.7"),
            ("198.51.100.1, 203.0.113.7:4711", "203.0.113.7"),
            ("2001:db8::1", "2001:db8::1"),
            ("[2001:db8::1]", "2001:db8::1"),
            ("[2001:db8::1]:4711", "2001:db8::1"),
            ("for=203.0.113.7;proto=https", "203.0.113.7"),
            (
                "for=192.0.2.1, For=\"[2001:db8::1]:4711\";proto=https",
                "2001:db8::1",
            ),
            ("unknown", "10.0.0.1"),
            ("", "10.0.0.1"),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert("x-client", value.parse().unwrap());
            assert_eq!(
                client_addr(peer, Some("x-client"), &headers),
                ip(expected),
                "{value}"
            );
        }
    }

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let limiter = FailureLimiter::new(3);
        let start = Instant::now();
        let forger = ip("203.0.113.7");
        for _ in 0..2 {
            limiter.failed(forger, start);
        }
        assert_eq!(limiter.blocked(forger, start), None, "two of three allowed");
        limiter.failed(forger, start);
        let later = start + Duration::from_secs(20);
        assert_eq!(limiter.blocked(forger, later), Some(Duration::from_secs(40)));
        assert_eq!(
            limiter.blocked(ip("203.0.113.8"), later),
            None,
            "others unaffected"
        );
        assert_eq!(limiter.blocked(forger, start + WINDOW), None, "the window ended");
        limiter.failed(forger, start + WINDOW);
        assert_eq!(
            limiter.blocked(forger, start + WINDOW),
            None,
            "a fresh window counts from one"
        );
    }

    #[test]
    fn zero_turns_it_off() {
        let limiter = FailureLimiter::new(0);
        let now = Instant::now();
        for _ in 0..100 {
            limiter.failed(ip("203.0.113.7"), now);
        }
        assert_eq!(limiter.blocked(ip("203.0.113.7"), now), None);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let limiter = FailureLimiter::new(2);
        let now = Instant::now();
        limiter.failed(ip("2001:db8:1:2::1"), now);
        limiter.failed(ip("2001:db8:1:2::ffff"), now);
        assert!(limiter.blocked(ip("2001:db8:1:2::42"), now).is_some());
        assert!(limiter.blocked(ip("2001:db8:1:3::1"), now).is_none());
        limiter.failed(ip("::ffff:198.51.100.1"), now);
        limiter.failed(ip("198.51.100.1"), now);
        assert!(limiter.blocked(ip("198.51.100.1"), now).is_some());
    }

    #[test]
    fn memory_stays_bounded() {
        let limiter = FailureLimiter::new(1);
        let now = Instant::now();
        for n in 0..(MAX_TRACKED as u32 + 1000) {
            limiter.failed(IpAddr::from(n.to_be_bytes()), now);
        }
        assert_eq!(limiter.tracked.lock().unwrap().windows.len(), MAX_TRACKED);
        // Once those windows expire, new addresses are counted again.
        let later = now + WINDOW;
        limiter.failed(ip("192.0.2.1"), later);
        assert!(limiter.blocked(ip("192.0.2.1"), later).is_some());
    }

    #[test]
    fn client_address_from_the_proxy_header() {
        let peer = ip("10.0.0.2");
        let mut headers = HeaderMap::new();
        assert_eq!(client_addr(peer, Some("x-forwarded-for"), &headers), peer);
        headers.insert("x-forwarded-for", "1.2.3.4, 198.51.100.9".parse().unwrap());
        assert_eq!(
            client_addr(peer, None, &headers),
            peer,
            "ignored unless configured"
        );
        assert_eq!(
            client_addr(peer, Some("x-forwarded-for"), &headers),
            ip("198.51.100.9")
        );
        headers.insert("x-forwarded-for", "not an address".parse().unwrap());
        assert_eq!(client_addr(peer, Some("x-forwarded-for"), &headers), peer);
    }
}
