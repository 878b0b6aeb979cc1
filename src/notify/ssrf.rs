//! Outbound webhooks go only to public addresses (unless `WEBHOOK_ALLOW_PRIVATE=true`). The
//! check is made on the addresses actually connected to: the HTTP client resolves names through
//! [`GuardedResolver`], so a name that re-resolves to a private address (DNS rebinding) is
//! refused too.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Whether an address is reachable on the public internet (not loopback, private, link-local,
/// shared, multicast, documentation, reserved or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
        || (first == 0x0064 && ip.segments()[1] == 0xff9b)) // NAT64 can reach private IPv4
}

/// Why a webhook URL is refused.
pub fn check_url(url: &url::Url, allow_private: bool) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{url} is not http(s)"));
    }
    let literal = match url.host() {
        None => return Err(format!("{url} has no host")),
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => None,
    };
    match literal {
        Some(ip) if !allow_private && !is_public(ip) => Err(format!(
            "{ip} is not a public address (set WEBHOOK_ALLOW_PRIVATE=true to allow it)"
        )),
        _ => Ok(()),
    }
}

/// Resolves names with the system resolver, keeping only public addresses unless allowed.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl GuardedResolver {
    pub async fn lookup(self, host: &str) -> Result<Vec<SocketAddr>, String> {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect();
        let allowed: Vec<SocketAddr> = addrs
            .iter()
            .copied()
            .filter(|a| self.allow_private || is_public(a.ip()))
            .collect();
        if allowed.is_empty() {
            return Err(format!(
                "{host} resolves only to non-public addresses {addrs:?} (set WEBHOOK_ALLOW_PRIVATE=true to allow them)"
            ));
        }
        Ok(allowed)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = *self;
        Box::pin(async move {
            let addrs = this
                .lookup(name.as_str())
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "2001:db8::1",
            "64:ff9b::a00:1",
        ] {
            assert!(
                !is_public(private.parse().unwrap()),
                "{private} must not count as public"
            );
        }
        for public in [
            "8.8.8.8",
            "1.1.1.1",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public} is public");
        }
    }

    #[test]
    fn literal_urls() {
        let url = |u: &str| url::Url::parse(u).unwrap();
        assert!(check_url(&url("http://127.0.0.1:9/x"), false).is_err());
        assert!(check_url(&url("http://[::1]/x"), false).is_err());
        assert!(check_url(&url("http://127.0.0.1:9/x"), true).is_ok());
        assert!(check_url(&url("https://8.8.8.8/x"), false).is_ok());
        assert!(check_url(&url("ftp://example.com/x"), true).is_err());
    }

    #[tokio::test]
    async fn names_that_resolve_privately_are_refused() {
        let guarded = GuardedResolver { allow_private: false };
        let err = guarded.lookup("localhost").await.unwrap_err();
        assert!(err.contains("non-public"), "{err}");
        let open = GuardedResolver { allow_private: true };
        assert!(!open.lookup("localhost").await.unwrap().is_empty());
    }
}
