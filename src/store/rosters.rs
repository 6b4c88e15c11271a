//! Roster lines as delivered by departments.

use super::{StoreError, Tx, MAX_PARAMS};

/// One validated roster line, ready to store.
#[derive(Debug, Clone)]
pub struct NewRosterLine {
    pub line_no: u64,
    pub program: &'static str,
    pub period: String,
    pub benefit_month: String,
    pub person_id: String,
    pub name: String,
    pub amount_fen: i64,
    pub region_code: String,
    pub source_ref: Option<String>,
}

const COLS: usize = 10;

/// Inserts lines in multi-row statements.
pub async fn insert_lines(tx: &mut Tx, file_id: i64, lines: &[NewRosterLine]) -> Result<(), StoreError> {
    for chunk in lines.chunks(MAX_PARAMS / COLS) {
        let sql = format!(
            "INSERT INTO roster_lines (source_file_id, line_no, program, period, benefit_month, person_id, name, \
             amount_fen, region_code, source_ref) VALUES {}",
            tx.values(chunk.len(), COLS)
        );
        let mut q = sqlx::query(&sql);
        for l in chunk {
            q = q
                .bind(file_id)
                .bind(l.line_no as i64)
                .bind(l.program)
                .bind(&l.period)
                .bind(&l.benefit_month)
                .bind(&l.person_id)
                .bind(&l.name)
                .bind(l.amount_fen)
                .bind(&l.region_code)
                .bind(&l.source_ref);
        }
        q.execute(tx.conn()).await?;
    }
    Ok(())
}

/// A roster line as a caseworker sees it under a person.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct PersonRosterLine {
    pub program: String,
    pub period: String,
    pub benefit_month: String,
    pub name: String,
    pub amount_fen: i64,
    pub region_code: String,
    pub source_ref: Option<String>,
    pub file_name: String,
    pub line_no: i64,
}

pub async fn lines_of_person(pool: &sqlx::AnyPool, person_id: &str) -> Result<Vec<PersonRosterLine>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT l.program, l.period, l.benefit_month, l.name, l.amount_fen, l.region_code, l.source_ref, \
         f.file_name, l.line_no FROM roster_lines l JOIN source_files f ON f.id = l.source_file_id \
         WHERE l.person_id = $1 ORDER BY l.period DESC, l.program, l.id",
    )
    .bind(person_id)
    .fetch_all(pool)
    .await?)
}
