//! The card centre's side of iso8583.md: one long-lived TCP connection per
//! bank carrying many requests at once. Responses are matched to requests by
//! MTI, STAN (field 11) and RRN (field 37), never by order. An idle line is
//! kept alive with 0800 echoes; a lost connection is re-opened with back-off.
//!
//! A request not answered in time is [`Answer::Unknown`], never failed: what
//! it means (a reversal for a credit) is the caller's decision.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::codec;
use super::message::{self, mti, MacCheck, Message};
use super::SharedKey;
use crate::store::Store;

/// Where and how to reach one bank.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub bank_code: String,
    pub host: String,
    pub port: u16,
    pub terminal_id: String,
    pub agency_code: String,
    /// A request not answered within this is unknown (default 10 s).
    pub timeout: Duration,
    /// An echo (0800) is sent this often on an open connection.
    pub echo_interval: Duration,
    /// Reversals of one unanswered credit sent by one command at most.
    pub reversal_attempts: u32,
    /// Wait before the second reversal, doubled each time up to the longest.
    pub reversal_backoff: Duration,
    pub reversal_backoff_max: Duration,
}

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Response(Message),
    /// No answer: the request may or may not have been acted on.
    Unknown(Unknown),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    Timeout,
    ConnectionLost,
}

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unknown::Timeout => "no answer within the timeout",
            Unknown::ConnectionLost => "the connection was lost before the answer",
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("bank {bank}: {source}")]
    Encode { bank: String, source: message::EncodeError },
    #[error("bank {bank}: request {mti} has no STAN or is not a request")]
    NotARequest { bank: String, mti: String },
    #[error("bank {bank}: STAN {stan} with RRN '{rrn}' is already in flight")]
    InFlight { bank: String, stan: String, rrn: String },
    #[error("bank {bank}: the STANs of {day} are used up (999,999 a day)")]
    StansExhausted { bank: String, day: String },
    #[error("bank {bank}: the client has stopped")]
    Stopped { bank: String },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// Counters of what the connection saw.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub connects: AtomicU64,
    pub sent: AtomicU64,
    pub answered: AtomicU64,
    /// Responses that matched nothing in flight (late, after their timeout).
    pub unmatched: AtomicU64,
    /// Responses whose MAC did not verify, ignored.
    pub bad_mac: AtomicU64,
}

type MatchKey = (String, String, String);

struct Outgoing {
    bytes: Bytes,
    deadline: Instant,
    key: MatchKey,
}

struct Shared {
    endpoint: Endpoint,
    key: SharedKey,
    pending: Mutex<HashMap<MatchKey, oneshot::Sender<Message>>>,
    stans: Stans,
    stats: ClientStats,
    out: mpsc::Sender<Outgoing>,
}

/// A connection to one bank; dropping it closes the connection.
pub struct Client {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Client {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const BACKOFF_MIN: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// Requests queued for the connection at most.
const QUEUE: usize = 8192;

impl Client {
    /// Starts the connection task; requests wait for the connection.
    pub fn start(endpoint: Endpoint, key: SharedKey, stans: Stans) -> Client {
        let (out, queue) = mpsc::channel(QUEUE);
        let shared = Arc::new(Shared {
            endpoint,
            key,
            pending: Mutex::new(HashMap::new()),
            stans,
            stats: ClientStats::default(),
            out,
        });
        let task = tokio::spawn(connection_loop(shared.clone(), queue));
        Client { shared, task }
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.shared.endpoint
    }

    pub fn stats(&self) -> &ClientStats {
        &self.shared.stats
    }

    /// The next STAN of the day.
    pub async fn next_stan(&self) -> Result<String, ClientError> {
        self.shared.stans.next(&self.shared.endpoint.bank_code).await
    }

    /// Sends a request (field 11 set) and waits for its response or the timeout.
    pub async fn request(&self, msg: &Message) -> Result<Answer, ClientError> {
        self.shared.request(msg, self.shared.endpoint.timeout).await
    }

    /// Sends any bytes as a request would be sent, matched by (response MTI,
    /// STAN, RRN): for tests that need a message the builders would not make.
    pub async fn request_raw(&self, bytes: Vec<u8>, key: (&str, &str, &str)) -> Result<Answer, ClientError> {
        let key = (key.0.to_string(), key.1.to_string(), key.2.to_string());
        self.shared.send_and_wait(Bytes::from(bytes), key, self.shared.endpoint.timeout).await
    }

    /// A verification request (0100).
    pub fn verification(&self, stan: &str, rrn: &str, account: &str, holder: &str) -> Message {
        self.financial(mti::VERIFY, message::PROC_VERIFY, stan, rrn, account, 0, &transmission_time()).with(102, holder)
    }

    /// A credit (0200); `transmitted` is its field 7, kept for a reversal.
    pub fn credit(&self, c: &CreditRef, holder: &str) -> Message {
        self.financial(mti::CREDIT, message::PROC_CREDIT, &c.stan, &c.rrn, &c.account, c.amount_fen, &c.transmitted)
            .with(102, holder)
    }

    /// A reversal (0400) of credit `c`, with a new STAN and a new field 7.
    pub fn reversal(&self, stan: &str, c: &CreditRef) -> Message {
        let e = &self.shared.endpoint;
        let mut m = Message::new(mti::REVERSAL)
            .with(2, &c.account)
            .with(3, message::PROC_CREDIT)
            .with(4, format!("{:012}", c.amount_fen))
            .with(7, transmission_time())
            .with(11, stan)
            .with(32, &e.agency_code)
            .with(37, &c.rrn)
            .with(41, &e.terminal_id)
            .with(49, message::CURRENCY_CNY);
        m.set(90, original_data(&c.stan, &c.transmitted, &e.agency_code));
        m
    }

    pub fn echo(&self, stan: &str) -> Message {
        echo(stan)
    }

    #[allow(clippy::too_many_arguments)]
    fn financial(
        &self,
        mti: &str,
        proc_code: &str,
        stan: &str,
        rrn: &str,
        account: &str,
        amount_fen: i64,
        transmitted: &str,
    ) -> Message {
        let e = &self.shared.endpoint;
        let local = chrono::Local::now();
        Message::new(mti)
            .with(2, account)
            .with(3, proc_code)
            .with(4, format!("{amount_fen:012}"))
            .with(7, transmitted)
            .with(11, stan)
            .with(12, local.format("%H%M%S").to_string())
            .with(13, local.format("%m%d").to_string())
            .with(32, &e.agency_code)
            .with(37, rrn)
            .with(41, &e.terminal_id)
            .with(49, message::CURRENCY_CNY)
    }
}

/// What a reversal needs to know of its credit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditRef {
    pub account: String,
    pub amount_fen: i64,
    pub stan: String,
    pub rrn: String,
    /// The credit's field 7, `MMDDhhmmss` UTC.
    pub transmitted: String,
}

/// Field 7 now: `MMDDhhmmss` UTC.
pub fn transmission_time() -> String {
    chrono::Utc::now().format("%m%d%H%M%S").to_string()
}

/// Field 90: original MTI, STAN, field 7, field 32 right-aligned zero-padded to 11, 11 zeros.
pub fn original_data(stan: &str, transmitted: &str, agency_code: &str) -> String {
    format!("{}{stan:0>6}{transmitted:0>10}{agency_code:0>11}{}", mti::CREDIT, "0".repeat(11))
}

fn echo(stan: &str) -> Message {
    Message::new(mti::ECHO).with(7, transmission_time()).with(11, stan).with(70, message::NET_ECHO)
}

impl Shared {
    async fn request(&self, msg: &Message, timeout: Duration) -> Result<Answer, ClientError> {
        let bank = || self.endpoint.bank_code.clone();
        let (Some(response_mti), Some(stan)) = (message::response_mti(&msg.mti), msg.get(11)) else {
            return Err(ClientError::NotARequest { bank: bank(), mti: msg.mti.clone() });
        };
        let key = (response_mti, stan.to_string(), msg.get(37).unwrap_or_default().to_string());
        let bytes = msg.encode(Some(&self.key)).map_err(|source| ClientError::Encode { bank: bank(), source })?;
        self.send_and_wait(Bytes::from(bytes), key, timeout).await
    }

    async fn send_and_wait(&self, bytes: Bytes, key: MatchKey, timeout: Duration) -> Result<Answer, ClientError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut pending = lock(&self.pending);
            if pending.contains_key(&key) {
                let (_, stan, rrn) = key;
                return Err(ClientError::InFlight { bank: self.endpoint.bank_code.clone(), stan, rrn });
            }
            pending.insert(key.clone(), tx);
        }
        let deadline = Instant::now() + timeout;
        if self.out.send(Outgoing { bytes, deadline, key: key.clone() }).await.is_err() {
            lock(&self.pending).remove(&key);
            return Err(ClientError::Stopped { bank: self.endpoint.bank_code.clone() });
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(m)) => Ok(Answer::Response(m)),
            Ok(Err(_)) => Ok(Answer::Unknown(Unknown::ConnectionLost)),
            Err(_) => {
                lock(&self.pending).remove(&key);
                Ok(Answer::Unknown(Unknown::Timeout))
            }
        }
    }

    /// A received frame: a response goes to whoever waits for it.
    fn deliver(&self, frame: &[u8], replies: &mpsc::UnboundedSender<Bytes>) {
        let (m, check) = match Message::decode_verified(frame, &self.key) {
            Ok(r) => r,
            Err(e) => {
                warn!(bank = %self.endpoint.bank_code, error = %e, "unparseable message from the bank ignored");
                return;
            }
        };
        if m.is_request() {
            // The bank may echo us too.
            if m.mti == mti::ECHO && m.get(70) == Some(message::NET_ECHO) {
                let mut r = Message::new(mti::ECHO_RESPONSE);
                for n in [7, 11, 70] {
                    if let Some(v) = m.get(n) {
                        r.set(n, v);
                    }
                }
                r.set(39, "00");
                if let Ok(b) = r.encode(None) {
                    let _ = replies.send(Bytes::from(b));
                }
            }
            return;
        }
        if matches!(check, MacCheck::Invalid | MacCheck::Missing) {
            self.stats.bad_mac.fetch_add(1, Ordering::Relaxed);
            warn!(bank = %self.endpoint.bank_code, mti = %m.mti, stan = m.get(11).unwrap_or(""),
                  "response with a MAC that does not verify ignored");
            return;
        }
        let key = (m.mti.clone(), m.get(11).unwrap_or_default().to_string(), m.get(37).unwrap_or_default().to_string());
        let waiting = lock(&self.pending).remove(&key);
        match waiting {
            Some(tx) => {
                self.stats.answered.fetch_add(1, Ordering::Relaxed);
                let _ = tx.send(m);
            }
            None => {
                self.stats.unmatched.fetch_add(1, Ordering::Relaxed);
                warn!(bank = %self.endpoint.bank_code, mti = %key.0, stan = %key.1, rrn = %key.2,
                      code = m.get(39).unwrap_or(""), "response matches no request in flight (late?) ignored");
            }
        }
    }

    /// Every request in flight learns that its connection is gone.
    fn fail_pending(&self) {
        lock(&self.pending).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The map holds plain data: a panic elsewhere leaves it usable.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

async fn connection_loop(shared: Arc<Shared>, mut queue: mpsc::Receiver<Outgoing>) {
    let e = &shared.endpoint;
    let addr = format!("{}:{}", e.host, e.port);
    let mut backoff = BACKOFF_MIN;
    loop {
        let stream = match tokio::time::timeout(e.timeout, TcpStream::connect(&addr)).await {
            Ok(Ok(s)) => s,
            Ok(Err(err)) => {
                warn!(bank = %e.bank_code, %addr, error = %err, retry_in = ?backoff, "cannot connect");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
            Err(_) => {
                warn!(bank = %e.bank_code, %addr, retry_in = ?backoff, "connect timed out");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        backoff = BACKOFF_MIN;
        shared.stats.connects.fetch_add(1, Ordering::Relaxed);
        info!(bank = %e.bank_code, %addr, "connected");
        let stopped = session(&shared, stream, &mut queue).await;
        shared.fail_pending();
        if stopped {
            return;
        }
        warn!(bank = %e.bank_code, %addr, "connection lost; reconnecting");
    }
}

/// One connection's life; true when the client itself has gone.
async fn session(shared: &Arc<Shared>, stream: TcpStream, queue: &mut mpsc::Receiver<Outgoing>) -> bool {
    let (rd, wr) = stream.into_split();
    let mut frames = codec::reader(rd);
    let mut sink = codec::writer(wr);
    let (replies_tx, mut replies) = mpsc::unbounded_channel::<Bytes>();
    let dead = Arc::new(Notify::new());
    let reader = async {
        while let Some(Ok(frame)) = frames.next().await {
            shared.deliver(&frame, &replies_tx);
        }
    };
    let writer = async {
        let mut echo = tokio::time::interval(shared.endpoint.echo_interval);
        echo.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        echo.tick().await;
        loop {
            let next = tokio::select! {
                o = queue.recv() => match o {
                    Some(o) => Some(o),
                    None => return true,
                },
                r = replies.recv() => {
                    if let Some(r) = r {
                        if sink.send(r).await.is_err() {
                            return false;
                        }
                    }
                    None
                }
                _ = echo.tick() => {
                    spawn_echo(shared.clone(), dead.clone());
                    None
                }
            };
            let Some(first) = next else { continue };
            let mut batch = vec![first];
            while batch.len() < 256 {
                match queue.try_recv() {
                    Ok(o) => batch.push(o),
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            for o in batch {
                // A request whose caller has given up (or whose connection was lost) is not sent late.
                if o.deadline <= now || !lock(&shared.pending).contains_key(&o.key) {
                    debug!(stan = %o.key.1, "request expired before it could be sent");
                    continue;
                }
                if sink.feed(o.bytes).await.is_err() {
                    return false;
                }
                shared.stats.sent.fetch_add(1, Ordering::Relaxed);
            }
            if SinkExt::<Bytes>::flush(&mut sink).await.is_err() {
                return false;
            }
        }
    };
    tokio::select! {
        _ = reader => false,
        stopped = writer => stopped,
        _ = dead.notified() => false,
    }
}

/// An echo that goes unanswered ends the connection (the loop opens a new one).
fn spawn_echo(shared: Arc<Shared>, dead: Arc<Notify>) {
    tokio::spawn(async move {
        let Ok(stan) = shared.stans.next(&shared.endpoint.bank_code).await else { return };
        match shared.request(&echo(&stan), shared.endpoint.timeout).await {
            Ok(Answer::Response(r)) if r.get(39) == Some("00") => {
                debug!(bank = %shared.endpoint.bank_code, "echo answered")
            }
            other => {
                warn!(bank = %shared.endpoint.bank_code, answer = ?other, "echo not answered; reconnecting");
                dead.notify_one();
            }
        }
    });
}

/// STANs: unique per client per day (1 to 999,999). From the database in
/// blocks, so that restarts and concurrent commands never reuse one on the
/// same day; or from memory, for a client without a database.
pub struct Stans {
    store: Option<Store>,
    state: tokio::sync::Mutex<StanBlock>,
}

#[derive(Default)]
struct StanBlock {
    day: String,
    next: i64,
    end: i64,
}

/// STANs reserved from the database at a time.
const STAN_BLOCK: i64 = 1000;
pub const STAN_MAX: i64 = 999_999;

impl Stans {
    pub fn from_store(store: Store) -> Stans {
        Stans { store: Some(store), state: tokio::sync::Mutex::new(StanBlock::default()) }
    }

    pub fn in_memory() -> Stans {
        Stans { store: None, state: tokio::sync::Mutex::new(StanBlock::default()) }
    }

    pub async fn next(&self, bank: &str) -> Result<String, ClientError> {
        let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let mut b = self.state.lock().await;
        if b.day != day || b.next >= b.end {
            let first = match &self.store {
                Some(store) => crate::store::realtime::reserve_stans(store, bank, &day, STAN_BLOCK).await?,
                None if b.day == day => b.end,
                None => 1,
            };
            if first > STAN_MAX {
                return Err(ClientError::StansExhausted { bank: bank.into(), day });
            }
            *b = StanBlock { day, next: first, end: (first + STAN_BLOCK).min(STAN_MAX + 1) };
        }
        let stan = b.next;
        b.next += 1;
        Ok(format!("{stan:06}"))
    }
}

impl Endpoint {
    /// The endpoint of a configured bank, if it has a real-time channel.
    pub fn of_bank(bank: &crate::config::BankConfig) -> Option<Endpoint> {
        let iso = bank.iso8583.as_ref()?;
        Some(Endpoint {
            bank_code: bank.bank_code.clone(),
            host: iso.host.clone(),
            port: iso.port,
            terminal_id: iso.terminal_id.clone(),
            agency_code: bank.agency_code.clone(),
            timeout: Duration::from_millis(iso.timeout_ms),
            echo_interval: Duration::from_millis(iso.echo_interval_ms.max(100)),
            reversal_attempts: iso.reversal_attempts,
            reversal_backoff: Duration::from_millis(iso.reversal_backoff_ms),
            reversal_backoff_max: Duration::from_millis(iso.reversal_backoff_max_ms),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_90_points_at_the_original() {
        let f90 = original_data("000042", "1105093000", "44070001");
        assert_eq!(f90, "020000004211050930000004407000100000000000");
        assert_eq!(f90.len(), 42);
    }

    #[tokio::test]
    async fn stans_in_memory_count_up_within_the_day() {
        let s = Stans::in_memory();
        assert_eq!(s.next("105").await.unwrap(), "000001");
        assert_eq!(s.next("105").await.unwrap(), "000002");
    }
}
