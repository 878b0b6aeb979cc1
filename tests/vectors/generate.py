#!/usr/bin/env python3
"""Regenerates tests/vectors/twilio_python.json with twilio-python's own RequestValidator.

The Rust tests check that our verifier agrees with twilio-python on every case, so that
the signatures are never invented by hand. Run: pip install twilio && python3 generate.py
"""
import json
import os
from hashlib import sha256

import twilio
from twilio.request_validator import RequestValidator

TOKEN = "12345678901234567890123456789012"
OTHER_TOKEN = "abcdefabcdefabcdefabcdefabcdefab"
SHARED_KEY = "sk_secret_for_tests_0123456789"
ACCOUNT = "AC" + "a" * 32
BUNDLE = "BU" + "b" * 32


class Multi(dict):
    """A MultiDict as Flask gives it: twilio-python reads repeated names with getall()."""

    def __init__(self, pairs):
        super().__init__()
        self.pairs = pairs
        for k, v in pairs:
            self.setdefault(k, v)

    def getall(self, name):
        return [v for k, v in self.pairs if k == name]


def case(name, signed_url, received_url, params=None, body=None, token=TOKEN,
         verify_token=None, algorithm=None, tamper=None):
    signer = RequestValidator(token)
    if body is not None:
        signature = signer.compute_signature(signed_url, {}, algorithm)
        payload = body if tamper is None else tamper
    else:
        signature = signer.compute_signature(signed_url, Multi(params), algorithm)
        payload = Multi(params if tamper is None else tamper)
    checker = RequestValidator(verify_token or token)
    valid = checker.validate(received_url, payload, signature, algorithm)
    return {
        "name": name,
        "sign_token": token,
        "verify_token": verify_token or token,
        "algorithm": algorithm or "HMAC_SHA1",
        "signed_url": signed_url,
        "received_url": received_url,
        "params": None if body is not None else (params if tamper is None else tamper),
        "body": None if body is None else payload,
        "signature": signature,
        "valid": valid,
        "tampered": tamper is not None,
    }


def callback(status, reason=None):
    p = [("AccountSid", ACCOUNT), ("BundleSid", BUNDLE), ("Status", status)]
    if reason:
        p.append(("FailureReason", reason))
    return p


JSON_BODY = json.dumps({"AccountSid": ACCOUNT, "BundleSid": BUNDLE, "Status": "twilio-approved"})
JSON_HASH = sha256(JSON_BODY.encode()).hexdigest()
CB = "https://hooks.example.com/twilio/status-callback"

cases = [
    case("form, url as received", CB, CB, callback("in-review")),
    case("twilio signed :443, received without port", "https://hooks.example.com:443/twilio/status-callback", CB, callback("in-review")),
    case("twilio signed without port, received with :443", CB, "https://hooks.example.com:443/twilio/status-callback", callback("in-review")),
    case("non-default port kept", "https://hooks.example.com:8443/cb", "https://hooks.example.com:8443/cb", callback("draft")),
    case("http with :80", "http://hooks.example.com:80/cb", "http://hooks.example.com/cb", callback("draft")),
    case("raw query kept encoded", CB + "?tenant=a%20b&To=%2B15551234567", CB + "?tenant=a%20b&To=%2B15551234567", callback("pending-review")),
    case("query re-encoded does not match", CB + "?To=%2B15551234567", CB + "?To=+15551234567", callback("pending-review")),
    case("host case matters", "https://Hooks.Example.com/twilio/status-callback", CB, callback("draft")),
    case("trailing slash matters", CB + "/", CB, callback("draft")),
    case("repeated names: values deduplicated and sorted", CB, CB,
         callback("twilio-rejected") + [("Errors", "b"), ("Errors", "a"), ("Errors", "b")]),
    case("names sorted byte-wise", CB, CB, [("b", "1"), ("B", "2"), ("_", "3"), ("a", "4"), ("Z", "5")]),
    case("unicode values", CB, CB, callback("twilio-rejected", "Nom d'entreprise « Café » invalide ✓")),
    case("empty parameters", CB, CB, []),
    case("wrong token", CB, CB, callback("in-review"), verify_token=OTHER_TOKEN),
    case("tampered status", CB, CB, callback("twilio-rejected"), tamper=callback("twilio-approved")),
    case("parameter added", CB, CB, callback("in-review"), tamper=callback("in-review") + [("Extra", "1")]),
    case("json body with bodySHA256", CB + "?bodySHA256=" + JSON_HASH, CB + "?bodySHA256=" + JSON_HASH, body=JSON_BODY),
    case("json body with bodySHA256 and :443", "https://hooks.example.com:443/twilio/status-callback?bodySHA256=" + JSON_HASH,
         CB + "?bodySHA256=" + JSON_HASH, body=JSON_BODY),
    case("json body tampered", CB + "?bodySHA256=" + JSON_HASH, CB + "?bodySHA256=" + JSON_HASH,
         body=JSON_BODY, tamper=JSON_BODY.replace("approved", "rejected")),
    case("shared key HMAC_SHA256", CB, CB, callback("twilio-approved"), token=SHARED_KEY, algorithm="HMAC_SHA256"),
    case("shared key HMAC_SHA256 without port", "https://hooks.example.com:443/twilio/status-callback", CB,
         callback("twilio-approved"), token=SHARED_KEY, algorithm="HMAC_SHA256"),
    case("shared key HMAC_SHA256 with wrong secret", CB, CB, callback("twilio-approved"), token=SHARED_KEY,
         verify_token=TOKEN, algorithm="HMAC_SHA256"),
    case("shared key json body", CB + "?bodySHA256=" + JSON_HASH, CB + "?bodySHA256=" + JSON_HASH,
         body=JSON_BODY, token=SHARED_KEY, algorithm="HMAC_SHA256"),
]

# Whole requests for the integration tests: the server runs with PUBLIC_URL below and
# receives these on loopback, as behind a TLS-terminating proxy.
PUBLIC_URL = "https://hooks.example.com/th"
requests = []
for i, status in enumerate(["pending-review", "in-review", "twilio-rejected"]):
    params = callback(status, "Business name mismatch" if status == "twilio-rejected" else None)
    url = PUBLIC_URL + "/twilio/status-callback"
    requests.append({
        "path": "/th/twilio/status-callback",
        "params": params,
        "signature": RequestValidator(TOKEN).compute_signature(url, Multi(params)),
    })

out = {
    "generator": "twilio-python " + twilio.__version__,
    "token": TOKEN,
    "shared_key": SHARED_KEY,
    "account_sid": ACCOUNT,
    "bundle_sid": BUNDLE,
    "public_url": PUBLIC_URL,
    "cases": cases,
    "requests": requests,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "twilio_python.json")
with open(path, "w", encoding="utf-8") as f:
    json.dump(out, f, indent=1, ensure_ascii=False)
    f.write("\n")
print(f"wrote {len(cases)} cases and {len(requests)} requests to {path}")
