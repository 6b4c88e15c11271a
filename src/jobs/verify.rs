//! Account verification (iso8583.md): a 0100 for a card's account before
//! its first payment or after an account change. `00` marks the account
//! verified; `14`, `54`, `62`, `N1` mark it invalid with the reason, which
//! holds the person's items with `no_active_card`; anything else, or no
//! answer, leaves it unverified for the next attempt.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::{mpsc, Semaphore};
use tracing::{info, warn};

use crate::config::Config;
use crate::domain::PersonId;
use crate::iso8583::client::{Answer, Client, ClientError, Endpoint, Stans};
use crate::iso8583::key::KeyError;
use crate::iso8583::{ResponseCode, SharedKey};
use crate::store::realtime::{self, ChannelCard, VerificationResult};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("bank {0} is not configured")]
    UnknownBank(String),
    #[error("bank {0} has no real-time channel: add an [iso8583] section to its bank_formats file")]
    NoChannel(String),
    #[error("person {0} has no active card with an account")]
    NoActiveCard(String),
    #[error("person {0} is not in the registry")]
    UnknownPerson(String),
    #[error("{0}")]
    Rejected(String),
}

/// Opens the channel to `bank` (its endpoint from the bank file, its key from the environment).
pub fn open_client(store: &Store, config: &Config, bank: &str) -> Result<Client, ChannelError> {
    let b = config.bank(bank).ok_or_else(|| ChannelError::UnknownBank(bank.into()))?;
    let endpoint = Endpoint::of_bank(b).ok_or_else(|| ChannelError::NoChannel(bank.into()))?;
    let key = SharedKey::load(bank)?;
    Ok(Client::start(endpoint, key, Stans::from_store(store.clone())))
}

/// What a verification run did.
#[derive(Debug, Default, Serialize)]
pub struct VerifySummary {
    pub checked: u64,
    pub verified: u64,
    pub invalid: u64,
    pub unknown: u64,
    /// Answers by response code (`none` for no answer).
    pub by_code: BTreeMap<String, u64>,
    /// Cards of banks without a real-time channel, not checked.
    pub skipped_banks: Vec<String>,
    pub seconds: f64,
    pub messages_per_second: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_max: f64,
}

/// What one answer means for the card.
pub fn classify(code: Option<ResponseCode>) -> &'static str {
    match code {
        Some(ResponseCode::Approved) => "verified",
        Some(
            ResponseCode::NoSuchAccount
            | ResponseCode::AccountClosed
            | ResponseCode::AccountFrozen
            | ResponseCode::HolderMismatch,
        ) => "invalid",
        _ => "unknown",
    }
}

/// A verification RRN: `V`, day of the year, hour, STAN — unique per bank and day.
fn verification_rrn(stan: &str) -> String {
    let now = chrono::Utc::now();
    format!("V{}{stan}", now.format("%j%H"))
}

/// Verifies one card now, whatever its current state (a caseworker's re-check).
#[tracing::instrument(skip_all, fields(person = %person_id.masked()))]
pub async fn verify_person(
    store: &Store,
    config: &Config,
    person_id: &PersonId,
) -> Result<VerifySummary, ChannelError> {
    let card = realtime::active_card(store.pool(), person_id.as_str())
        .await?
        .ok_or_else(|| ChannelError::NoActiveCard(person_id.masked()))?;
    let client = open_client(store, config, &card.bank_code)?;
    let started = Instant::now();
    let (result, latency) = verify_card(&client, &card).await?;
    let mut summary = VerifySummary::default();
    summary.add(&result, latency);
    realtime::record_verifications(store, &[result]).await?;
    summary.finish(started.elapsed(), vec![latency]);
    Ok(summary)
}

/// Sends one 0100 and says what it means.
pub async fn verify_card(client: &Client, card: &ChannelCard) -> Result<(VerificationResult, Duration), ChannelError> {
    let stan = client.next_stan().await?;
    let rrn = verification_rrn(&stan);
    let msg = client.verification(&stan, &rrn, &card.account_no, &card.person_id);
    let sent = Instant::now();
    let answer = client.request(&msg).await?;
    let latency = sent.elapsed();
    let (code, detail) = match &answer {
        Answer::Response(r) => {
            let raw = r.get(39).unwrap_or_default().to_string();
            let detail = match ResponseCode::parse(&raw) {
                Some(c) => c.to_string(),
                None => format!("{raw} unknown response code"),
            };
            (Some(raw), detail)
        }
        Answer::Unknown(why) => (None, why.to_string()),
    };
    let result = classify(code.as_deref().and_then(ResponseCode::parse));
    Ok((
        VerificationResult {
            card_id: card.id,
            person_id: card.person_id.clone(),
            bank_code: card.bank_code.clone(),
            account_no: card.account_no.clone(),
            stan,
            rrn,
            response_code: code,
            result,
            detail,
        },
        latency,
    ))
}

impl VerifySummary {
    fn add(&mut self, r: &VerificationResult, _latency: Duration) {
        self.checked += 1;
        match r.result {
            "verified" => self.verified += 1,
            "invalid" => self.invalid += 1,
            _ => self.unknown += 1,
        }
        *self.by_code.entry(r.response_code.clone().unwrap_or_else(|| "none".into())).or_default() += 1;
    }

    fn finish(&mut self, elapsed: Duration, mut latencies: Vec<Duration>) {
        self.seconds = elapsed.as_secs_f64();
        self.messages_per_second = if self.seconds > 0.0 { self.checked as f64 / self.seconds } else { 0.0 };
        latencies.sort();
        let pct = |p: usize| {
            if latencies.is_empty() {
                0.0
            } else {
                latencies[((latencies.len() * p).div_ceil(100)).saturating_sub(1).min(latencies.len() - 1)]
                    .as_secs_f64()
                    * 1000.0
            }
        };
        self.latency_ms_p50 = pct(50);
        self.latency_ms_p99 = pct(99);
        self.latency_ms_max = latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    }
}

/// Options of a verification of every unverified active card.
pub struct VerifyAllOptions {
    /// Only these banks (default: every bank with a real-time channel).
    pub banks: Vec<String>,
    /// Requests in flight per connection.
    pub window: usize,
}

/// Verifies every active card not yet verified (new cards, changed
/// accounts), one connection per bank, many requests in flight.
#[tracing::instrument(skip_all)]
pub async fn verify_all(
    store: &Store,
    config: &Config,
    opts: &VerifyAllOptions,
) -> Result<VerifySummary, ChannelError> {
    let mut summary = VerifySummary::default();
    let mut banks = Vec::new();
    for (code, bank) in &config.banks {
        if !opts.banks.is_empty() && !opts.banks.contains(code) {
            continue;
        }
        if bank.iso8583.is_some() {
            banks.push(code.clone());
        } else {
            summary.skipped_banks.push(code.clone());
        }
    }
    for code in &opts.banks {
        if !config.banks.contains_key(code) {
            return Err(ChannelError::UnknownBank(code.clone()));
        }
    }
    let started = Instant::now();
    let (results_tx, mut results) = mpsc::channel::<(VerificationResult, Duration)>(4096);
    let mut producers = Vec::new();
    for bank in banks {
        // A bank with nothing to verify is not called (nor its key needed).
        if realtime::cards_to_verify(store.pool(), &bank, 0, 1).await?.is_empty() {
            continue;
        }
        let client = Arc::new(open_client(store, config, &bank)?);
        let store = store.clone();
        let tx = results_tx.clone();
        let window = opts.window.max(1);
        producers.push(tokio::spawn(async move { verify_bank(store, client, bank, window, tx).await }));
    }
    drop(results_tx);
    let mut latencies = Vec::new();
    let mut batch = Vec::with_capacity(1000);
    while let Some((r, latency)) = results.recv().await {
        summary.add(&r, latency);
        latencies.push(latency);
        batch.push(r);
        if batch.len() >= 1000 {
            realtime::record_verifications(store, &batch).await?;
            batch.clear();
        }
    }
    realtime::record_verifications(store, &batch).await?;
    for p in producers {
        match p.await {
            Ok(r) => r?,
            Err(e) => return Err(ChannelError::Rejected(format!("a verification task failed: {e}"))),
        }
    }
    summary.finish(started.elapsed(), latencies);
    info!(
        checked = summary.checked,
        verified = summary.verified,
        invalid = summary.invalid,
        unknown = summary.unknown,
        per_second = summary.messages_per_second as u64,
        "verification done"
    );
    Ok(summary)
}

async fn verify_bank(
    store: Store,
    client: Arc<Client>,
    bank: String,
    window: usize,
    results: mpsc::Sender<(VerificationResult, Duration)>,
) -> Result<(), ChannelError> {
    let permits = Arc::new(Semaphore::new(window));
    let mut after = 0;
    loop {
        let page = realtime::cards_to_verify(store.pool(), &bank, after, 2000).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        for card in page {
            let Ok(permit) = permits.clone().acquire_owned().await else { break };
            let client = client.clone();
            let results = results.clone();
            tokio::spawn(async move {
                match verify_card(&client, &card).await {
                    Ok(r) => {
                        let _ = results.send(r).await;
                    }
                    Err(e) => warn!(bank = %card.bank_code, error = %e, "verification not sent"),
                }
                drop(permit);
            });
        }
    }
    // Wait for the requests still in flight.
    let _ = permits.acquire_many(window as u32).await;
    Ok(())
}
