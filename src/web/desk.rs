//! What the desk answers, shared by the JSON API and the pages: each
//! function checks the role, applies the region scope in the store's query,
//! records the access, and returns a view with every identifier masked.

use std::collections::BTreeMap;

use serde::Serialize;

use super::auth::{Caller, Role};
use super::mask::scrub;
use super::{ApiError, AppState};
use crate::domain::ids::{mask_account, mask_person_id};
use crate::domain::{CardNo, Money, Period, PersonId, Program};
use crate::jobs::run::{self as jobs_run, Figure, RunError, RunSummary};
use crate::store::desk::{self, Query};
use crate::store::runs;

mod anomalies;
pub use anomalies::{actions_for, anomalies, resolve, AnomaliesView, AnomalyView, Resolution};

fn money(fen: i64) -> String {
    Money::from_fen(fen).unwrap_or_default().to_string()
}

fn need(caller: &Caller, ok: fn(Role) -> bool) -> Result<(), ApiError> {
    if ok(caller.role) {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

async fn record(state: &AppState, caller: &Caller, action: &str, subject: &str, detail: &str) -> Result<(), ApiError> {
    if state.audit.record(&caller.username, action, subject, &caller.remote, detail).await {
        Ok(())
    } else {
        Err(ApiError::Internal("the access log cannot be written".into()))
    }
}

/// A person named by a whole id or by a reference handed out in a list.
fn resolve_person(state: &AppState, raw: &str) -> Option<PersonId> {
    match state.refs.lookup(raw) {
        Some(id) => PersonId::parse(&id).ok(),
        None => PersonId::parse(raw).ok(),
    }
}

/// Looks the person up within scope and records the read; an unknown or
/// out-of-scope person is the same 404 after the same work.
async fn person_row(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    action: &str,
) -> Result<(PersonId, desk::PersonRow), ApiError> {
    need(caller, Role::reads)?;
    let id = resolve_person(state, raw);
    let row = match &id {
        Some(id) => desk::person_in_scope(state.store.pool(), id.as_str(), caller.scope.as_str()).await?,
        None => None,
    };
    let subject = id.as_ref().map(|i| i.as_str().to_string()).unwrap_or_else(|| scrub(raw));
    record(state, caller, action, &subject, if row.is_some() { "200" } else { "404" }).await?;
    match (id, row) {
        (Some(id), Some(row)) => Ok((id, row)),
        _ => Err(ApiError::NotFound),
    }
}

#[derive(Debug, Serialize)]
pub struct PersonView {
    pub person_id: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub name: String,
    pub region_code: String,
    pub gender: Option<String>,
    pub birth_date: Option<String>,
    pub phone: Option<String>,
    pub death_date: Option<String>,
    pub card_state: Option<String>,
    pub cards: Vec<crate::jobs::status::CardView>,
    pub card_history: Vec<crate::jobs::status::CardEventView>,
    pub entitlements: BTreeMap<String, Entitlement>,
}

/// One program's items for the person.
#[derive(Debug, Serialize, Default)]
pub struct Entitlement {
    pub name: String,
    pub months: i64,
    pub latest_month: String,
    pub latest_amount: String,
    pub paid: Figure,
    pub open: Figure,
    pub states: BTreeMap<String, i64>,
}

impl Default for Figure {
    fn default() -> Figure {
        Figure::from_fen((0, 0))
    }
}

pub async fn person(state: &AppState, caller: &Caller, raw: &str) -> Result<PersonView, ApiError> {
    let (id, row) = person_row(state, caller, raw, "person.read").await?;
    let status = crate::jobs::status::person_status(&state.store, &id).await?;
    let mut entitlements: BTreeMap<String, Entitlement> = BTreeMap::new();
    let mut fen: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
    // Items come newest month first.
    for i in &status.items {
        let e = entitlements.entry(i.program.clone()).or_insert_with(|| Entitlement {
            name: Program::parse(&i.program)
                .and_then(|p| state.config.programs.get(&p))
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            latest_month: i.benefit_month.clone(),
            latest_amount: i.amount.clone(),
            ..Default::default()
        });
        e.months += 1;
        *e.states.entry(i.state.clone()).or_default() += 1;
        let amount = Money::parse(&i.amount).map(Money::fen).unwrap_or(0);
        let f = fen.entry(i.program.clone()).or_default();
        match i.state.as_str() {
            "paid" => {
                f.0 += 1;
                f.1 += amount;
            }
            "cancelled" | "not_payable" => {}
            _ => {
                f.2 += 1;
                f.3 += amount;
            }
        }
    }
    for (program, (pc, pa, oc, oa)) in fen {
        if let Some(e) = entitlements.get_mut(&program) {
            e.paid = Figure::from_fen((pc, pa));
            e.open = Figure::from_fen((oc, oa));
        }
    }
    Ok(PersonView {
        person_id: id.masked(),
        reference: state.refs.issue(id.as_str()),
        name: row.name,
        region_code: row.region_code,
        gender: status.gender,
        birth_date: status.birth_date,
        phone: status.phone,
        death_date: status.death_date,
        card_state: row.card_state,
        cards: status.cards,
        card_history: status.card_history,
        entitlements,
    })
}

#[derive(Debug, Serialize)]
pub struct PaymentsView {
    pub person_id: String,
    pub from: String,
    pub to: String,
    pub months: Vec<MonthView>,
}

#[derive(Debug, Serialize)]
pub struct MonthView {
    pub month: String,
    pub payments: Vec<PaymentView>,
    /// Items of this benefit month that no payment carries: held, pending, cancelled.
    pub unpaid_items: Vec<UnpaidItemView>,
}

#[derive(Debug, Serialize)]
pub struct PaymentView {
    pub serial_no: String,
    pub run_id: String,
    pub bank_code: String,
    pub account_no: String,
    pub amount: String,
    pub state: String,
    pub bank_reason: Option<String>,
    pub bank_reason_code: Option<String>,
    pub bank_reason_text: Option<String>,
    pub settled_at: Option<String>,
    pub items: Vec<PaidItemView>,
}

#[derive(Debug, Serialize)]
pub struct PaidItemView {
    pub program: String,
    pub benefit_month: String,
    pub amount: String,
    pub state: String,
}

#[derive(Debug, Serialize)]
pub struct UnpaidItemView {
    pub program: String,
    pub benefit_month: String,
    pub amount: String,
    pub state: String,
    pub reason: Option<String>,
}

pub async fn payments(
    state: &AppState,
    caller: &Caller,
    raw: &str,
    from: Option<&str>,
    to: Option<&str>,
) -> Result<PaymentsView, ApiError> {
    let month = |field, v: Option<&str>, default: &str| -> Result<String, ApiError> {
        match v.filter(|s| !s.is_empty()) {
            Some(s) => Ok(Period::parse(field, s).map_err(|e| ApiError::BadRequest(e.to_string()))?.to_string()),
            None => Ok(default.to_string()),
        }
    };
    let (from, to) = (month("from", from, "1900-01")?, month("to", to, "2999-12")?);
    let (id, _) = person_row(state, caller, raw, "person.payments").await?;
    let (pays, items, open) = desk::payments_of(state.store.pool(), id.as_str(), &from, &to).await?;
    let mut months: BTreeMap<String, MonthView> = BTreeMap::new();
    let month_of = |months: &mut BTreeMap<String, MonthView>, m: &str| {
        months.remove(m).unwrap_or_else(|| MonthView { month: m.to_string(), payments: vec![], unpaid_items: vec![] })
    };
    for p in pays {
        let mut view = month_of(&mut months, &p.period);
        view.payments.push(PaymentView {
            items: items
                .iter()
                .filter(|i| i.payment_id == p.id)
                .map(|i| PaidItemView {
                    program: i.program.clone(),
                    benefit_month: i.benefit_month.clone(),
                    amount: money(i.amount_fen),
                    state: i.state.clone(),
                })
                .collect(),
            serial_no: p.serial_no,
            run_id: p.run_id,
            bank_code: p.bank_code,
            account_no: mask_account(&p.account_no),
            amount: money(p.amount_fen),
            state: p.state,
            bank_reason: p.bank_reason,
            bank_reason_code: p.bank_reason_code,
            bank_reason_text: p.bank_reason_text.as_deref().map(scrub),
            settled_at: p.settled_at,
        });
        months.insert(p.period.clone(), view);
    }
    for i in open {
        let mut view = month_of(&mut months, &i.benefit_month);
        view.unpaid_items.push(UnpaidItemView {
            reason: match i.state.as_str() {
                "held" => {
                    Some(format!("{}: {}", i.hold_code.unwrap_or_default(), scrub(&i.hold_detail.unwrap_or_default())))
                }
                "cancelled" => i.cancel_reason.as_deref().map(scrub),
                _ => i.hold_code,
            },
            program: i.program,
            benefit_month: i.benefit_month.clone(),
            amount: money(i.amount_fen),
            state: i.state,
        });
        months.insert(i.benefit_month, view);
    }
    Ok(PaymentsView { person_id: id.masked(), from, to, months: months.into_values().rev().collect() })
}

#[derive(Debug, Serialize)]
pub struct SearchView {
    pub q: String,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
    pub persons: Vec<PersonHit>,
}

#[derive(Debug, Serialize)]
pub struct PersonHit {
    pub person_id: String,
    #[serde(rename = "ref")]
    pub reference: String,
    pub name: String,
    pub region_code: String,
    pub card_state: Option<String>,
}

/// Page numbers start at 1; at most 100 a page.
pub fn paging(page: Option<i64>, per_page: Option<i64>) -> (i64, i64) {
    (page.unwrap_or(1).max(1), per_page.unwrap_or(20).clamp(1, 100))
}

/// What the search text is: a whole id, a card number, the end of an id, or a name.
pub fn classify(q: &str) -> Option<Query> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    if let Ok(id) = PersonId::parse(q) {
        return Some(Query::PersonId(id.as_str().to_string()));
    }
    if let Ok(c) = CardNo::parse(q) {
        return Some(Query::CardNo(c.as_str().to_string()));
    }
    let upper = q.to_ascii_uppercase();
    let b = upper.as_bytes();
    if (4..=17).contains(&b.len())
        && b.iter().enumerate().all(|(i, c)| c.is_ascii_digit() || (*c == b'X' && i == b.len() - 1))
    {
        return Some(Query::IdSuffix(upper));
    }
    if q.chars().any(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(Query::Name(q.to_string()))
}

pub async fn search(
    state: &AppState,
    caller: &Caller,
    q: &str,
    page: Option<i64>,
    per_page: Option<i64>,
) -> Result<SearchView, ApiError> {
    need(caller, Role::reads)?;
    let (page, per_page) = paging(page, per_page);
    let query = classify(q);
    let (total, rows) = match &query {
        Some(query) => {
            desk::search(state.store.pool(), query, caller.scope.as_str(), per_page, (page - 1) * per_page).await?
        }
        None => (0, Vec::new()),
    };
    let subject = match &query {
        Some(Query::PersonId(id)) => id.clone(),
        _ => String::new(),
    };
    record(state, caller, "person.search", &subject, &format!("q={} page={page} hits={}", scrub(q), rows.len()))
        .await?;
    Ok(SearchView {
        q: scrub(q),
        page,
        per_page,
        total,
        persons: rows
            .into_iter()
            .map(|r| PersonHit {
                person_id: mask_person_id(&r.person_id),
                reference: state.refs.issue(&r.person_id),
                name: r.name,
                region_code: r.region_code,
                card_state: r.card_state,
            })
            .collect(),
    })
}

pub async fn runs(state: &AppState, caller: &Caller) -> Result<Vec<RunSummary>, ApiError> {
    need(caller, Role::reads)?;
    let mut out = Vec::new();
    for r in runs::list(state.store.pool()).await? {
        out.push(jobs_run::summary(&state.store, &state.config, &r.run_id).await.map_err(run_error)?);
    }
    Ok(out)
}

pub async fn run(state: &AppState, caller: &Caller, run_id: &str) -> Result<RunSummary, ApiError> {
    need(caller, Role::reads)?;
    jobs_run::summary(&state.store, &state.config, run_id).await.map_err(run_error)
}

/// Maker–checker: the approving supervisor must not be the run's creator.
pub async fn approve(state: &AppState, caller: &Caller, run_id: &str) -> Result<RunSummary, ApiError> {
    need(caller, Role::decides)?;
    let outcome = jobs_run::approve(&state.store, run_id, &caller.username).await;
    record(state, caller, "run.approve", run_id, if outcome.is_ok() { "approved" } else { "refused" }).await?;
    outcome.map_err(run_error)?;
    run(state, caller, run_id).await
}

fn run_error(e: RunError) -> ApiError {
    match e {
        RunError::NoSuchRun(_) => ApiError::NotFound,
        RunError::Store(s) => ApiError::from(s),
        other => ApiError::Conflict(other.to_string()),
    }
}

#[derive(Debug, Serialize)]
pub struct AccessLogView {
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
    pub entries: Vec<crate::store::audit::Entry>,
}

pub async fn access_log(
    state: &AppState,
    caller: &Caller,
    page: Option<i64>,
    per_page: Option<i64>,
) -> Result<AccessLogView, ApiError> {
    need(caller, Role::audits)?;
    let (page, per_page) = paging(page, per_page);
    record(state, caller, "access_log.read", "", &format!("page={page}")).await?;
    let (total, rows) = crate::store::audit::page(state.store.pool(), per_page, (page - 1) * per_page).await?;
    let entries = rows
        .into_iter()
        .map(|mut e| {
            e.subject = scrub(&e.subject);
            e.detail = scrub(&e.detail);
            e
        })
        .collect();
    Ok(AccessLogView { page, per_page, total, entries })
}
