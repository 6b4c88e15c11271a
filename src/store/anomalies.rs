//! The anomaly list: filtering for caseworkers and resolving what a later
//! fact settles.

use sqlx::AnyPool;

use super::{now_text, StoreError, Tx, MAX_PARAMS};

/// An anomaly as listed, to the command line and to the desk.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct Anomaly {
    pub id: i64,
    pub code: String,
    pub person_id: Option<String>,
    pub region_code: Option<String>,
    pub program: Option<String>,
    pub benefit_month: Option<String>,
    pub period: Option<String>,
    pub item_id: Option<i64>,
    pub payment_id: Option<i64>,
    pub run_id: Option<String>,
    pub batch_no: Option<String>,
    pub detail: String,
    pub state: String,
    pub resolution: Option<String>,
    pub resolved_by: Option<String>,
    pub created_at: String,
}

/// The columns of [`Anomaly`].
pub(super) const COLUMNS: &str = "id, code, person_id, region_code, program, benefit_month, period, item_id, \
     payment_id, run_id, batch_no, detail, state, resolution, resolved_by, created_at";

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub code: Option<String>,
    pub period: Option<String>,
    pub region_prefix: Option<String>,
    pub run_id: Option<String>,
    pub state: Option<String>,
}

impl Filter {
    /// Appends ` AND …` conditions for the filter to `cond`, their values to
    /// `binds` (numbered after those already there).
    pub(super) fn push_conditions(&self, cond: &mut String, binds: &mut Vec<String>) {
        let mut add = |clause: &str, value: String| {
            binds.push(value);
            cond.push_str(&clause.replace("{}", &format!("${}", binds.len())));
        };
        if let Some(c) = &self.code {
            add(" AND code = {}", c.clone());
        }
        if let Some(p) = &self.period {
            add(" AND COALESCE(period, benefit_month) = {}", p.clone());
        }
        if let Some(r) = &self.region_prefix {
            add(" AND region_code LIKE {}", format!("{r}%"));
        }
        if let Some(r) = &self.run_id {
            add(" AND run_id = {}", r.clone());
        }
        if let Some(s) = &self.state {
            add(" AND state = {}", s.clone());
        }
    }
}

/// Anomalies matching the filter, newest first, `limit` at most.
pub async fn list(pool: &AnyPool, f: &Filter, limit: i64) -> Result<Vec<Anomaly>, StoreError> {
    let mut sql = format!("SELECT {COLUMNS} FROM anomalies WHERE 1 = 1");
    let mut binds: Vec<String> = Vec::new();
    f.push_conditions(&mut sql, &mut binds);
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
