//! Our verifier agrees with twilio-python on every vector it generated.

use crate::support;
use secrecy::SecretString;
use serde_json::Value;
use trusthub_hooks::config::Config;
use trusthub_hooks::twilio::signature::{self, Algorithm, Payload};
use trusthub_hooks::twilio::{SignedRequest, Verifier};

fn params(case: &Value) -> Option<Vec<(String, String)>> {
    case["params"].as_array().map(|pairs| {
        pairs
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap().to_owned(),
                    pair[1].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    })
}

/// A verifier that holds the case's verifying secret as the account token or the shared key.
fn verifier(case: &Value, account: &str) -> (Verifier, Option<String>) {
    let secret = case["verify_token"].as_str().unwrap();
    let shared = case["algorithm"] == "HMAC_SHA256";
    let toml = if shared {
        format!("[[shared_keys]]\nkey = \"webhooks_sharedkey_test\"\nsecret = \"{secret}\"\n")
    } else {
        String::new()
    };
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), toml).unwrap();
    let token = if shared { "unrelated-account-token" } else { secret };
    let config = Config::load_from(
        Some(file.path()),
        [
            ("TWILIO_ACCOUNT_SID", account.to_owned()),
            ("TWILIO_AUTH_TOKEN", token.to_owned()),
        ],
    )
    .unwrap();
    let settings = shared.then(|| "key=webhooks_sharedkey_test,algorithm=HMAC_SHA256".to_owned());
    (Verifier::from_config(&config), settings)
}

#[test]
fn every_twilio_python_vector_agrees() {
    let vectors = support::vectors();
    let account = vectors["account_sid"].as_str().unwrap();
    let cases = vectors["cases"].as_array().unwrap();
    assert!(cases.len() >= 20, "vectors missing");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let expected_signature = case["signature"].as_str().unwrap();
        let algorithm = Algorithm::from_wire(case["algorithm"].as_str().unwrap()).unwrap();
        let params = params(case);
        let body = case["body"].as_str().map(|b| b.as_bytes().to_vec());
        // Our signer produces twilio-python's signature for the URL Twilio signed (untampered cases).
        if let (Some(params), false) = (&params, case["tampered"].as_bool().unwrap()) {
            let signed = case["signed_url"].as_str().unwrap();
            let data = signature::signing_string(signed, params);
            let ours = signature::compute(case["sign_token"].as_str().unwrap().as_bytes(), algorithm, &data);
            assert_eq!(
                ours, expected_signature,
                "{name}: signature differs from twilio-python's"
            );
        }
        let (verifier, settings) = verifier(case, account);
        let payload = match (&params, &body) {
            (_, Some(body)) => Payload::Body(body),
            (Some(params), None) => Payload::Form(params),
            (None, None) => unreachable!(),
        };
        let verdict = verifier.verify(&SignedRequest {
            url: case["received_url"].as_str().unwrap(),
            signature: Some(expected_signature),
            settings: settings.as_deref(),
            payload,
            account: Some(account),
        });
        assert_eq!(
            verdict.result.is_ok(),
            case["valid"].as_bool().unwrap(),
            "{name}: twilio-python says {}, we say {:?}; tried {:?}",
            case["valid"],
            verdict.result,
            verdict.attempts
        );
    }
}

#[test]
fn rotation_accepts_previous_token_and_names_it() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let account = support::ACCOUNT;
    std::fs::write(
        file.path(),
        format!("[[accounts]]\naccount_sid = \"{account}\"\nauth_token = \"new-token\"\nprevious_auth_tokens = [\"old-token\"]\n"),
    )
    .unwrap();
    let config = Config::load_from(Some(file.path()), []).unwrap();
    let verifier = Verifier::from_config(&config);
    let url = "https://hooks.example.com/twilio/status-callback";
    let params = vec![
        ("AccountSid".to_owned(), account.to_owned()),
        ("Status".to_owned(), "draft".to_owned()),
    ];
    let borrowed: Vec<(&str, &str)> = params.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    for (token, label) in [
        ("new-token", "token 1 (current)"),
        ("old-token", "token 2 (previous)"),
    ] {
        let sig = support::sign(url, &borrowed, token);
        let verdict = verifier.verify(&SignedRequest {
            url,
            signature: Some(&sig),
            settings: None,
            payload: Payload::Form(&params),
            account: Some(account),
        });
        let verified = verdict.result.unwrap();
        assert!(verified.credential.ends_with(label), "{}", verified.credential);
    }
    let forged = support::sign(url, &borrowed, "retired-token");
    let verdict = verifier.verify(&SignedRequest {
        url,
        signature: Some(&forged),
        settings: None,
        payload: Payload::Form(&params),
        account: Some(account),
    });
    assert!(verdict.result.is_err());
    // Two URL variants times two tokens, each reported.
    assert_eq!(verdict.attempts.len(), 4, "{:?}", verdict.attempts);
}

#[test]
fn override_token_is_used_alone() {
    let config = Config::load_from(None, []).unwrap();
    let verifier = Verifier::from_config(&config).with_token(SecretString::from("cli-token"));
    let url = "http://localhost:8080/cb";
    let sig = support::sign(url, &[("Status", "draft")], "cli-token");
    let params = vec![("Status".to_owned(), "draft".to_owned())];
    let verdict = verifier.verify(&SignedRequest {
        url,
        signature: Some(&sig),
        settings: None,
        payload: Payload::Form(&params),
        account: None,
    });
    assert_eq!(verdict.result.unwrap().credential, "the --token given");
}
