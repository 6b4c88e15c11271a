//! The 遗漏 report: every due key — a roster line or a computed elderly
//! item — not paid a configurable number of days after the end of its payout
//! period, whatever the reason, raised once as `missed_payment` and listed
//! by region and program.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::Serialize;

use crate::config::Config;
use crate::domain::ids::mask_person_id;
use crate::domain::{AnomalyCode, Money, Period};
use crate::jobs::run::Figure;
use crate::store::runs::{insert_anomalies, NewAnomaly};
use crate::store::{missed, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct MissedReport {
    pub as_of: String,
    /// Keys due in payout periods up to this one are past their deadline.
    pub periods_up_to: String,
    pub missed: Figure,
    /// Newly raised by this report (the others were raised before).
    pub raised: u64,
    /// By district (6-digit region prefix) and program.
    pub by_region_program: Vec<MissedGroup>,
    pub keys: Vec<MissedKey>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MissedGroup {
    pub region: String,
    pub program: String,
    pub count: i64,
    pub amount: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MissedKey {
    pub person_id: String,
    pub region_code: Option<String>,
    pub program: String,
    pub benefit_month: String,
    pub period: String,
    pub state: String,
    pub reason: Option<String>,
    pub amount: String,
}

/// The latest payout period whose deadline has passed on `as_of`.
fn last_overdue_period(as_of: NaiveDate, days: u32) -> Period {
    let mut p = Period::of(as_of);
    while p.last_day() + chrono::Days::new(u64::from(days)) >= as_of {
        p = p.prev();
    }
    p
}

#[tracing::instrument(skip(store, config))]
pub async fn report(store: &Store, config: &Config, as_of: NaiveDate) -> Result<MissedReport, StoreError> {
    let last = last_overdue_period(as_of, config.deadlines.missed_payment_days);
    let rows = missed::unpaid(store.pool(), &last.to_string()).await?;
    let anomalies: Vec<NewAnomaly> = rows
        .iter()
        .map(|r| NewAnomaly {
            code: AnomalyCode::MissedPayment.as_str(),
            dedupe_key: format!("missed:{}:{}:{}", r.person_id, r.program, r.benefit_month),
            person_id: Some(r.person_id.clone()),
            region_code: r.region_code.clone(),
            program: Some(r.program.clone()),
            benefit_month: Some(r.benefit_month.clone()),
            period: Some(r.period.clone()),
            item_id: r.item_id,
            payment_id: None,
            roster_line_id: None,
            run_id: None,
            batch_no: None,
            source_file_id: None,
            detail: format!(
                "due in {} and not paid by {as_of}: {}{}",
                r.period,
                r.state,
                r.reason.as_ref().map(|x| format!(" ({x})")).unwrap_or_default()
            ),
        })
        .collect();
    let mut tx = store.begin_write().await?;
    let raised = insert_anomalies(&mut tx, &anomalies).await?;
    tx.commit().await?;
    let mut groups: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    for r in &rows {
        let region = r.region_code.as_deref().map_or("-".to_string(), |c| c[..c.len().min(6)].to_string());
        let g = groups.entry((region, r.program.clone())).or_default();
        *g = (g.0 + 1, g.1 + r.amount_fen);
    }
    let total = rows.iter().fold((0, 0), |(c, a), r| (c + 1, a + r.amount_fen));
    Ok(MissedReport {
        as_of: as_of.to_string(),
        periods_up_to: last.to_string(),
        missed: Figure::from_fen(total),
        raised,
        by_region_program: groups
            .into_iter()
            .map(|((region, program), (count, fen))| MissedGroup {
                region,
                program,
                count,
                amount: Money::from_fen(fen).unwrap_or_default().to_string(),
            })
            .collect(),
        keys: rows
            .into_iter()
            .map(|r| MissedKey {
                person_id: mask_person_id(&r.person_id),
                region_code: r.region_code,
                program: r.program,
                benefit_month: r.benefit_month,
                period: r.period,
                state: r.state,
                reason: r.reason,
                amount: Money::from_fen(r.amount_fen).unwrap_or_default().to_string(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_period_is_overdue_45_days_after_its_end() {
        let d = |s| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        // November ends on the 30th; 45 days later is 14 January.
        assert_eq!(last_overdue_period(d("2027-01-14"), 45).to_string(), "2026-10");
        assert_eq!(last_overdue_period(d("2027-01-15"), 45).to_string(), "2026-11");
        assert_eq!(last_overdue_period(d("2026-11-23"), 0).to_string(), "2026-10");
    }
}
