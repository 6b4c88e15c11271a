//! What a caseworker decides for one person: confirm an unconfirmed payment
//! paid or failed, order the retry of a failed item, cancel an item. Each
//! goes through the same store steps as the bank's own answers.

use crate::domain::{Period, PersonId, Program};
use crate::store::items;
use crate::store::returns::{self, Settlement};
use crate::store::runs::insert_anomalies;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum CaseworkError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Refused(String),
}

/// An unconfirmed payment confirmed paid or failed; the missing-in-return anomaly is resolved.
#[tracing::instrument(skip(store))]
pub async fn confirm_payment(
    store: &Store,
    serial_no: &str,
    paid: bool,
    by: &str,
    note: &str,
) -> Result<(), CaseworkError> {
    let mut tx = store.begin_write().await?;
    let p = items::payment_by_serial(&mut tx, serial_no)
        .await?
        .ok_or_else(|| CaseworkError::Refused(format!("payment {serial_no} does not exist")))?;
    if p.state != "unconfirmed" {
        return Err(CaseworkError::Refused(format!(
            "payment {serial_no} is {}: only an unconfirmed payment is confirmed",
            p.state
        )));
    }
    let reason = (!paid).then(|| "other".to_string());
    let text = format!("confirmed {} by {by}: {note}", if paid { "paid" } else { "failed" });
    let settlement = Settlement {
        payment_id: p.id,
        paid,
        reason,
        reason_code: None,
        reason_text: Some(text.clone()),
        bank_ref: None,
    };
    returns::settle(&mut tx, std::slice::from_ref(&settlement)).await?;
    if paid {
        let doubles = returns::double_paid(&mut tx, &[p.id], &p.batch_no, None).await?;
        insert_anomalies(&mut tx, &doubles).await?;
    }
    items::resolve(&mut tx, &["missing_in_return"], None, Some(p.id), &text, by).await?;
    tx.commit().await?;
    Ok(())
}

/// A failed item goes out again in the next run (arrears, under a new payment).
#[tracing::instrument(skip(store))]
pub async fn order_retry(
    store: &Store,
    person: &PersonId,
    program: Program,
    month: Period,
    by: &str,
) -> Result<(), CaseworkError> {
    let mut tx = store.begin_write().await?;
    let item = find(&mut tx, person, program, month).await?;
    if items::order_retry(&mut tx, item.id).await? == 0 {
        return Err(CaseworkError::Refused(format!(
            "{program} {month} is {}: only a failed item is retried",
            item.state
        )));
    }
    let payment = items::last_payment_of_item(&mut tx, item.id).await?;
    items::resolve(&mut tx, &["bank_failed"], None, payment, &format!("retry ordered by {by}"), by).await?;
    tx.commit().await?;
    Ok(())
}

/// An item not in a live payment is cancelled, with the reason; it is never paid.
#[tracing::instrument(skip(store))]
pub async fn cancel_item(
    store: &Store,
    person: &PersonId,
    program: Program,
    month: Period,
    reason: &str,
    by: &str,
) -> Result<(), CaseworkError> {
    if reason.trim().is_empty() {
        return Err(CaseworkError::Refused("a cancellation needs a reason".into()));
    }
    let mut tx = store.begin_write().await?;
    let item = find(&mut tx, person, program, month).await?;
    if items::cancel(&mut tx, item.id, reason).await? == 0 {
        return Err(CaseworkError::Refused(format!(
            "{program} {month} is {}: only a pending, held or failed item can be cancelled",
            item.state
        )));
    }
    let codes = [
        "exclusive_conflict",
        "cap_exceeded",
        "name_mismatch",
        "unknown_person",
        "missing_prerequisite",
        "unemployment_limit",
        "no_active_card",
        "bank_failed",
        "missed_payment",
    ];
    items::resolve(&mut tx, &codes, Some(item.id), None, &format!("item cancelled by {by}: {reason}"), by).await?;
    tx.commit().await?;
    Ok(())
}

async fn find(
    tx: &mut crate::store::Tx,
    person: &PersonId,
    program: Program,
    month: Period,
) -> Result<items::ItemRef, CaseworkError> {
    items::find(tx, person.as_str(), program.as_str(), &month.to_string())
        .await?
        .ok_or_else(|| CaseworkError::Refused(format!("{} has no {program} item for {month}", person.masked())))
}
