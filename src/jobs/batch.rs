//! Closing batches: after the bank has had its say, payments it never
//! mentioned become `unconfirmed` (never re-paid automatically) with
//! `missing_in_return`.

use serde::Serialize;

use crate::domain::AnomalyCode;
use crate::jobs::run::Figure;
use crate::store::runs::{insert_anomalies, NewAnomaly};
use crate::store::{returns, Store, StoreError};

#[derive(Debug, Clone, Serialize)]
pub struct Closed {
    pub batch_no: String,
    pub already_closed: bool,
    pub unconfirmed: Figure,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("batch {0} does not exist")]
    NoSuchBatch(String),
    #[error("batch {batch} is {state}: only an exported batch can be closed")]
    NotExported { batch: String, state: String },
}

#[tracing::instrument(skip(store))]
pub async fn close(store: &Store, batch_no: &str) -> Result<Closed, BatchError> {
    let batch =
        returns::batch(store.pool(), batch_no).await?.ok_or_else(|| BatchError::NoSuchBatch(batch_no.into()))?;
    match batch.state.as_str() {
        "exported" => {}
        "closed" => {
            return Ok(Closed {
                batch_no: batch_no.into(),
                already_closed: true,
                unconfirmed: Figure::from_fen((0, 0)),
            })
        }
        state => return Err(BatchError::NotExported { batch: batch_no.into(), state: state.into() }),
    }
    let mut tx = store.begin_write().await?;
    let open = returns::close_batch(&mut tx, batch_no).await?;
    let anomalies: Vec<NewAnomaly> = open
        .iter()
        .map(|p| NewAnomaly {
            code: AnomalyCode::MissingInReturn.as_str(),
            dedupe_key: format!("missing_in_return:payment:{}", p.id),
            person_id: Some(p.person_id.clone()),
            region_code: p.region_code.clone(),
            program: None,
            benefit_month: None,
            period: None,
            item_id: None,
            payment_id: Some(p.id),
            roster_line_id: None,
            run_id: Some(batch.run_id.clone()),
            batch_no: Some(batch_no.into()),
            source_file_id: None,
            detail: format!("serial {} absent from every return when the batch was closed", p.serial_no),
        })
        .collect();
    insert_anomalies(&mut tx, &anomalies).await?;
    tx.commit().await?;
    let fen: i64 = open.iter().map(|p| p.amount_fen).sum();
    Ok(Closed {
        batch_no: batch_no.into(),
        already_closed: false,
        unconfirmed: Figure::from_fen((open.len() as i64, fen)),
    })
}

/// Closes every exported batch whose value date is `days` or more before `as_of`.
pub async fn close_due(store: &Store, as_of: chrono::NaiveDate, days: u32) -> Result<Vec<Closed>, BatchError> {
    let cutoff = as_of - chrono::Days::new(u64::from(days));
    let mut closed = Vec::new();
    for b in returns::batches_due(store.pool(), &cutoff.to_string()).await? {
        closed.push(close(store, &b).await?);
    }
    Ok(closed)
}
