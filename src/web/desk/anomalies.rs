//! The anomaly list within the caller's scope, and a supervisor's
//! resolutions, each through the job the command line uses.

use serde::Serialize;

use super::{need, paging, record};
use crate::domain::ids::mask_person_id;
use crate::domain::{Period, PersonId, Program};
use crate::jobs::casework::{self, CaseworkError};
use crate::store::anomalies::{Anomaly, Filter as AnomalyFilter};
use crate::store::desk;
use crate::web::auth::{Caller, Role};
use crate::web::mask::scrub;
use crate::web::{ApiError, AppState};

#[derive(Debug, Serialize)]
pub struct AnomaliesView {
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
    pub anomalies: Vec<AnomalyView>,
}

#[derive(Debug, Serialize)]
pub struct AnomalyView {
    pub id: i64,
    pub code: String,
    pub person_id: Option<String>,
    pub person_ref: Option<String>,
    pub region_code: Option<String>,
    pub program: Option<String>,
    pub benefit_month: Option<String>,
    pub period: Option<String>,
    pub run_id: Option<String>,
    pub batch_no: Option<String>,
    pub detail: String,
    pub state: String,
    pub resolution: Option<String>,
    pub resolved_by: Option<String>,
    pub created_at: String,
    /// The actions a supervisor may take on it.
    pub actions: Vec<&'static str>,
}

fn anomaly_view(state: &AppState, a: Anomaly) -> AnomalyView {
    let actions = if a.state == "open" { actions_for(&a.code) } else { vec![] };
    AnomalyView {
        id: a.id,
        person_id: a.person_id.as_deref().map(mask_person_id),
        person_ref: a.person_id.as_deref().map(|p| state.refs.issue(p)),
        code: a.code,
        region_code: a.region_code,
        program: a.program,
        benefit_month: a.benefit_month,
        period: a.period,
        run_id: a.run_id,
        batch_no: a.batch_no,
        detail: scrub(&a.detail),
        state: a.state,
        resolution: a.resolution.as_deref().map(scrub),
        resolved_by: a.resolved_by,
        created_at: a.created_at,
        actions,
    }
}

/// Which resolutions fit which anomaly.
pub fn actions_for(code: &str) -> Vec<&'static str> {
    match code {
        "missing_in_return" => vec!["confirm_paid", "confirm_failed"],
        "bank_failed" => vec!["retry", "cancel"],
        "exclusive_conflict" => vec!["settle_conflict", "cancel"],
        "cap_exceeded"
        | "name_mismatch"
        | "unknown_person"
        | "missing_prerequisite"
        | "unemployment_limit"
        | "no_active_card"
        | "missed_payment" => vec!["cancel", "acknowledge"],
        _ => vec!["acknowledge"],
    }
}

pub async fn anomalies(
    state: &AppState,
    caller: &Caller,
    filter: AnomalyFilter,
    page: Option<i64>,
    per_page: Option<i64>,
) -> Result<AnomaliesView, ApiError> {
    need(caller, Role::reads)?;
    let (page, per_page) = paging(page, per_page);
    let (total, rows) =
        desk::anomalies(state.store.pool(), caller.scope.as_str(), &filter, per_page, (page - 1) * per_page).await?;
    let detail = format!(
        "code={} period={} region={} page={page} rows={}",
        filter.code.as_deref().unwrap_or(""),
        filter.period.as_deref().unwrap_or(""),
        filter.region_prefix.as_deref().unwrap_or(""),
        rows.len()
    );
    record(state, caller, "anomalies.list", "", &detail).await?;
    Ok(AnomaliesView { page, per_page, total, anomalies: rows.into_iter().map(|a| anomaly_view(state, a)).collect() })
}

/// A supervisor's decision on one anomaly, through the command line's own jobs.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Resolution {
    pub action: String,
    #[serde(default)]
    pub note: String,
    /// For `settle_conflict`: the program that stays; the other's item is cancelled.
    #[serde(default)]
    pub keep: Option<String>,
}

pub async fn resolve(state: &AppState, caller: &Caller, id: i64, r: &Resolution) -> Result<AnomalyView, ApiError> {
    need(caller, Role::reads)?;
    let pool = state.store.pool();
    let found = desk::anomaly_in_scope(pool, id, caller.scope.as_str()).await?;
    let Some(a) = found else {
        record(state, caller, "anomaly.resolve", &id.to_string(), "404").await?;
        return Err(ApiError::NotFound);
    };
    need(caller, Role::decides)?;
    let outcome = apply(state, caller, &a, r).await;
    let detail =
        format!("{} {} {}: {}", a.code, r.action, if outcome.is_ok() { "done" } else { "refused" }, scrub(&r.note));
    record(state, caller, "anomaly.resolve", &id.to_string(), &detail).await?;
    outcome?;
    let a = desk::anomaly_in_scope(pool, id, caller.scope.as_str()).await?.ok_or(ApiError::NotFound)?;
    Ok(anomaly_view(state, a))
}

async fn apply(state: &AppState, caller: &Caller, a: &Anomaly, r: &Resolution) -> Result<(), ApiError> {
    if a.state != "open" {
        return Err(ApiError::Conflict(format!("anomaly {} is resolved already", a.id)));
    }
    if !actions_for(&a.code).contains(&r.action.as_str()) {
        return Err(ApiError::BadRequest(format!(
            "action '{}' does not fit a {} anomaly (one of: {})",
            r.action,
            a.code,
            actions_for(&a.code).join(", ")
        )));
    }
    let by = caller.username.as_str();
    let note = r.note.trim();
    // The item keys the anomaly concerns: its own, or those of its payment.
    let mut keys: Vec<(PersonId, Program, Period)> = Vec::new();
    let raw_keys = match (&a.person_id, &a.program, &a.benefit_month, a.payment_id) {
        (Some(p), Some(g), Some(m), _) => vec![(p.clone(), g.clone(), m.clone())],
        (_, _, _, Some(payment)) => desk::items_of_payment(state.store.pool(), payment).await?,
        _ => vec![],
    };
    for (p, g, m) in raw_keys {
        if let (Ok(p), Some(g), Ok(m)) = (PersonId::parse(&p), Program::parse(&g), Period::parse("month", &m)) {
            keys.push((p, g, m));
        }
    }
    let key = || keys.first().cloned().ok_or_else(|| ApiError::Conflict(format!("anomaly {} names no item", a.id)));
    let done = match r.action.as_str() {
        "confirm_paid" | "confirm_failed" => {
            let payment = a.payment_id.ok_or_else(|| ApiError::Conflict("the anomaly names no payment".into()))?;
            let serial = desk::serial_of(state.store.pool(), payment).await?.ok_or(ApiError::NotFound)?;
            casework::confirm_payment(&state.store, &serial, r.action == "confirm_paid", by, note).await
        }
        "retry" => {
            key()?;
            let mut done = Ok(());
            for (p, g, m) in &keys {
                done = done.and(casework::order_retry(&state.store, p, *g, *m, by).await);
            }
            done
        }
        "cancel" => {
            if note.is_empty() {
                return Err(ApiError::BadRequest("a cancellation needs a reason in the note".into()));
            }
            key()?;
            let mut done = Ok(());
            for (p, g, m) in &keys {
                done = done.and(casework::cancel_item(&state.store, p, *g, *m, note, by).await);
            }
            done
        }
        "settle_conflict" => {
            let (p, g, m) = key()?;
            let keep =
                r.keep.as_deref().and_then(Program::parse).ok_or_else(|| {
                    ApiError::BadRequest("settle_conflict needs \"keep\": the program that stays".into())
                })?;
            let other = state
                .config
                .exclusive
                .iter()
                .find_map(|&(x, y)| match (x == keep, y == keep) {
                    (true, _) => Some(y),
                    (_, true) => Some(x),
                    _ => None,
                })
                .ok_or_else(|| ApiError::BadRequest(format!("{keep} is in no exclusive pair")))?;
            let reason = format!("exclusive with {keep}, which is kept: {note}");
            casework::cancel_item(&state.store, &p, other, m, &reason, by).await?;
            if g == other {
                Ok(())
            } else {
                resolve_note(state, a.id, &format!("settled: {keep} kept, {other} cancelled by {by}: {note}"), by).await
            }
        }
        _ => {
            if note.is_empty() {
                return Err(ApiError::BadRequest("an acknowledgement needs a note".into()));
            }
            resolve_note(state, a.id, &format!("acknowledged by {by}: {note}"), by).await
        }
    };
    done?;
    // The job resolves the anomalies its decision settles; this one is resolved in any case.
    Ok(resolve_note(state, a.id, &format!("{} by {by}: {note}", r.action), by).await?)
}

impl From<CaseworkError> for ApiError {
    fn from(e: CaseworkError) -> ApiError {
        match e {
            CaseworkError::Refused(m) => ApiError::Conflict(scrub(&m)),
            CaseworkError::Store(s) => ApiError::from(s),
        }
    }
}

async fn resolve_note(state: &AppState, id: i64, note: &str, by: &str) -> Result<(), CaseworkError> {
    let mut tx = state.store.begin_write().await?;
    desk::resolve_anomaly(&mut tx, id, note, by).await?;
    tx.commit().await?;
    Ok(())
}
