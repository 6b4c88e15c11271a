//! The card-making exchange with the issuing banks: `cards export` writes one
//! request file per bank (more when a bank has more than a batch holds) and
//! moves the applications into production; `cards import` applies a bank's
//! return file whole or not at all, under the whole-file rules of
//! bank-files.md.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::NaiveDate;
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use super::CardError;
use crate::config::Config;
use crate::domain::{ids, AnomalyCode};
use crate::formats::bank::cards::{self as files, Application, Made, RequestHeader, ReturnLine};
use crate::store::cards::{self, Answer, CardBatch, CardRow};
use crate::store::runs::{insert_anomalies, NewAnomaly};
use crate::store::source_files::{self, Counts, NewSourceFile};
use crate::store::{now_text, Store};

/// Most applications in one request file.
pub const MAX_BATCH: usize = 50_000;

#[derive(Debug, Clone, Serialize)]
pub struct ExportedBatch {
    pub batch_no: String,
    pub bank_code: String,
    pub file: String,
    pub count: usize,
    pub sha256: String,
}

/// An application left waiting, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub application_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CardExport {
    pub outbox: String,
    pub batches: Vec<ExportedBatch>,
    pub skipped: Vec<Skipped>,
}

/// Writes every waiting application into card-making request files in
/// `outbox` and moves them into production, in one transaction.
#[tracing::instrument(skip(store, config))]
pub async fn export(store: &Store, config: &Config, outbox: &Path, by: &str) -> Result<CardExport, CardError> {
    let io_err =
        |path: &Path, e: std::io::Error| CardError::File { path: path.display().to_string(), message: e.to_string() };
    std::fs::create_dir_all(outbox).map_err(|e| io_err(outbox, e))?;
    let mut tx = store.begin_write().await?;
    let now = now_text();
    let today = chrono::Utc::now().date_naive();
    let mut out = CardExport { outbox: outbox.display().to_string(), batches: Vec::new(), skipped: Vec::new() };
    for (bank_code, _) in cards::applied_by_bank(&mut tx).await? {
        if config.bank(&bank_code).is_none() {
            warn!(bank_code, "applications for a bank no longer configured stay waiting");
            continue;
        }
        let waiting = cards::applied_of_bank(&mut tx, &bank_code).await?;
        for chunk in waiting.chunks(MAX_BATCH) {
            let prefix = format!("ZK{}{bank_code}", today.format("%Y%m%d"));
            let batch_no = cards::next_batch_no(&mut tx, &prefix).await?;
            let mut body = Vec::with_capacity(chunk.len() * 128);
            let mut lines: Vec<(i64, i64)> = Vec::with_capacity(chunk.len());
            for w in chunk {
                let seq = lines.len() as u64 + 1;
                let line = application(w, seq, &bank_code)
                    .and_then(|a| files::write_application(&mut body, &a).map_err(|e| e.to_string()));
                match line {
                    Ok(()) => lines.push((w.id, seq as i64)),
                    Err(reason) => out.skipped.push(Skipped { application_id: w.application_id.clone(), reason }),
                }
            }
            if lines.is_empty() {
                continue;
            }
            let header = RequestHeader { batch_no: batch_no.clone(), count: lines.len() as u64, date: today };
            let mut content = Vec::with_capacity(body.len() + 64);
            files::write_request_header(&mut content, &header).map_err(|e| io_err(outbox, e))?;
            content.extend_from_slice(&body);
            let name = files::request_file_name(&bank_code, &batch_no);
            let sha256 = hex::encode(Sha256::digest(&content));
            let place_err =
                |e: crate::jobs::run::RunError| CardError::File { path: name.clone(), message: e.to_string() };
            crate::jobs::run::export::place(outbox, &name, &content).map_err(place_err)?;
            let digest = format!("{sha256}  {name}\n");
            crate::jobs::run::export::place(outbox, &format!("{name}.sha256"), digest.as_bytes()).map_err(place_err)?;
            let batch = CardBatch {
                batch_no: batch_no.clone(),
                bank_code: bank_code.clone(),
                file_name: name.clone(),
                sha256: sha256.clone(),
                application_count: lines.len() as i64,
                answered_count: 0,
                created_by: by.to_string(),
                exported_at: now.clone(),
            };
            cards::insert_batch(&mut tx, &batch, &lines, by, &now).await?;
            info!(batch_no, file = %name, count = lines.len(), "card-making request written");
            out.batches.push(ExportedBatch {
                batch_no,
                bank_code: bank_code.clone(),
                file: name,
                count: lines.len(),
                sha256,
            });
        }
    }
    tx.commit().await?;
    Ok(out)
}

/// The request line of a waiting application, or why it cannot be written.
fn application(w: &cards::Waiting, seq: u64, bank_code: &str) -> Result<Application, String> {
    let birth_date = NaiveDate::parse_from_str(&w.birth_date, "%Y-%m-%d").map_err(|e| format!("birth date: {e}"))?;
    let gender = match w.gender.as_str() {
        "1" => 1,
        "2" => 2,
        g => return Err(format!("gender '{g}' is not 1 or 2")),
    };
    Ok(Application {
        seq,
        application_id: w.application_id.clone(),
        person_id: w.person_id.clone(),
        name: w.name.clone(),
        gender,
        birth_date,
        region_code: w.region_code.clone(),
        phone: w.phone.clone().unwrap_or_default(),
        bank_code: bank_code.to_string(),
    })
}

/// What applying a return file did, as printed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CardReturnSummary {
    pub file: String,
    pub sha256: String,
    pub batch_no: String,
    pub applied: bool,
    pub already_applied: bool,
    pub lines: u64,
    pub made: u64,
    pub refused: u64,
    /// Answers for applications cancelled while the bank was making the card.
    pub after_cancellation: u64,
    pub anomalies: BTreeMap<String, u64>,
}

/// Applies a card-making return file: checked whole first, then each line
/// matched to its application in the batch.
#[tracing::instrument(skip(store))]
pub async fn import_return(store: &Store, path: &Path, by: &str) -> Result<CardReturnSummary, CardError> {
    let file_err = |message: String| CardError::File { path: path.display().to_string(), message };
    let bytes = std::fs::read(path).map_err(|e| file_err(e.to_string()))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let mut lines = Vec::new();
    let header = files::read_return(&mut bytes.as_slice(), &mut |l| {
        lines.push(l);
        Ok(())
    })
    .map_err(|e| file_err(format!("{e}; nothing applied")))?;
    let mut summary = CardReturnSummary {
        file: path.display().to_string(),
        sha256: sha256.clone(),
        batch_no: header.batch_no.clone(),
        lines: lines.len() as u64,
        ..Default::default()
    };

    let mut tx = store.begin_write().await?;
    if let Some(earlier) = source_files::find(&mut tx, "card_return", &sha256).await? {
        info!(imported_at = %earlier.imported_at, "identical return already applied; nothing changes");
        summary.already_applied = true;
        return Ok(summary);
    }
    if cards::batch(&mut tx, &header.batch_no).await?.is_none() {
        return Err(file_err(format!(
            "batch {} is not a card-making batch this system sent; nothing applied",
            header.batch_no
        )));
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let new = NewSourceFile { kind: "card_return", sha256: &sha256, file_name: &name, encoding: "gbk" };
    let file_id = source_files::insert(&mut tx, &new).await?;

    let in_batch = cards::select_where(&mut tx, "batch_no", &[header.batch_no.as_str()]).await?;
    let by_app: HashMap<&str, &CardRow> =
        in_batch.iter().filter_map(|c| c.application_id.as_deref().map(|a| (a, c))).collect();
    let numbers: Vec<&str> = lines
        .iter()
        .filter_map(|l| match &l.made {
            Made::Card { card_no, .. } => Some(card_no.as_str()),
            Made::Refused => None,
        })
        .collect();
    let mut holder: HashMap<String, i64> = cards::select_where(&mut tx, "card_no", &numbers)
        .await?
        .into_iter()
        .filter_map(|c| c.card_no.map(|n| (n, c.id)))
        .collect();
    let person_ids: Vec<&str> = lines.iter().map(|l| l.person_id.as_str()).collect();
    let regions: HashMap<String, String> =
        cards::applicants(&mut tx, &person_ids).await?.into_values().map(|a| (a.person_id, a.region_code)).collect();

    let mut answers: Vec<Answer> = Vec::new();
    let mut answered: HashMap<i64, Earlier> = HashMap::new();
    let mut anomalies: Vec<NewAnomaly> = Vec::new();
    for line in &lines {
        let finding = match by_app.get(line.application_id.as_str()) {
            None => Err((
                AnomalyCode::CardUnknownApplication,
                format!("application {} is not in batch {}", line.application_id, header.batch_no),
            )),
            Some(card) if card.person_id != line.person_id => Err((
                AnomalyCode::CardPersonMismatch,
                format!(
                    "application {} is for {}, the return names {}",
                    line.application_id,
                    ids::mask_person_id(&card.person_id),
                    ids::mask_person_id(&line.person_id)
                ),
            )),
            Some(card) => decide(card, line, &mut holder, &answered),
        };
        match finding {
            Ok(answer) => {
                match (answer.to, &line.made) {
                    (None, _) => summary.after_cancellation += 1,
                    (Some(_), Made::Card { .. }) => summary.made += 1,
                    (Some(_), Made::Refused) => summary.refused += 1,
                }
                answered.insert(answer.card_id, (answer.card_no.clone(), Some(answer.reason_code.clone())));
                answers.push(answer);
            }
            Err((code, detail)) => {
                *summary.anomalies.entry(code.as_str().to_string()).or_default() += 1;
                anomalies.push(NewAnomaly {
                    code: code.as_str(),
                    dedupe_key: format!("{}:{}:{}", code.as_str(), &sha256[..16], line.line_no),
                    person_id: Some(line.person_id.clone()),
                    region_code: regions.get(&line.person_id).cloned(),
                    batch_no: Some(header.batch_no.clone()),
                    source_file_id: Some(file_id),
                    detail: format!("{} line {}: {detail}", name, line.line_no),
                    ..Default::default()
                });
            }
        }
    }
    let now = now_text();
    cards::record_answers(&mut tx, &header.batch_no, &answers, by, &now).await?;
    insert_anomalies(&mut tx, &anomalies).await?;
    let counts = Counts {
        total: summary.lines,
        accepted: answers.len() as u64,
        rejected: anomalies.len() as u64,
        program: None,
        period: None,
        batch_no: Some(&header.batch_no),
    };
    source_files::finish(&mut tx, file_id, &counts).await?;
    tx.commit().await?;
    summary.applied = true;
    info!(batch_no = %header.batch_no, made = summary.made, refused = summary.refused, "card return applied");
    Ok(summary)
}

/// An application's answer so far: its card number and reason code.
type Earlier = (Option<String>, Option<String>);

/// What one line does to its application, or the anomaly it raises.
fn decide(
    card: &CardRow,
    line: &ReturnLine,
    holder: &mut HashMap<String, i64>,
    answered: &HashMap<i64, Earlier>,
) -> Result<Answer, (AnomalyCode, String)> {
    let app = &line.application_id;
    let earlier = answered.get(&card.id).cloned().or_else(|| {
        (card.card_no.is_some() || card.reason_code.is_some()).then(|| (card.card_no.clone(), card.reason_code.clone()))
    });
    if let Some((card_no, reason)) = earlier {
        let same = match &line.made {
            Made::Card { card_no: made, .. } => card_no.as_deref() == Some(made.as_str()),
            Made::Refused => card_no.is_none() && reason.as_deref() == Some(line.reason_code.as_str()),
        };
        return Err(if same {
            (AnomalyCode::CardDuplicateReturn, format!("application {app} was answered before with the same outcome"))
        } else {
            let why = format!("application {app} was answered before otherwise; left for a caseworker");
            (AnomalyCode::CardConflictingReturn, why)
        });
    }
    if card.state != "in_production" && card.state != "cancelled" {
        let why = format!("application {app} is {} and waits for no answer", card.state);
        return Err((AnomalyCode::CardConflictingReturn, why));
    }
    let cancelled = card.state == "cancelled";
    let (to, card_no, account_no, note) = match &line.made {
        Made::Card { card_no, account_no } => {
            if let Some(other) = holder.get(card_no.as_str()).filter(|id| **id != card.id) {
                return Err((
                    AnomalyCode::CardNumberTaken,
                    format!("card number {} for application {app} is already held by card #{other}", card_no.as_str()),
                ));
            }
            holder.insert(card_no.as_str().to_string(), card.id);
            let note = format!("made by the bank: card {}", card_no.as_str());
            (Some("made"), Some(card_no.as_str().to_string()), Some(account_no.as_str().to_string()), note)
        }
        Made::Refused => {
            let note = format!("refused by the bank: {} {}", line.reason_code, line.reason_text);
            (Some("rejected"), None, None, note)
        }
    };
    Ok(Answer {
        card_id: card.id,
        to: if cancelled { None } else { to },
        from: card.state.clone(),
        card_no,
        account_no,
        reason_code: line.reason_code.clone(),
        reason_text: line.reason_text.clone(),
        note: if cancelled {
            format!("{note}, after the application was cancelled: not to be handed over")
        } else {
            note
        },
    })
}
