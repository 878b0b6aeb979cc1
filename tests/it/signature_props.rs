//! Properties of the verifier: a valid signature always verifies (whatever the URL, the
//! parameters and their repetitions), and changing any one character of the URL, of a
//! parameter or of a JSON body makes it fail. Signatures come from the tests' own signer
//! (`support::twilio_sign`, checked against twilio-python), never from the code under test.

use crate::support::twilio_sign;
use proptest::prelude::*;
use trusthub_hooks::config::Config;
use trusthub_hooks::twilio::signature::Payload;
use trusthub_hooks::twilio::{SignedRequest, Verifier};

const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

fn verifier(token: &str) -> Verifier {
    let config = Config::load_from(
        None,
        [
            ("TWILIO_ACCOUNT_SID", ACCOUNT.to_owned()),
            ("TWILIO_AUTH_TOKEN", token.to_owned()),
        ],
    )
    .unwrap();
    Verifier::from_config(&config)
}

fn url() -> impl Strategy<Value = String> {
    (
        prop_oneof!["https", "http"],
        "[a-z]{1,12}(\\.[a-z]{2,6}){1,2}",
        proptest::option::of(1u16..65535),
        "(/[A-Za-z0-9._~%-]{0,10}){0,3}",
        proptest::option::of("[A-Za-z0-9=&%+._-]{0,30}"),
    )
        .prop_map(|(scheme, host, port, path, query)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            format!("{scheme}://{host}{port}{path}{query}")
        })
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    proptest::collection::vec(("[A-Za-z][A-Za-z0-9_]{0,8}", "\\PC{0,12}"), 0..8)
}

/// Replaces the character at `index` (modulo the length) with a different one.
fn mutate(text: &str, index: usize, replacement: char) -> Option<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return None;
    }
    let i = index % chars.len();
    let new = if chars[i] == replacement {
        if replacement == 'x' {
            'y'
        } else {
            'x'
        }
    } else {
        replacement
    };
    let mut out = chars;
    out[i] = new;
    Some(out.into_iter().collect())
}

fn pairs(params: &[(String, String)]) -> Vec<(&str, &str)> {
    params.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

fn check(verifier: &Verifier, url: &str, sig: &str, payload: Payload<'_>) -> bool {
    verifier
        .verify(&SignedRequest {
            url,
            signature: Some(sig),
            settings: None,
            payload,
            account: Some(ACCOUNT),
        })
        .result
        .is_ok()
}

proptest! {
    #[test]
    fn valid_signatures_verify(url in url(), params in params(), token in "[A-Za-z0-9]{8,40}") {
        let sig = twilio_sign::form(&url, &pairs(&params), &token);
        prop_assert!(check(&verifier(&token), &url, &sig, Payload::Form(&params)));
    }

    #[test]
    fn any_changed_character_fails(
        url in url(),
        params in params(),
        token in "[A-Za-z0-9]{8,40}",
        target in 0usize..3,
        index in any::<usize>(),
        replacement in proptest::char::range('!', '~'),
    ) {
        let sig = twilio_sign::form(&url, &pairs(&params), &token);
        let v = verifier(&token);
        match target {
            0 => {
                // The authority's port may legitimately be added or dropped; change elsewhere.
                let start = url.find("://").unwrap() + 3;
                let path_at = url[start..].find('/').map_or(url.len(), |i| start + i);
                prop_assume!(path_at < url.len());
                let tail = mutate(&url[path_at..], index, replacement).unwrap();
                let changed = format!("{}{}", &url[..path_at], tail);
                prop_assume!(changed != url);
                prop_assert!(!check(&v, &changed, &sig, Payload::Form(&params)));
            }
            _ => {
                prop_assume!(!params.is_empty());
                let which = index % params.len();
                let mut changed = params.clone();
                let (name, value) = &params[which];
                if target == 1 {
                    changed[which].0 = mutate(name, index / 7, replacement).unwrap();
                } else {
                    prop_assume!(!value.is_empty());
                    changed[which].1 = mutate(value, index / 7, replacement).unwrap();
                }
                // Twilio's string dedups repeated name/value pairs: a change that only
                // duplicates another pair signs the same string, and is not a change.
                let same = twilio_sign::string_to_sign(&url, &pairs(&changed)) == twilio_sign::string_to_sign(&url, &pairs(&params));
                prop_assume!(!same);
                prop_assert!(!check(&v, &url, &sig, Payload::Form(&changed)));
            }
        }
    }

    #[test]
    fn json_body_changes_fail(
        body in "\\{\"[a-z]{1,8}\":\"\\PC{0,20}\"\\}",
        index in any::<usize>(),
        replacement in proptest::char::range('!', '~'),
        token in "[A-Za-z0-9]{8,40}",
    ) {
        let url = format!("https://hooks.example.com/cb?bodySHA256={}", twilio_sign::body_sha256(body.as_bytes()));
        let sig = twilio_sign::url_only(&url, &token);
        let v = verifier(&token);
        prop_assert!(check(&v, &url, &sig, Payload::Body(body.as_bytes())));
        let changed = mutate(&body, index, replacement).unwrap();
        prop_assert!(!check(&v, &url, &sig, Payload::Body(changed.as_bytes())));
    }
}
