//! Urgent relief (iso8583.md, domain.md `temp_relief`): a `temp_relief` item
//! recorded and paid at once with a 0200 credit. The item's key is paid at
//! most once: the credit is written before it is sent; `00` (or `94`, the
//! bank already holds this RRN's credit) pays the item; a decline fails it;
//! no answer leaves it unknown, and the credit is reversed (0400, repeated
//! with back-off) until a reversal is answered `00` or `25`, which settles it
//! as not paid. Credits a crash left open are finished by [`recover`] at the
//! next start.

use std::collections::BTreeMap;

use serde::Serialize;
use tracing::{info, warn};

use super::verify::{self, open_client, ChannelError};
use crate::config::Config;
use crate::domain::{Money, Period, PersonId, Program};
use crate::iso8583::client::{Answer, Client, CreditRef};
use crate::iso8583::ResponseCode;
use crate::store::realtime::{self, CreditRow, NewCredit, VerificationResult};
use crate::store::{persons, Store};

pub struct ReliefRequest {
    pub person_id: PersonId,
    pub amount: Money,
    pub reason: String,
    pub by: String,
    /// The benefit month of the item (default: this month).
    pub month: Period,
}

/// What became of an urgent relief payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum ReliefOutcome {
    /// Credited: the item is paid.
    Paid { serial_no: String, rrn: String, response_code: String },
    /// The key was already paid (or is in a payment): nothing was sent.
    AlreadyPaid { state: String, serial_no: Option<String> },
    /// The bank declined: the item is failed, not paid.
    Failed { serial_no: String, response_code: String, reason: String },
    /// No answer; the credit was reversed (`00` or `25`): not paid.
    Reversed { serial_no: String, reversal_code: String },
    /// No answer and no reversal answered yet: unknown, finished by `relief recover`.
    Unknown { serial_no: String, reason: String },
    /// Not payable now (no active card, invalid account): held for the monthly run.
    Held { code: String, reason: String },
}

impl ReliefOutcome {
    pub fn is_paid(&self) -> bool {
        matches!(self, ReliefOutcome::Paid { .. } | ReliefOutcome::AlreadyPaid { .. })
    }

    pub fn render(&self) -> String {
        match self {
            ReliefOutcome::Paid { serial_no, rrn, response_code } => {
                format!("paid: serial {serial_no} (RRN {rrn}), bank answered {response_code}")
            }
            ReliefOutcome::AlreadyPaid { state, serial_no } => format!(
                "already_paid: the item is {state}{}; nothing sent",
                serial_no.as_ref().map(|s| format!(" (serial {s})")).unwrap_or_default()
            ),
            ReliefOutcome::Failed { serial_no, reason, .. } => {
                format!("failed: serial {serial_no}, the bank declined: {reason}; not paid")
            }
            ReliefOutcome::Reversed { serial_no, reversal_code } => format!(
                "not paid: serial {serial_no} got no answer and was reversed (reversal answered {reversal_code})"
            ),
            ReliefOutcome::Unknown { serial_no, reason } => format!(
                "UNKNOWN: serial {serial_no}: {reason}; it is neither paid nor failed until a reversal is \
                 answered — run `onecard relief recover`"
            ),
            ReliefOutcome::Held { code, reason } => format!("held {code}: {reason}; not paid now"),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ReliefReport {
    pub person_id: String,
    pub program: String,
    pub benefit_month: String,
    pub amount: String,
    #[serde(flatten)]
    pub outcome: ReliefOutcome,
    /// Open credits found and finished before this one.
    pub recovered: Vec<RecoveredCredit>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecoveredCredit {
    pub serial_no: String,
    pub state: String,
}

/// Records a `temp_relief` item and pays it at once over the bank's channel.
#[tracing::instrument(skip_all, fields(person = %req.person_id.masked(), by = %req.by))]
pub async fn pay(store: &Store, config: &Config, req: &ReliefRequest) -> Result<ReliefReport, ChannelError> {
    // Credits a crash left open are finished first; a bank that cannot be
    // reached for that does not stop a payment through another.
    let recovered = match recover(store, config).await {
        Ok(r) => r,
        Err(e) => {
            warn!(error = %e, "open credits not recovered now");
            Vec::new()
        }
    };
    let program = Program::TempRelief;
    let month = req.month.to_string();
    let person = persons::get(store.pool(), req.person_id.as_str())
        .await?
        .ok_or_else(|| ChannelError::UnknownPerson(req.person_id.masked()))?;
    if let Some(death) = person.death_date.as_deref() {
        if death[..7.min(death.len())] < month[..] {
            return Err(ChannelError::Rejected(format!(
                "person {} died on {death}: {program} for {month} is not payable (deceased)",
                req.person_id.masked()
            )));
        }
    }
    if req.amount.is_zero() {
        return Err(ChannelError::Rejected("amount is zero; zero is not a payable amount".into()));
    }
    let cap = config.program(program).cap;
    if req.amount > cap {
        return Err(ChannelError::Rejected(format!(
            "{} is above the {program} cap of {cap} (cap_exceeded)",
            req.amount
        )));
    }
    if req.reason.trim().is_empty() {
        return Err(ChannelError::Rejected("--reason must say why the relief is urgent".into()));
    }
    let report = |outcome| ReliefReport {
        person_id: req.person_id.masked(),
        program: program.as_str().into(),
        benefit_month: month.clone(),
        amount: req.amount.to_string(),
        outcome,
        recovered: recovered.clone(),
    };

    // The card, checked before anything is recorded; an unverified account is verified first.
    let card = realtime::active_card(store.pool(), req.person_id.as_str()).await?;
    let mut hold = match &card {
        None => Some("no active card with an account".to_string()),
        Some(c) if c.verification == "invalid" => Some("the card's account failed verification".to_string()),
        Some(_) => None,
    };
    let mut client = None;
    if let (None, Some(c)) = (&hold, &card) {
        if config.bank(&c.bank_code).and_then(|b| b.iso8583.as_ref()).is_none() {
            return Err(ChannelError::NoChannel(c.bank_code.clone()));
        }
        let cl = open_client(store, config, &c.bank_code)?;
        if c.verification == "unverified" {
            let (result, _) = verify::verify_card(&cl, c).await?;
            realtime::record_verifications(store, std::slice::from_ref(&result)).await?;
            if result.result == "invalid" {
                hold = Some(format!("the card's account failed verification: {}", result.detail));
            }
        }
        client = Some(cl);
    }

    // The STAN first: it is reserved in a transaction of its own.
    let stan = match &client {
        Some(c) => c.next_stan().await?,
        None => String::new(),
    };
    let transmitted = crate::iso8583::client::transmission_time();
    // Write the item and the credit before anything is sent.
    let mut tx = store.begin_write().await?;
    let existing = realtime::item_by_key(&mut tx, req.person_id.as_str(), program.as_str(), &month).await?;
    let item_id = match existing {
        None => {
            let (state, h) = match &hold {
                Some(why) => ("held", Some(("no_active_card", why.as_str()))),
                None => ("sent", None),
            };
            realtime::insert_relief_item(
                &mut tx,
                req.person_id.as_str(),
                program.as_str(),
                &month,
                req.amount.fen(),
                state,
                h,
            )
            .await?
        }
        Some(item) => match item.state.as_str() {
            "pending" | "held" | "failed" if item.amount_fen == req.amount.fen() => {
                if let Some(why) = &hold {
                    realtime::hold_item(&mut tx, item.id, "no_active_card", why).await?;
                } else if !realtime::claim_item(&mut tx, item.id).await? {
                    return Err(ChannelError::Rejected(format!(
                        "{program} {month}: the item changed meanwhile; try again"
                    )));
                }
                item.id
            }
            "pending" | "held" | "failed" => {
                return Err(ChannelError::Rejected(format!(
                    "{program} {month} already has an item of {} ({}); one key is paid at most once",
                    Money::from_fen(item.amount_fen).unwrap_or_default(),
                    item.state
                )))
            }
            "cancelled" | "not_payable" => {
                return Err(ChannelError::Rejected(format!("{program} {month} is {}; it is never paid", item.state)))
            }
            state => {
                let live = realtime::live_credit_of_item(&mut tx, item.id).await?;
                tx.commit().await?;
                if let Some(c) = live.as_ref().filter(|c| c.state != "paid") {
                    // An earlier credit of this key awaits its outcome: nothing new is sent.
                    return Ok(report(ReliefOutcome::Unknown {
                        serial_no: c.serial_no.clone(),
                        reason: format!("an earlier credit of this key is {}", c.state),
                    }));
                }
                info!(state, "already paid");
                return Ok(report(ReliefOutcome::AlreadyPaid {
                    state: state.into(),
                    serial_no: live.map(|c| c.serial_no),
                }));
            }
        },
    };
    if let Some(why) = hold {
        tx.commit().await?;
        return Ok(report(ReliefOutcome::Held { code: "no_active_card".into(), reason: why }));
    }
    let (Some(card), Some(client)) = (card, client) else {
        return Err(ChannelError::NoActiveCard(req.person_id.masked()));
    };
    let new = NewCredit {
        item_id,
        person_id: req.person_id.as_str(),
        card_id: card.id,
        bank_code: &card.bank_code,
        account_no: &card.account_no,
        amount_fen: req.amount.fen(),
        stan: &stan,
        transmitted: &transmitted,
        reason: req.reason.trim(),
        requested_by: &req.by,
    };
    let (credit_id, serial_no, rrn) = realtime::insert_credit(&mut tx, &new).await?;
    tx.commit().await?;
    info!(serial_no, rrn, "credit recorded; sending");

    let credit = CreditRef {
        account: card.account_no.clone(),
        amount_fen: req.amount.fen(),
        stan,
        rrn: rrn.clone(),
        transmitted,
    };
    let answer = client.request(&client.credit(&credit, req.person_id.as_str())).await?;
    let outcome = match answer {
        Answer::Response(r) => {
            let code = r.get(39).unwrap_or_default().to_string();
            apply_credit_answer(store, credit_id, &serial_no, &rrn, &card, &code).await?
        }
        Answer::Unknown(why) => {
            warn!(serial_no, %why, "credit unanswered: unknown; reversing");
            realtime::settle(store, credit_id, &["sent"], "unknown", "response_code", None).await?;
            reverse(store, &client, credit_id, &serial_no, &credit).await?
        }
    };
    Ok(report(outcome))
}

/// What a credit's response code means.
async fn apply_credit_answer(
    store: &Store,
    credit_id: i64,
    serial_no: &str,
    rrn: &str,
    card: &realtime::ChannelCard,
    code: &str,
) -> Result<ReliefOutcome, ChannelError> {
    let known = ResponseCode::parse(code);
    match known {
        // 94: this RRN is already credited; the earlier credit stands.
        Some(ResponseCode::Approved | ResponseCode::Duplicate) => {
            realtime::settle(store, credit_id, &["sent"], "paid", "response_code", Some(code)).await?;
            info!(serial_no, code, "credit paid");
            Ok(ReliefOutcome::Paid { serial_no: serial_no.into(), rrn: rrn.into(), response_code: code.into() })
        }
        _ => {
            let reason = known.map_or_else(|| format!("{code} unknown response code"), |c| c.to_string());
            realtime::settle(store, credit_id, &["sent"], "failed", "response_code", Some(code)).await?;
            // The account itself is bad: the card says so, as a verification would.
            if verify::classify(known) == "invalid" {
                let result = VerificationResult {
                    card_id: card.id,
                    person_id: card.person_id.clone(),
                    bank_code: card.bank_code.clone(),
                    account_no: card.account_no.clone(),
                    stan: String::new(),
                    rrn: rrn.into(),
                    response_code: Some(code.into()),
                    result: "invalid",
                    detail: reason.clone(),
                };
                realtime::record_verifications(store, &[result]).await?;
            }
            warn!(serial_no, code, "credit declined");
            Ok(ReliefOutcome::Failed { serial_no: serial_no.into(), response_code: code.into(), reason })
        }
    }
}

/// Sends reversals of an unanswered credit until one is answered `00` or
/// `25` (settled: not paid) or the attempts of this command run out (still
/// unknown). Any other answer, or none, is tried again after a back-off.
async fn reverse(
    store: &Store,
    client: &Client,
    credit_id: i64,
    serial_no: &str,
    credit: &CreditRef,
) -> Result<ReliefOutcome, ChannelError> {
    let e = client.endpoint();
    let (attempts, mut backoff) = (e.reversal_attempts.max(1), e.reversal_backoff);
    let mut last = String::from("no reversal answered");
    for attempt in 1..=attempts {
        let stan = client.next_stan().await?;
        if !realtime::reversal_attempt(store, credit_id, &stan).await? {
            return Ok(ReliefOutcome::Unknown {
                serial_no: serial_no.into(),
                reason: "settled by another process".into(),
            });
        }
        match client.request(&client.reversal(&stan, credit)).await? {
            Answer::Response(r) => {
                let code = r.get(39).unwrap_or_default().to_string();
                if code == "00" || code == "25" {
                    realtime::settle(store, credit_id, &["reversing"], "reversed", "reversal_code", Some(&code))
                        .await?;
                    info!(serial_no, code, attempt, "credit reversed: not paid");
                    return Ok(ReliefOutcome::Reversed { serial_no: serial_no.into(), reversal_code: code });
                }
                last = format!("reversal {attempt} answered {code}");
            }
            Answer::Unknown(why) => last = format!("reversal {attempt}: {why}"),
        }
        warn!(serial_no, attempt, %last, "reversal not settled; trying again");
        if attempt < attempts {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(e.reversal_backoff_max);
        }
    }
    Ok(ReliefOutcome::Unknown { serial_no: serial_no.into(), reason: last })
}

/// Finishes the credits a crash (or a bank that never answered) left open:
/// each is reversed until settled. Credits a live process is still working
/// on (touched within their timeout and back-off) are left to it.
#[tracing::instrument(skip_all)]
pub async fn recover(store: &Store, config: &Config) -> Result<Vec<RecoveredCredit>, ChannelError> {
    let now = realtime::now_ms();
    let open = realtime::open_credits(store.pool(), now).await?;
    let mut by_bank: BTreeMap<String, Vec<CreditRow>> = BTreeMap::new();
    for c in open {
        // A live process touches its credit at least once per timeout plus back-off.
        let stale_after = config
            .bank(&c.bank_code)
            .and_then(|b| b.iso8583.as_ref())
            .map_or(60_000, |i| (i.timeout_ms + i.reversal_backoff_max_ms) as i64 + 1_000);
        if c.touched_ms < now - stale_after {
            by_bank.entry(c.bank_code.clone()).or_default().push(c);
        }
    }
    let mut done = Vec::new();
    for (bank, credits) in by_bank {
        let client = open_client(store, config, &bank)?;
        for c in credits {
            warn!(serial_no = %c.serial_no, state = %c.state, "open credit found at start: reversing");
            if c.state == "sent" {
                realtime::settle(store, c.id, &["sent"], "unknown", "response_code", None).await?;
            }
            let credit = CreditRef {
                account: c.account_no.clone(),
                amount_fen: c.amount_fen,
                stan: c.stan.clone(),
                rrn: c.rrn.clone(),
                transmitted: c.transmitted.clone(),
            };
            let outcome = reverse(store, &client, c.id, &c.serial_no, &credit).await?;
            let state = match outcome {
                ReliefOutcome::Reversed { .. } => "reversed",
                _ => "unknown",
            };
            done.push(RecoveredCredit { serial_no: c.serial_no, state: state.into() });
        }
    }
    Ok(done)
}
