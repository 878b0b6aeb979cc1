//! Where the REST client may send an account's credentials: only back to the base URL it
//! was configured with.

/// Whether `next` is on `base`: the same scheme, host and port, no credentials of its own,
/// and under `base`'s path. (A string prefix would let `https://trusthub.twilio.com.evil.tld/`
/// or `https://trusthub.twilio.com@evil.tld/` through, and basic auth with them.)
pub(crate) fn same_origin(base: &str, next: &str) -> bool {
    let (Ok(base), Ok(next)) = (url::Url::parse(base), url::Url::parse(next)) else {
        return false;
    };
    next.scheme() == base.scheme()
        && next.host_str() == base.host_str()
        && next.port_or_known_default() == base.port_or_known_default()
        && next.username().is_empty()
        && next.password().is_none()
        && next.path().starts_with(base.path().trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::same_origin;

    #[test]
    fn pages_are_followed_only_on_the_base_url() {
        let base = "https://trusthub.twilio.com";
        for next in [
            "https://trusthub.twilio.com/v1/CustomerProfiles?PageSize=50&Page=1&PageToken=PT1",
            "https://trusthub.twilio.com:443/v1/TrustProducts?Page=2",
        ] {
            assert!(same_origin(base, next), "{next}");
        }
        for next in [
            "https://trusthub.twilio.com.evil.tld/v1/CustomerProfiles",
            "https://trusthub.twilio.com@evil.tld/v1/CustomerProfiles",
            "https://user:pass@trusthub.twilio.com/v1/CustomerProfiles",
            "http://trusthub.twilio.com/v1/CustomerProfiles",
            "https://trusthub.twilio.com:8443/v1/CustomerProfiles",
            "https://evil.tld/https://trusthub.twilio.com/v1",
            "not a url",
        ] {
            assert!(!same_origin(base, next), "{next}");
        }
        // A base with a path (a proxy's prefix): pages stay under it.
        assert!(same_origin(
            "http://127.0.0.1:9/prefix",
            "http://127.0.0.1:9/prefix/v1/X?Page=1"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:9/prefix",
            "http://127.0.0.1:9/other/v1/X"
        ));
    }
}
