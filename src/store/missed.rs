//! Due keys that are not paid: items in any state but paid, cancelled or
//! not payable, and roster lines whose key no run ever took.

use sqlx::AnyPool;

use super::StoreError;

/// One unpaid due key with the payout period it was due in.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Unpaid {
    pub item_id: Option<i64>,
    pub person_id: String,
    pub program: String,
    pub benefit_month: String,
    pub period: String,
    pub state: String,
    pub reason: Option<String>,
    pub amount_fen: i64,
    pub region_code: Option<String>,
}

/// Unpaid due keys of payout periods up to `last_period`, in person order.
pub async fn unpaid(pool: &AnyPool, last_period: &str) -> Result<Vec<Unpaid>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT i.id AS item_id, i.person_id, i.program, i.benefit_month, COALESCE(l.period, i.benefit_month) AS period, \
         i.state, i.hold_code AS reason, i.amount_fen, COALESCE(p.region_code, l.region_code) AS region_code \
         FROM items i LEFT JOIN roster_lines l ON l.id = i.roster_line_id LEFT JOIN persons p ON p.person_id = i.person_id \
         WHERE i.state NOT IN ('paid', 'cancelled', 'not_payable') AND COALESCE(l.period, i.benefit_month) <= $1 \
         UNION ALL \
         SELECT NULL, l.person_id, l.program, l.benefit_month, MIN(l.period), 'never included', NULL, MIN(l.amount_fen), \
         COALESCE(MIN(p.region_code), MIN(l.region_code)) FROM roster_lines l LEFT JOIN persons p ON p.person_id = l.person_id \
         WHERE l.period <= $1 AND NOT EXISTS (SELECT 1 FROM items i WHERE i.person_id = l.person_id \
         AND i.program = l.program AND i.benefit_month = l.benefit_month) \
         GROUP BY l.person_id, l.program, l.benefit_month ORDER BY 2, 3, 4",
    )
    .bind(last_period)
    .fetch_all(pool)
    .await?)
}
