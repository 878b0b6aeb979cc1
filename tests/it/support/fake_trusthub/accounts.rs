//! The 2010-04-01 Accounts API (`shared/twilio/api_v2010_accounts.json`): an account sees
//! itself and its own subaccounts, each record carrying its `auth_token` (as Twilio gives it
//! to the account and to its parent); any other account's SID is a 404. The list pages as the
//! 2010 API does, with top-level `page`, `page_size`, `next_page_uri` (a path).

use super::paging::params;
use super::rules::{invalid, not_found};
use super::state::FakeState;
use super::FakeTrustHub;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

impl FakeState {
    fn account_record(&self, sid: &str) -> Option<Value> {
        let token = self
            .accounts
            .iter()
            .find(|(s, _)| s == sid)
            .map(|(_, t)| t.clone())?;
        let owner = self.parents.get(sid).cloned().unwrap_or_else(|| sid.to_owned());
        Some(json!({
            "auth_token": token,
            "date_created": "Thu, 30 Jul 2015 20:00:00 +0000",
            "date_updated": "Thu, 30 Jul 2015 20:00:00 +0000",
            "friendly_name": format!("account {sid}"),
            "owner_account_sid": owner,
            "sid": sid,
            "status": "active",
            "subresource_uris": {},
            "type": "Full",
            "uri": format!("/2010-04-01/Accounts/{sid}.json"),
        }))
    }

    /// Whether `account` may see `sid`: itself or one of its subaccounts.
    fn sees(&self, account: &str, sid: &str) -> bool {
        sid == account || self.parents.get(sid).is_some_and(|parent| parent == account)
    }

    /// `GET /2010-04-01/Accounts[/{sid}].json`; `None` when the path is neither.
    pub fn accounts_route(
        &mut self,
        account: &str,
        parts: &[&str],
        path: &str,
        query: &str,
    ) -> Option<Response> {
        match parts {
            ["2010-04-01", "Accounts.json"] => Some(self.list_accounts(account, path, query)),
            ["2010-04-01", "Accounts", file] if file.ends_with(".json") && !file.contains('/') => {
                let sid = file.trim_end_matches(".json");
                *self.account_lookups.entry(sid.to_owned()).or_default() += 1;
                Some(
                    match self.account_record(sid).filter(|_| self.sees(account, sid)) {
                        Some(record) => Json(record).into_response(),
                        None => not_found(path),
                    },
                )
            }
            _ => None,
        }
    }

    fn list_accounts(&self, account: &str, path: &str, query: &str) -> Response {
        let params = params(query);
        let size = match params.get("PageSize").map(|v| v.parse::<usize>()) {
            None => 50,
            Some(Ok(size)) if (1..=1000).contains(&size) => size,
            Some(_) => return invalid("PageSize", &params["PageSize"]),
        };
        let page = match params.get("Page").map(|v| v.parse::<usize>()) {
            None => 0,
            Some(Ok(page)) => page,
            Some(Err(_)) => return invalid("Page", &params["Page"]),
        };
        let mut sids: Vec<&String> = self
            .accounts
            .iter()
            .map(|(sid, _)| sid)
            .filter(|sid| self.sees(account, sid))
            .collect();
        sids.sort();
        sids.dedup();
        let records: Vec<Value> = sids.iter().filter_map(|sid| self.account_record(sid)).collect();
        let start = (page * size).min(records.len());
        let end = (start + size).min(records.len());
        let uri = |page: usize| format!("{path}?PageSize={size}&Page={page}");
        let body = json!({
            "accounts": records[start..end],
            "end": end.saturating_sub(1),
            "first_page_uri": uri(0),
            "next_page_uri": (end < records.len()).then(|| uri(page + 1)),
            "page": page,
            "page_size": size,
            "previous_page_uri": (page > 0).then(|| uri(page - 1)),
            "start": start,
            "uri": uri(page),
        });
        Json(body).into_response()
    }
}

impl FakeTrustHub {
    /// A subaccount of `parent`, with its own auth token.
    pub fn add_subaccount(&self, sid: &str, token: &str, parent: &str) {
        self.add_account(sid, token);
        self.with(|s| s.parents.insert(sid.into(), parent.into()));
    }

    /// Twilio rotates an account's auth token (the old one stops working).
    pub fn rotate_token(&self, sid: &str, token: &str) {
        self.with(|s| {
            for (account, old) in &mut s.accounts {
                if account == sid {
                    *old = token.to_owned();
                }
            }
        });
    }

    /// How many times `GET /2010-04-01/Accounts/{sid}.json` was asked, by anyone.
    pub fn account_lookups(&self, sid: &str) -> usize {
        self.with(|s| s.account_lookups.get(sid).copied().unwrap_or(0))
    }
}
