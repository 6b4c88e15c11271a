//! The bank simulator (`onecard bank serve-iso`): the bank's side of
//! iso8583.md for tests and demonstrations. It knows accounts and their
//! states, answers every message of the spec with the right code, remembers
//! the RRNs it credited (a second credit with one is `94`), verifies MACs
//! (`A0`), and can be told to misbehave: delay, drop a response, close the
//! connection, answer out of order, send a bad MAC, or fail with `96`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::codec;
use super::message::{self, mti, MacCheck, Message, ResponseCode};
use super::SharedKey;

/// What the bank knows of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountStatus {
    Open,
    Lost,
    Closed,
    Frozen,
}

impl AccountStatus {
    pub fn parse(s: &str) -> Option<AccountStatus> {
        Some(match s {
            "open" | "active" | "made" => AccountStatus::Open,
            "lost" => AccountStatus::Lost,
            "closed" | "cancelled" => AccountStatus::Closed,
            "frozen" => AccountStatus::Frozen,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub person_id: String,
    pub status: AccountStatus,
}

/// One way to misbehave, for the responses to requests of one MTI (or all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Answer after this long.
    Delay(Duration),
    /// Process the request and never answer it.
    Drop,
    /// Process the request and close the connection without answering.
    Close,
    /// Hold responses until this many are held, then send them last first.
    Reorder(usize),
    /// Answer with a MAC that does not verify.
    BadMac,
    /// Answer `96` without processing the request.
    SystemError,
    /// Neither process nor answer the request, as if lost on the way.
    Lose,
}

/// `ACTION[=ARG][@MTI][*TIMES]`: `delay=1500@0200`, `drop@0200*1`,
/// `close*1`, `reorder=8`, `badmac@0110`, `error@0200*2`, `lose@0200*1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub action: Action,
    /// The request MTI it applies to (`0200`); every request when `None`.
    pub mti: Option<String>,
    /// How many requests it applies to; for ever when `None`.
    pub times: Option<u32>,
}

impl FromStr for Rule {
    type Err = String;

    fn from_str(raw: &str) -> Result<Rule, String> {
        let bad = |why: &str| format!("misbehaviour '{raw}': {why} (expected ACTION[=ARG][@MTI][*TIMES])");
        let (rest, times) = match raw.split_once('*') {
            Some((r, t)) => (
                r,
                Some(t.parse::<u32>().ok().filter(|&t| t > 0).ok_or_else(|| bad("TIMES is not a positive number"))?),
            ),
            None => (raw, None),
        };
        let (rest, mti) = match rest.split_once('@') {
            Some((r, m)) if m.len() == 4 && m.bytes().all(|b| b.is_ascii_digit()) => (r, Some(m.to_string())),
            Some(_) => return Err(bad("MTI is not 4 digits")),
            None => (rest, None),
        };
        let (name, arg) = match rest.split_once('=') {
            Some((n, a)) => (n, Some(a.parse::<u64>().map_err(|_| bad("ARG is not a number"))?)),
            None => (rest, None),
        };
        let action = match (name, arg) {
            ("delay", Some(ms)) => Action::Delay(Duration::from_millis(ms)),
            ("drop", None) => Action::Drop,
            ("close", None) => Action::Close,
            ("reorder", Some(n)) if n >= 2 => Action::Reorder(n as usize),
            ("badmac", None) => Action::BadMac,
            ("error", None) => Action::SystemError,
            ("lose", None) => Action::Lose,
            _ => return Err(bad("unknown action; use delay=MS, drop, close, reorder=N, badmac, error or lose")),
        };
        Ok(Rule { action, mti, times })
    }
}

/// A credit the bank made, by RRN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub account: String,
    pub amount_fen: i64,
    pub stan: String,
    pub reversed: bool,
}

/// What the simulator has done, for tests and the closing line.
#[derive(Debug, Default)]
pub struct Stats {
    pub received: AtomicU64,
    pub answered: AtomicU64,
    pub mac_failures: AtomicU64,
    pub duplicates: AtomicU64,
    pub unparseable: AtomicU64,
}

/// The simulated bank: accounts, credits by RRN, misbehaviour rules.
#[derive(Debug)]
pub struct BankSim {
    key: SharedKey,
    accounts: HashMap<String, Account>,
    credits: Mutex<HashMap<String, Credit>>,
    rules: Mutex<Vec<Rule>>,
    pub stats: Stats,
}

impl BankSim {
    pub fn new(key: SharedKey, accounts: HashMap<String, Account>) -> Arc<BankSim> {
        Arc::new(BankSim {
            key,
            accounts,
            credits: Mutex::new(HashMap::new()),
            rules: Mutex::new(Vec::new()),
            stats: Stats::default(),
        })
    }

    pub fn accounts(&self) -> usize {
        self.accounts.len()
    }

    /// Adds a misbehaviour rule; rules are tried in the order added.
    pub fn misbehave(&self, rule: Rule) {
        lock(&self.rules).push(rule);
    }

    pub fn behave(&self) {
        lock(&self.rules).clear();
    }

    /// The credit made under `rrn`, if any.
    pub fn credit(&self, rrn: &str) -> Option<Credit> {
        lock(&self.credits).get(rrn).cloned()
    }

    /// Credits that stand (not reversed): how many and how much.
    pub fn standing(&self) -> (usize, i64) {
        let credits = lock(&self.credits);
        let standing = credits.values().filter(|c| !c.reversed);
        standing.fold((0, 0), |(n, fen), c| (n + 1, fen + c.amount_fen))
    }

    /// The first rule for a request of `mti` still in force, used once.
    fn take_action(&self, request_mti: &str) -> Option<Action> {
        let mut rules = lock(&self.rules);
        let i = rules.iter().position(|r| r.mti.as_deref().is_none_or(|m| m == request_mti))?;
        let action = rules[i].action;
        if let Some(t) = &mut rules[i].times {
            *t = t.saturating_sub(1);
            if *t == 0 {
                rules.remove(i);
            }
        }
        Some(action)
    }

    /// The response to one received message (its bytes as sent), and what to
    /// do with it; `None` when there is nothing to answer (not a request, or
    /// not parseable: without a STAN there is nobody to answer).
    pub fn handle(&self, bytes: &[u8]) -> Option<(Message, Option<Action>)> {
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        let (request, mac) = match Message::decode_verified(bytes, &self.key) {
            Ok(r) => r,
            Err(e) => {
                self.stats.unparseable.fetch_add(1, Ordering::Relaxed);
                warn!(error = %e, "unparseable message ignored");
                return None;
            }
        };
        let response_mti = message::response_mti(&request.mti)?;
        let action = self.take_action(&request.mti);
        if action == Some(Action::Lose) {
            debug!(mti = %request.mti, "request lost on the way");
            return None;
        }
        let code = match mac {
            MacCheck::Invalid | MacCheck::Missing => {
                self.stats.mac_failures.fetch_add(1, Ordering::Relaxed);
                ResponseCode::MacFailure
            }
            MacCheck::Valid | MacCheck::NotRequired if action == Some(Action::SystemError) => ResponseCode::SystemError,
            MacCheck::Valid | MacCheck::NotRequired => self.process(&request),
        };
        if code == ResponseCode::Duplicate {
            self.stats.duplicates.fetch_add(1, Ordering::Relaxed);
        }
        let echoed: &[u8] = match request.mti.as_str() {
            mti::VERIFY => &[2, 3, 4, 7, 11, 32, 37, 41],
            mti::ECHO => &[7, 11, 70],
            mti::REVERSAL => &[2, 3, 4, 7, 11, 32, 37, 41, 49, 90],
            _ => &[2, 3, 4, 7, 11, 32, 37, 41, 49],
        };
        let mut response = Message::new(&response_mti);
        for &n in echoed {
            if let Some(v) = request.get(n) {
                response.set(n, v);
            }
        }
        response.set(39, code.as_str());
        debug!(mti = %request.mti, stan = request.get(11).unwrap_or(""), code = code.as_str(), "answered");
        Some((response, action.filter(|a| *a != Action::SystemError)))
    }

    /// The bank's decision on a request whose MAC verified.
    fn process(&self, m: &Message) -> ResponseCode {
        let present = |fields: &[u8]| fields.iter().all(|n| m.get(*n).is_some());
        match m.mti.as_str() {
            mti::ECHO if m.get(70) == Some(message::NET_ECHO) => ResponseCode::Approved,
            mti::VERIFY => {
                if !present(&[2, 11, 37]) || m.get(3) != Some(message::PROC_VERIFY) || m.get(4) != Some("000000000000")
                {
                    return ResponseCode::InvalidTransaction;
                }
                self.account_check(m)
            }
            mti::CREDIT => {
                let amount = m.get(4).and_then(|a| a.parse::<i64>().ok()).unwrap_or(0);
                if !present(&[2, 11, 37])
                    || m.get(3) != Some(message::PROC_CREDIT)
                    || amount <= 0
                    || m.get(49) != Some(message::CURRENCY_CNY)
                {
                    return ResponseCode::InvalidTransaction;
                }
                let rrn = m.get(37).unwrap_or_default();
                let mut credits = lock(&self.credits);
                if let Some(c) = credits.get(rrn) {
                    // Same RRN: the earlier credit stands; a reversed one is not credited again.
                    return if c.reversed { ResponseCode::InvalidTransaction } else { ResponseCode::Duplicate };
                }
                let code = self.account_check(m);
                if code == ResponseCode::Approved {
                    let account = m.get(2).unwrap_or_default().to_string();
                    let stan = m.get(11).unwrap_or_default().to_string();
                    credits.insert(rrn.to_string(), Credit { account, amount_fen: amount, stan, reversed: false });
                }
                code
            }
            mti::REVERSAL => {
                let original = m.get(90).unwrap_or_default();
                if !present(&[37]) || !original.starts_with(mti::CREDIT) {
                    return ResponseCode::InvalidTransaction;
                }
                let mut credits = lock(&self.credits);
                match credits.get_mut(m.get(37).unwrap_or_default()) {
                    None => ResponseCode::OriginalNotFound,
                    Some(c) => {
                        c.reversed = true;
                        ResponseCode::Approved
                    }
                }
            }
            _ => ResponseCode::InvalidTransaction,
        }
    }

    fn account_check(&self, m: &Message) -> ResponseCode {
        let Some(account) = m.get(2).and_then(|a| self.accounts.get(a)) else {
            return ResponseCode::NoSuchAccount;
        };
        if m.get(102).is_some_and(|holder| holder != account.person_id) {
            return ResponseCode::HolderMismatch;
        }
        match account.status {
            AccountStatus::Open => ResponseCode::Approved,
            AccountStatus::Lost => ResponseCode::CardLost,
            AccountStatus::Closed => ResponseCode::AccountClosed,
            AccountStatus::Frozen => ResponseCode::AccountFrozen,
        }
    }

    /// The bytes of a response, signed with the bank's key (or spoiled).
    fn encode(&self, response: &Message, bad_mac: bool) -> Option<Bytes> {
        let mut bytes = match response.encode(Some(&self.key)) {
            Ok(b) => b,
            Err(e) => {
                warn!(error = %e, "response not encodable");
                return None;
            }
        };
        if bad_mac && message::carries_mac(&response.mti) {
            let last = bytes.len() - 1;
            bytes[last] = if bytes[last] == b'0' { b'1' } else { b'0' };
        }
        Some(Bytes::from(bytes))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind: keep serving.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Accounts from a CSV file with the header `account_no,person_id,status`
/// (status `open`, `lost`, `closed` or `frozen`).
pub fn accounts_from_csv(path: &Path) -> anyhow::Result<HashMap<String, Account>> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut accounts = HashMap::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| anyhow::anyhow!("{} line {}: {e}", path.display(), i + 2))?;
        let (Some(account), Some(person), Some(status)) = (row.get(0), row.get(1), row.get(2)) else {
            anyhow::bail!("{} line {}: expected account_no,person_id,status", path.display(), i + 2);
        };
        let status = AccountStatus::parse(status.trim()).ok_or_else(|| {
            anyhow::anyhow!("{} line {}: status '{status}' is not open, lost, closed or frozen", path.display(), i + 2)
        })?;
        accounts.insert(account.trim().to_string(), Account { person_id: person.trim().to_string(), status });
    }
    Ok(accounts)
}

/// Accepts connections until the task is dropped; one task per connection.
pub async fn serve(listener: TcpListener, sim: Arc<BankSim>) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let sim = sim.clone();
        tokio::spawn(async move {
            info!(%peer, "client connected");
            connection(stream, sim).await;
            info!(%peer, "client gone");
        });
    }
}

/// The accounts the card centre knows for `bank` (made, active, lost and cancelled cards), as the bank holds them.
pub async fn accounts_from_store(
    store: &crate::store::Store,
    bank: &str,
) -> Result<HashMap<String, Account>, crate::store::StoreError> {
    let mut accounts = HashMap::new();
    for (account, person_id, state) in crate::store::realtime::simulator_accounts(store.pool(), Some(bank)).await? {
        let status = AccountStatus::parse(&state).unwrap_or(AccountStatus::Closed);
        accounts.insert(account, Account { person_id, status });
    }
    Ok(accounts)
}

/// Binds `addr` and serves in the background; returns the bound address.
pub async fn spawn(addr: &str, sim: Arc<BankSim>) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let handle = tokio::spawn(async move {
        if let Err(e) = serve(listener, sim).await {
            warn!(error = %e, "simulator stopped accepting");
        }
    });
    Ok((local, handle))
}

/// How long held out-of-order responses wait for company before going out anyway.
const REORDER_FLUSH: Duration = Duration::from_millis(200);

async fn connection(stream: TcpStream, sim: Arc<BankSim>) {
    let (rd, wr) = stream.into_split();
    let mut frames = codec::reader(rd);
    let (out, mut queue) = mpsc::unbounded_channel::<Bytes>();
    let writer = tokio::spawn(async move {
        let mut sink = codec::writer(wr);
        while let Some(first) = queue.recv().await {
            if sink.feed(first).await.is_err() {
                return;
            }
            while let Ok(more) = queue.try_recv() {
                if sink.feed(more).await.is_err() {
                    return;
                }
            }
            if SinkExt::<Bytes>::flush(&mut sink).await.is_err() {
                return;
            }
        }
    });
    let mut held: Vec<(Bytes, usize)> = Vec::new();
    let send_held = |held: &mut Vec<(Bytes, usize)>| {
        for (b, _) in held.drain(..).rev() {
            let _ = out.send(b);
        }
    };
    loop {
        let frame = tokio::select! {
            f = frames.next() => f,
            _ = tokio::time::sleep(REORDER_FLUSH), if !held.is_empty() => {
                send_held(&mut held);
                continue;
            }
        };
        let Some(Ok(frame)) = frame else { break };
        let Some((response, action)) = sim.handle(&frame) else { continue };
        let Some(bytes) = sim.encode(&response, action == Some(Action::BadMac)) else { continue };
        sim.stats.answered.fetch_add(1, Ordering::Relaxed);
        match action {
            None | Some(Action::BadMac) | Some(Action::SystemError) | Some(Action::Lose) => {
                let _ = out.send(bytes);
            }
            Some(Action::Drop) => debug!("response dropped"),
            Some(Action::Close) => {
                // The request was processed; the answer never leaves.
                writer.abort();
                return;
            }
            Some(Action::Delay(d)) => {
                let out = out.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    let _ = out.send(bytes);
                });
            }
            Some(Action::Reorder(n)) => {
                held.push((bytes, n));
                if held.len() >= n {
                    send_held(&mut held);
                }
            }
        }
    }
    send_held(&mut held);
    drop(out);
    // Delayed responses still hold a sender; the writer ends when they are sent or dropped.
    let _ = writer.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misbehaviour_rules_parse() {
        let r: Rule = "delay=1500@0200*2".parse().unwrap();
        assert_eq!(
            r,
            Rule { action: Action::Delay(Duration::from_millis(1500)), mti: Some("0200".into()), times: Some(2) }
        );
        assert_eq!("drop".parse::<Rule>().unwrap().action, Action::Drop);
        assert_eq!("reorder=4".parse::<Rule>().unwrap().action, Action::Reorder(4));
        assert!("reorder=1".parse::<Rule>().is_err());
        assert!("drop*0".parse::<Rule>().is_err());
        assert_eq!("lose@0200*1".parse::<Rule>().unwrap().action, Action::Lose);
        assert!("explode".parse::<Rule>().unwrap_err().contains("unknown action"));
        assert!("drop@02".parse::<Rule>().unwrap_err().contains("MTI"));
    }
}
