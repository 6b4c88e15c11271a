//! Card issuance (card-issuance.md): applications, the card-making exchange
//! with the issuing banks, and the lifecycle a caseworker drives — hand-over,
//! loss, replacement, cancellation. Every transition is recorded with who and
//! when. Payments follow by themselves: a run pays only an active card's
//! account, so held items wait for activation and a failed payment to a lost
//! card goes to the new card's account.

use std::collections::HashMap;

use serde::Serialize;
use tracing::info;

use crate::config::Config;
use crate::domain::cards::{check_application, Allowed, ApplicationKind, CardAction, HeldCard};
use crate::domain::{ids, BankCode, CardState, PersonId};
use crate::formats::gbk;
use crate::store::cards::{self, Applicant, CardRow, NewApplication};
use crate::store::{now_text, Store, StoreError, Tx};

pub mod applications;
pub mod exchange;

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Refused(String),
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

/// A filed application, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct Filed {
    pub application_id: String,
    pub person_id: String,
    pub bank_code: String,
    pub kind: ApplicationKind,
    /// The card it replaces, when it is a replacement.
    pub replaces: Option<String>,
    /// The card reported lost with it.
    pub reported_lost: Option<String>,
}

/// One application for one person (`cards apply`, `cards replace`).
#[tracing::instrument(skip(store, config))]
pub async fn apply(
    store: &Store,
    config: &Config,
    person: &PersonId,
    bank: Option<&BankCode>,
    kind: ApplicationKind,
    by: &str,
) -> Result<Filed, CardError> {
    let mut tx = store.begin_write().await?;
    let id = person.as_str();
    let applicant = cards::applicants(&mut tx, &[id])
        .await?
        .remove(id)
        .ok_or_else(|| CardError::Refused(format!("person {} is not in the registry", ids::mask_person_id(id))))?;
    let held = cards::of_persons(&mut tx, &[id]).await?.remove(id).unwrap_or_default();
    let plan = plan(config, &applicant, &held, bank.map(BankCode::as_str), kind).map_err(CardError::Refused)?;
    let now = now_text();
    let filed = file(&mut tx, &[(plan, kind)], by, &now).await?.pop();
    tx.commit().await?;
    let filed = filed.ok_or_else(|| CardError::Refused("nothing was filed".into()))?;
    info!(application = %filed.application_id, "application filed");
    Ok(filed)
}

/// An application the rules allow, with everything needed to file it.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    person_id: String,
    bank_code: String,
    allowed: Allowed,
    held: Vec<CardRow>,
}

/// The rules of an application: the person alive, no card on its way, the
/// kind fits the cards held, a configured bank (default: the card replaced),
/// a name the GBK request file can carry.
pub(crate) fn plan(
    config: &Config,
    applicant: &Applicant,
    held: &[CardRow],
    bank: Option<&str>,
    kind: ApplicationKind,
) -> Result<Plan, String> {
    let views: Vec<HeldCard> = held
        .iter()
        .filter_map(|c| CardState::parse(&c.state).map(|state| HeldCard { id: c.id, state, label: c.label() }))
        .collect();
    let allowed = check_application(applicant.death_date.is_some(), &views, kind)?;
    let replaced_bank = allowed.replaces.and_then(|id| held.iter().find(|c| c.id == id)).map(|c| c.bank_code.as_str());
    let bank_code = bank
        .or(replaced_bank)
        .ok_or_else(|| "name the issuing bank (--bank) for a first card".to_string())?
        .to_string();
    if config.bank(&bank_code).is_none() {
        return Err(format!("bank {bank_code} is not configured"));
    }
    if let Some(c) = gbk::first_unencodable(&applicant.name) {
        return Err(format!(
            "the name contains '{c}' (U+{:04X}), which the GBK card-making file cannot carry; the card centre \
             arranges this card with the bank by hand",
            u32::from(c)
        ));
    }
    Ok(Plan { person_id: applicant.person_id.clone(), bank_code, allowed, held: held.to_vec() })
}

/// Files planned applications in the open transaction: reports lost what
/// must be, then inserts the applications.
pub(crate) async fn file(
    tx: &mut Tx,
    plans: &[(Plan, ApplicationKind)],
    by: &str,
    now: &str,
) -> Result<Vec<Filed>, StoreError> {
    let label = |p: &Plan, id: Option<i64>| id.and_then(|id| p.held.iter().find(|c| c.id == id)).map(CardRow::label);
    for (p, _) in plans {
        if let Some(card) = p.allowed.report_lost.and_then(|id| p.held.iter().find(|c| c.id == id)) {
            cards::transition(tx, card, "lost", by, "reported lost with the replacement application", now).await?;
        }
    }
    let apps: Vec<NewApplication> = plans
        .iter()
        .map(|(p, kind)| NewApplication {
            person_id: p.person_id.clone(),
            bank_code: p.bank_code.clone(),
            replaces: p.allowed.replaces,
            note: match label(p, p.allowed.replaces) {
                Some(old) => format!("{} application replacing card {old}", kind_name(*kind)),
                None => format!("{} application", kind_name(*kind)),
            },
        })
        .collect();
    let ids = cards::insert_applications(tx, &apps, by, now).await?;
    Ok(plans
        .iter()
        .zip(ids)
        .map(|((p, kind), (_, application_id))| Filed {
            application_id,
            person_id: ids::mask_person_id(&p.person_id),
            bank_code: p.bank_code.clone(),
            kind: *kind,
            replaces: label(p, p.allowed.replaces),
            reported_lost: label(p, p.allowed.report_lost),
        })
        .collect())
}

fn kind_name(kind: ApplicationKind) -> &'static str {
    match kind {
        ApplicationKind::New => "new card",
        ApplicationKind::Replace => "replacement",
        ApplicationKind::Lost => "lost-card replacement",
    }
}

/// A card after a caseworker's action, as printed.
#[derive(Debug, Clone, Serialize)]
pub struct Moved {
    pub card: String,
    pub person_id: String,
    pub from: String,
    pub to: String,
    /// Cards cancelled because this one became active (the replaced card).
    pub cancelled: Vec<String>,
}

/// Activates, reports lost or cancels one card, named by card number or application id.
#[tracing::instrument(skip(store))]
pub async fn act(
    store: &Store,
    card_or_application: &str,
    action: CardAction,
    by: &str,
    note: &str,
) -> Result<Moved, CardError> {
    let mut tx = store.begin_write().await?;
    let card = cards::find(&mut tx, card_or_application)
        .await?
        .ok_or_else(|| CardError::Refused(format!("no card or application {card_or_application}")))?;
    let holders = match action {
        CardAction::Activate => Holders::of(&mut tx, &[card.person_id.as_str()]).await?,
        _ => Holders::default(),
    };
    let moved = act_on(&mut tx, &card, action, by, note, &holders).await?;
    tx.commit().await?;
    info!(card = %moved.card, from = %moved.from, to = %moved.to, "card moved");
    Ok(moved)
}

/// Activates every made card of a card-making batch (a hand-over session).
#[tracing::instrument(skip(store))]
pub async fn activate_batch(store: &Store, batch_no: &str, by: &str) -> Result<Vec<Moved>, CardError> {
    let mut tx = store.begin_write().await?;
    if cards::batch(&mut tx, batch_no).await?.is_none() {
        return Err(CardError::Refused(format!("card-making batch {batch_no} does not exist")));
    }
    let made = cards::made_in_batch(&mut tx, batch_no).await?;
    let persons: Vec<&str> = made.iter().map(|c| c.person_id.as_str()).collect();
    let holders = Holders::of(&mut tx, &persons).await?;
    let note = format!("handed over with batch {batch_no}");
    let mut out = Vec::with_capacity(made.len());
    for card in &made {
        out.push(act_on(&mut tx, card, CardAction::Activate, by, &note, &holders).await?);
    }
    tx.commit().await?;
    info!(batch_no, activated = out.len(), "batch handed over");
    Ok(out)
}

/// What activating a card needs to know of its holder: whether they died,
/// and their other cards. Read once for a whole hand-over (at most one card
/// per person is on its way, so a batch never changes a holder's other cards).
#[derive(Default)]
struct Holders {
    applicants: HashMap<String, Applicant>,
    cards: HashMap<String, Vec<CardRow>>,
}

impl Holders {
    async fn of(tx: &mut Tx, persons: &[&str]) -> Result<Holders, StoreError> {
        Ok(Holders { applicants: cards::applicants(tx, persons).await?, cards: cards::of_persons(tx, persons).await? })
    }
}

async fn act_on(
    tx: &mut Tx,
    card: &CardRow,
    action: CardAction,
    by: &str,
    note: &str,
    holders: &Holders,
) -> Result<Moved, CardError> {
    let from = CardState::parse(&card.state)
        .ok_or_else(|| CardError::Refused(format!("card {} has unknown state {}", card.label(), card.state)))?;
    let to = action.apply(from).map_err(|e| CardError::Refused(format!("card {}: {e}", card.label())))?;
    let now = now_text();
    let mut cancelled = Vec::new();
    if to == CardState::Active {
        let pid = card.person_id.as_str();
        let dead = holders.applicants.get(pid).is_some_and(|a| a.death_date.is_some());
        if dead {
            return Err(CardError::Refused(format!("card {}: the holder is recorded as deceased", card.label())));
        }
        // The card it replaces, and any other usable card, give way to the new one.
        let others = holders.cards.get(pid).map_or(&[][..], Vec::as_slice);
        for old in others.iter().filter(|c| c.id != card.id && matches!(c.state.as_str(), "active" | "lost")) {
            let why = format!("replaced by card {}", card.label());
            cards::transition(tx, old, "cancelled", by, &why, &now).await?;
            cancelled.push(old.label());
        }
    }
    let note = if note.is_empty() { format!("{} by a caseworker", action.verb()) } else { note.to_string() };
    cards::transition(tx, card, to.as_str(), by, &note, &now).await?;
    Ok(Moved {
        card: card.label(),
        person_id: ids::mask_person_id(&card.person_id),
        from: card.state.clone(),
        to: to.as_str().into(),
        cancelled,
    })
}
