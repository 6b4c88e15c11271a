//! The access log's writer: requests hand their entries to one task that
//! appends them in batches (one transaction, one chain step each) and answers
//! each request once its entry is committed, so no read goes unrecorded.

use tokio::sync::{mpsc, oneshot};

use crate::store::audit::{self, NewEntry};
use crate::store::{now_text, Store, StoreError};

#[derive(Clone)]
pub struct AuditLog {
    tx: mpsc::Sender<(NewEntry, oneshot::Sender<bool>)>,
}

impl AuditLog {
    pub fn start(store: Store) -> AuditLog {
        let (tx, mut rx) = mpsc::channel::<(NewEntry, oneshot::Sender<bool>)>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < 512 {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let entries: Vec<NewEntry> = batch.iter().map(|(e, _)| e.clone()).collect();
                let ok = match write(&store, &entries).await {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::error!("access log append failed: {e}");
                        false
                    }
                };
                for (_, done) in batch {
                    let _ = done.send(ok);
                }
            }
        });
        AuditLog { tx }
    }

    /// Records one entry; false if it could not be written (the caller refuses to answer).
    pub async fn record(&self, actor: &str, action: &str, subject: &str, remote: &str, detail: &str) -> bool {
        let entry = NewEntry {
            at: now_text(),
            actor: actor.to_string(),
            action: action.to_string(),
            subject: subject.to_string(),
            remote_addr: remote.to_string(),
            detail: detail.to_string(),
        };
        let (done, wait) = oneshot::channel();
        if self.tx.send((entry, done)).await.is_err() {
            return false;
        }
        wait.await.unwrap_or(false)
    }
}

async fn write(store: &Store, entries: &[NewEntry]) -> Result<(), StoreError> {
    let mut tx = store.begin_write().await?;
    audit::append(&mut tx, entries).await?;
    tx.commit().await
}
