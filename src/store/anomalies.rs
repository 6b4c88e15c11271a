//! The anomaly list: filtering for caseworkers and resolving what a later
//! fact settles.

use sqlx::AnyPool;

use super::{now_text, StoreError, Tx, MAX_PARAMS};

#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Anomaly {
    pub id: i64,
    pub code: String,
    pub person_id: Option<String>,
    pub region_code: Option<String>,
    pub program: Option<String>,
    pub benefit_month: Option<String>,
    pub period: Option<String>,
    pub run_id: Option<String>,
    pub batch_no: Option<String>,
    pub detail: String,
    pub state: String,
    pub created_at: String,
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub code: Option<String>,
    pub period: Option<String>,
    pub region_prefix: Option<String>,
    pub run_id: Option<String>,
    pub open_only: bool,
}

/// Anomalies matching the filter, newest first, `limit` at most.
pub async fn list(pool: &AnyPool, f: &Filter, limit: i64) -> Result<Vec<Anomaly>, StoreError> {
    let mut sql = String::from(
        "SELECT id, code, person_id, region_code, program, benefit_month, period, run_id, batch_no, detail, state, \
         created_at FROM anomalies WHERE 1 = 1",
    );
    let mut binds: Vec<String> = Vec::new();
    let mut add = |clause: &str, value: String| {
        binds.push(value);
        sql.push_str(&clause.replace("{}", &format!("${}", binds.len())));
    };
    if let Some(c) = &f.code {
        add(" AND code = {}", c.clone());
    }
    if let Some(p) = &f.period {
        add(" AND COALESCE(period, benefit_month) = {}", p.clone());
    }
    if let Some(r) = &f.region_prefix {
        add(" AND region_code LIKE {}", format!("{r}%"));
    }
    if let Some(r) = &f.run_id {
        add(" AND run_id = {}", r.clone());
    }
    if f.open_only {
        sql.push_str(" AND state = 'open'");
    }
    sql.push_str(&format!(" ORDER BY id DESC LIMIT {limit}"));
    let mut q = sqlx::query_as::<_, Anomaly>(&sql);
    for b in &binds {
        q = q.bind(b);
    }
    Ok(q.fetch_all(pool).await?)
}

/// Payments the bank has now settled are no longer missing from its returns.
pub async fn resolve_missing(tx: &mut Tx, payment_ids: &[i64], file_id: i64) -> Result<(), StoreError> {
    let now = now_text();
    for chunk in payment_ids.chunks(MAX_PARAMS - 2) {
        let sql = format!(
            "UPDATE anomalies SET state = 'resolved', resolution = {}, resolved_at = {} WHERE code = 'missing_in_return' \
             AND state = 'open' AND payment_id IN ({})",
            tx.param(1),
            tx.param(2),
            tx.list_after(2, chunk.len())
        );
        let mut q = sqlx::query(&sql).bind(format!("settled by return file {file_id}")).bind(&now);
        for id in chunk {
            q = q.bind(id);
        }
        q.execute(tx.conn()).await?;
    }
    Ok(())
}
