//! Trust Hub evaluations on SQLite.

use super::{micros, SqliteStore};
use crate::store::{json_text, EvaluationRecord, EvaluationStore, StoreError};
use async_trait::async_trait;
use rusqlite::params;

#[async_trait]
impl EvaluationStore for SqliteStore {
    async fn save_evaluation(&self, e: &EvaluationRecord) -> Result<(), StoreError> {
        let e = e.clone();
        self.writer
            .write(move |tx| {
                tx.prepare_cached(
                    "insert into evaluations (sid, profile_sid, account_sid, policy_sid, status, results,
                                              profile_errors, date_created, fetched_at, transition_id)
                     values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                     on conflict (sid) do update set status = excluded.status, results = excluded.results,
                         profile_errors = excluded.profile_errors, fetched_at = excluded.fetched_at,
                         transition_id = coalesce(excluded.transition_id, evaluations.transition_id)",
                )?
                .execute(params![
                    e.sid,
                    e.profile_sid,
                    e.account_sid,
                    e.policy_sid,
                    e.status,
                    json_text(&e.results)?,
                    json_text(&e.profile_errors)?,
                    e.date_created,
                    micros(e.fetched_at),
                    e.transition_id,
                ])?;
                Ok(())
            })
            .await
    }

    async fn evaluations(&self, profile_sid: &str) -> Result<Vec<EvaluationRecord>, StoreError> {
        let rows = sqlx::query(
            "select * from evaluations where profile_sid = $1 order by fetched_at desc, sid desc",
        )
        .bind(profile_sid)
        .fetch_all(&self.reader)
        .await?;
        rows.iter().map(crate::store::rows::evaluation).collect()
    }
}
