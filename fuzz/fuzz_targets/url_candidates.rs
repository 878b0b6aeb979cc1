//! The URL Twilio signed: a line that is both a URL as received and a `PUBLIC_URL`, then a
//! request path and a raw query. Never panics; the candidates are the URL itself and at most one
//! variant that differs only by a port at the end of the authority, every other byte kept.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trusthub_hooks::config::PublicUrl;
use trusthub_hooks::config::CALLBACK_PATH;
use trusthub_hooks::twilio::signature::url_candidates;
use trusthub_hooks_fuzz::{fields, text};

fuzz_target!(|data: &[u8]| {
    let [raw, path, query] = fields::<3>(data);
    let Some(raw) = text(raw) else {
        return;
    };
    check_candidates(raw);
    let Ok(public) = PublicUrl::parse(raw) else {
        return;
    };
    // A request at the prefix's callback path is signed as the URL registered with Twilio.
    let callback = public.callback_url();
    let routed = format!("{}{CALLBACK_PATH}", public.prefix());
    assert_eq!(public.signed_url(&routed, None), callback);
    let base = callback
        .strip_suffix(CALLBACK_PATH)
        .expect("callback URL ends with its path");

    let (Some(path), Some(query)) = (text(path), text(query)) else {
        return;
    };
    // A request line's path always starts with a slash.
    let path = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    };
    let query = (!query.is_empty()).then_some(query);
    let signed = public.signed_url(&path, query);
    assert!(
        signed.starts_with(base),
        "{signed:?} does not start with {base:?}"
    );
    if let Some(query) = query {
        assert!(
            signed.ends_with(&format!("?{query}")),
            "{signed:?} lost the query {query:?}"
        );
    }
    check_candidates(&signed);
});

fn check_candidates(url: &str) {
    let candidates = url_candidates(url);
    assert_eq!(candidates[0], url, "the URL as received is tried first");
    assert!(candidates.len() <= 2, "{candidates:?}");
    let Some(variant) = candidates.get(1) else {
        return;
    };
    assert_ne!(variant, url);
    let added = variant.len() > url.len();
    let (short, long) = if added {
        (url.as_bytes(), variant.as_bytes())
    } else {
        (variant.as_bytes(), url.as_bytes())
    };
    let common = short.iter().zip(long).take_while(|(a, b)| a == b).count();
    let tail = &short[common..];
    assert!(
        long.ends_with(tail),
        "{url:?} and {variant:?} differ in more than a port"
    );
    let port = &long[common..long.len() - tail.len()];
    assert!(
        port.len() >= 2 && port[0] == b':' && port[1..].iter().all(u8::is_ascii_digit),
        "{url:?} and {variant:?} differ by {:?}, not a port",
        String::from_utf8_lossy(port)
    );
    // The port ends the authority: what follows it is the path, query or fragment.
    assert!(
        tail.is_empty() || matches!(tail[0], b'/' | b'?' | b'#'),
        "{url:?} -> {variant:?}"
    );
    if added {
        assert!(port == b":443" || port == b":80", "{url:?} gained {port:?}");
    }
    // Without a port the variant is a URL in its own right, whose own variant restores a default one.
    if !added && (port == b":443" || port == b":80") {
        let back = url_candidates(variant);
        assert_eq!(back[0], *variant);
        if back.len() == 2 && back[1].len() == url.len() {
            assert_eq!(back[1], url);
        }
    }
}
