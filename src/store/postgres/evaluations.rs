//! Trust Hub evaluations on PostgreSQL.

use super::PostgresStore;
use crate::store::{EvaluationRecord, EvaluationStore, StoreError};
use async_trait::async_trait;

#[async_trait]
impl EvaluationStore for PostgresStore {
    async fn save_evaluation(&self, e: &EvaluationRecord) -> Result<(), StoreError> {
        sqlx::query(
            "insert into evaluations (sid, profile_sid, account_sid, policy_sid, status, results, profile_errors,
                                      date_created, fetched_at, transition_id)
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
             on conflict (sid) do update set status = excluded.status, results = excluded.results,
                 profile_errors = excluded.profile_errors, fetched_at = excluded.fetched_at,
                 transition_id = coalesce(excluded.transition_id, evaluations.transition_id)",
        )
        .bind(&e.sid)
        .bind(&e.profile_sid)
        .bind(e.account_sid.as_deref())
        .bind(e.policy_sid.as_deref())
        .bind(&e.status)
        .bind(&e.results)
        .bind(&e.profile_errors)
        .bind(e.date_created.as_deref())
        .bind(e.fetched_at)
        .bind(e.transition_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn evaluations(&self, profile_sid: &str) -> Result<Vec<EvaluationRecord>, StoreError> {
        let rows = sqlx::query(
            "select * from evaluations where profile_sid = $1 order by fetched_at desc, sid desc",
        )
        .bind(profile_sid)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(crate::store::rows::evaluation).collect()
    }
}
