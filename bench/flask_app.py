"""The baseline bench/run compares against: what a user would otherwise write. Flask, Twilio's
own RequestValidator, and SQLite (WAL, one commit per callback), under gunicorn."""

import os
import sqlite3

from flask import Flask, abort, request
from twilio.request_validator import RequestValidator

app = Flask(__name__)
validator = RequestValidator(os.environ["TWILIO_AUTH_TOKEN"])
PUBLIC_URL = os.environ["PUBLIC_URL"].rstrip("/")
_db = None


def db():
    global _db
    if _db is None:
        _db = sqlite3.connect(os.environ["FLASK_DB"], timeout=30, isolation_level=None)
        _db.execute("pragma journal_mode=wal")
        _db.execute("pragma synchronous=normal")
        _db.execute(
            "create table if not exists callbacks (id integer primary key, token text unique,"
            " sid text, status text, failure_reason text, received_at real default (julianday('now')))"
        )
        _db.execute("create table if not exists profiles (sid text primary key, status text)")
    return _db


@app.get("/readyz")
def ready():
    db()
    return "", 200


@app.post("/twilio/status-callback")
def callback():
    url = PUBLIC_URL + request.path
    if request.query_string:
        url += "?" + request.query_string.decode()
    if not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
        abort(403)
    form = request.form
    conn = db()
    conn.execute("begin immediate")
    try:
        cur = conn.execute(
            "insert or ignore into callbacks (token, sid, status, failure_reason) values (?, ?, ?, ?)",
            (request.headers.get("I-Twilio-Idempotency-Token"), form["BundleSid"], form["Status"],
             form.get("FailureReason")),
        )
        if cur.rowcount:
            conn.execute(
                "insert into profiles (sid, status) values (?, ?)"
                " on conflict (sid) do update set status = excluded.status",
                (form["BundleSid"], form["Status"]),
            )
        conn.execute("commit")
    except Exception:
        conn.execute("rollback")
        raise
    return "", 204
