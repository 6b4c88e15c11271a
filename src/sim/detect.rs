//! Which kind of request a file is: first by the export's file names
//! (`formats::bank::request_file_name`), then by its first bytes.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::{RequestKind, SimError};
use crate::config::Layout;

/// Enough of a file to see a FIX-B header record and its CRLF.
const FIX_B_HEADER_LEN: usize = 150;

pub(super) fn kind_of(path: &Path) -> Result<RequestKind, SimError> {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    if let Some(layout) = by_name(&name) {
        return Ok(RequestKind::Disbursement(layout));
    }
    if crate::formats::bank::cards::is_request_name(&name) {
        return Ok(RequestKind::CardMaking);
    }
    let mut head = Vec::with_capacity(FIX_B_HEADER_LEN + 2);
    File::open(path)
        .and_then(|f| f.take(FIX_B_HEADER_LEN as u64 + 2).read_to_end(&mut head))
        .map_err(|source| SimError::Read { path: path.to_path_buf(), source })?;
    by_content(&head).map(RequestKind::Disbursement).ok_or_else(|| SimError::UnknownLayout { path: path.to_path_buf() })
}

/// `<bank>_TXTA_<batch>.txt`, `<bank>_FIXB_<batch>.dat`, `<bank>_PAIN001_<batch>.xml`.
pub(super) fn by_name(name: &str) -> Option<Layout> {
    let (stem, ext) = name.rsplit_once('.')?;
    let mut parts = stem.split('_');
    let (bank, tag, batch) = (parts.next()?, parts.next()?, parts.next()?);
    let batch_ok = !batch.is_empty() && batch.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase());
    if bank.is_empty() || !batch_ok || parts.next().is_some() {
        return None;
    }
    match (tag, ext) {
        ("TXTA", "txt") => Some(Layout::TxtA),
        ("FIXB", "dat") => Some(Layout::FixB),
        ("PAIN001", "xml") => Some(Layout::Iso20022),
        _ => None,
    }
}

/// The layout from the first bytes (`formats::bank::detect_layout`).
pub(super) fn by_content(head: &[u8]) -> Option<Layout> {
    crate::formats::bank::detect_layout(head)
}
