//! Reading a return file on a blocking thread: its digest first, then the
//! details handed over in chunks as they are parsed.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::{ReconcileError, CHUNK};
use crate::config::Layout;
use crate::formats::bank::{self, FormatError, ReturnDetail};

/// What the reading thread hands over: the batch number first, then details in chunks.
pub(super) enum Parsed {
    Batch(String),
    Details(Vec<ReturnDetail>),
}

/// A file being read on a blocking thread.
pub(super) struct Reading {
    parsed: tokio::sync::mpsc::Receiver<Parsed>,
    thread: Option<tokio::task::JoinHandle<Result<bank::ReturnHeader, String>>>,
    /// What the thread came to, once it is joined.
    ended: Option<Result<bank::ReturnHeader, String>>,
}

impl Reading {
    pub(super) fn start(path: &Path, layout: Layout) -> Reading {
        let (out, parsed) = tokio::sync::mpsc::channel::<Parsed>(4);
        let path = path.to_path_buf();
        let thread = tokio::task::spawn_blocking(move || parse(&path, layout, out));
        Reading { parsed, thread: Some(thread), ended: None }
    }

    pub(super) async fn next(&mut self) -> Option<Parsed> {
        self.parsed.recv().await
    }

    /// Reads to the end: the header, or why the file is not a whole one.
    pub(super) async fn finish(&mut self) -> Result<Result<bank::ReturnHeader, String>, ReconcileError> {
        while self.parsed.recv().await.is_some() {}
        if let Some(thread) = self.thread.take() {
            self.ended = Some(thread.await.map_err(|e| ReconcileError::Io(e.to_string()))?);
        }
        Ok(self.ended.clone().unwrap_or_else(|| Err("reconciliation stopped".into())))
    }
}

/// SHA-256 of the file and its first bytes.
pub(super) fn digest(path: &Path) -> Result<(String, Vec<u8>), String> {
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut head = Vec::new();
    loop {
        let n = f.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        if head.len() < 256 {
            head.extend_from_slice(&buf[..n.min(256 - head.len())]);
        }
        hasher.update(&buf[..n]);
    }
    Ok((hex::encode(hasher.finalize()), head))
}

/// Parses the file (on a blocking thread), handing over the batch number
/// and then the details in chunks; the header's totals are checked at the end.
fn parse(path: &Path, layout: Layout, out: tokio::sync::mpsc::Sender<Parsed>) -> Result<bank::ReturnHeader, String> {
    let f = File::open(path).map_err(|e| e.to_string())?;
    let stopped = || FormatError::File("reconciliation stopped".into());
    let mut chunk = Vec::with_capacity(CHUNK);
    let header = bank::read_return_announced(
        layout,
        &mut BufReader::with_capacity(1 << 20, f),
        &mut |batch_no| out.blocking_send(Parsed::Batch(batch_no.to_string())).map_err(|_| stopped()),
        &mut |d| {
            chunk.push(d);
            if chunk.len() >= CHUNK {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
                out.blocking_send(Parsed::Details(full)).map_err(|_| stopped())?;
            }
            Ok(())
        },
    )
    .map_err(|e| e.to_string())?;
    if !chunk.is_empty() {
        out.blocking_send(Parsed::Details(chunk)).map_err(|_| "reconciliation stopped".to_string())?;
    }
    Ok(header)
}
