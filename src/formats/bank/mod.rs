//! Bank disbursement request files and return files (bank-files.md), one
//! module per layout behind one small interface. Writers are given the batch
//! totals first and then stream details; readers stream details to a visitor
//! and check the header's totals against them, so a million-line file is
//! never held in memory.

use std::io::{BufRead, Write};

use chrono::{NaiveDate, NaiveDateTime};

use crate::config::Layout;
use crate::domain::Money;

pub mod cards;
pub mod fix_b;
pub mod iso20022;
mod text_common;
pub mod txt_a;

/// Everything a layout needs to write a request batch's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInfo {
    pub batch_no: String,
    pub bank_code: String,
    pub payer_account: String,
    pub payer_name: String,
    pub agency_code: String,
    pub value_date: NaiveDate,
    /// When the file was created (UTC), for ISO 20022 `CreDtTm`.
    pub created_at: NaiveDateTime,
    pub count: u64,
    pub total: Money,
}

/// One payment line of a request file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentDetail {
    pub seq: u64,
    pub serial_no: String,
    pub account_no: String,
    pub account_name: String,
    pub amount: Money,
    pub person_id: String,
    pub remark: String,
    /// The creditor's bank (the bank of the batch).
    pub bank_code: String,
}

/// What the bank says happened to one payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Paid,
    Failed,
    /// An ISO 20022 status that is not final (`ACTC`, `ACCP`, `ACSP`, `ACWC`, `PDNG`, `RCVD`).
    InFlight(String),
}

/// The header of one return file: totals describe the lines of this file.
/// ISO 20022 returns have no totals: their fields are computed from the details.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReturnHeader {
    pub batch_no: String,
    pub payer_account: String,
    pub value_date: Option<NaiveDate>,
    pub total_count: u64,
    pub total_amount: Money,
    pub ok_count: u64,
    pub ok_amount: Money,
    pub fail_count: u64,
    pub fail_amount: Money,
    /// pain.002 group status `RJCT` with no transaction entries: every payment of the batch failed.
    pub group_rejected: Option<ReasonCode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReasonCode {
    pub code: String,
    pub text: String,
}

/// One detail of a return file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnDetail {
    /// 1-based line number in the file (for XML: the line where the entry starts).
    pub line_no: u64,
    pub seq: Option<u64>,
    pub serial_no: String,
    pub account_no: Option<String>,
    pub account_name: Option<String>,
    pub amount: Option<Money>,
    pub outcome: Outcome,
    pub reason: ReasonCode,
    pub bank_ref: String,
}

/// A file that cannot be accepted as a whole, with the first offending line.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("line {line}: {message}")]
    Line { line: u64, message: String },
    #[error("{0}")]
    File(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl FormatError {
    pub fn line(line: u64, message: impl Into<String>) -> FormatError {
        FormatError::Line { line, message: message.into() }
    }
}

/// A bank's mapped failure reason (domain.md `bank_failed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BankReason {
    AccountNotFound,
    NameMismatch,
    AccountClosed,
    AccountFrozen,
    CardLost,
    IdMismatch,
    Other,
}

impl BankReason {
    pub fn as_str(self) -> &'static str {
        match self {
            BankReason::AccountNotFound => "account_not_found",
            BankReason::NameMismatch => "name_mismatch",
            BankReason::AccountClosed => "account_closed",
            BankReason::AccountFrozen => "account_frozen",
            BankReason::CardLost => "card_lost",
            BankReason::IdMismatch => "id_mismatch",
            BankReason::Other => "other",
        }
    }

    /// Maps a reason code of any layout; an unknown code is `Other`.
    pub fn from_code(layout: Layout, code: &str) -> BankReason {
        match (layout, code) {
            (Layout::TxtA | Layout::FixB, "1001") | (Layout::Iso20022, "AC01") => BankReason::AccountNotFound,
            (Layout::TxtA | Layout::FixB, "1002") | (Layout::Iso20022, "BE01") => BankReason::NameMismatch,
            (Layout::TxtA | Layout::FixB, "1003") | (Layout::Iso20022, "AC04") => BankReason::AccountClosed,
            (Layout::TxtA | Layout::FixB, "1004") | (Layout::Iso20022, "AC06") => BankReason::AccountFrozen,
            (Layout::TxtA | Layout::FixB, "1005") => BankReason::CardLost,
            (Layout::TxtA | Layout::FixB, "1006") | (Layout::Iso20022, "RR01" | "RR02") => BankReason::IdMismatch,
            _ => BankReason::Other,
        }
    }
}

/// Writes one request file: the header first (totals are known before the
/// details are streamed), then each detail, then whatever closes the file.
pub trait RequestWriter {
    fn header(&mut self, out: &mut dyn Write, batch: &BatchInfo) -> std::io::Result<()>;
    fn detail(&mut self, out: &mut dyn Write, detail: &PaymentDetail) -> std::io::Result<()>;
    fn finish(&mut self, out: &mut dyn Write, batch: &BatchInfo) -> std::io::Result<()>;
}

/// The request file name of a batch: `<bank>_<layout>_<batch_no>.<ext>`.
pub fn request_file_name(layout: Layout, bank_code: &str, batch_no: &str) -> String {
    match layout {
        Layout::TxtA => format!("{bank_code}_TXTA_{batch_no}.txt"),
        Layout::FixB => format!("{bank_code}_FIXB_{batch_no}.dat"),
        Layout::Iso20022 => format!("{bank_code}_PAIN001_{batch_no}.xml"),
    }
}

pub fn request_writer(layout: Layout) -> Box<dyn RequestWriter> {
    match layout {
        Layout::TxtA => Box::new(txt_a::TxtAWriter),
        Layout::FixB => Box::new(fix_b::FixBWriter),
        Layout::Iso20022 => Box::new(iso20022::Pain001Writer::default()),
    }
}

/// The pain.002 version a simulated bank answers in (both are accepted on reading).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pain002Version {
    #[default]
    V03,
    V12,
}

/// Writes one return file (the bank's side: used by the bank simulator).
/// The header's totals describe the lines of this file and are known first.
pub trait ReturnWriter {
    fn header(&mut self, out: &mut dyn Write, header: &ReturnHeader) -> std::io::Result<()>;
    fn detail(&mut self, out: &mut dyn Write, detail: &ReturnDetail) -> std::io::Result<()>;
    fn finish(&mut self, out: &mut dyn Write, header: &ReturnHeader) -> std::io::Result<()>;
}

pub fn return_writer(layout: Layout, version: Pain002Version) -> Box<dyn ReturnWriter> {
    match layout {
        Layout::TxtA => Box::new(txt_a::TxtAReturnWriter),
        Layout::FixB => Box::new(fix_b::FixBReturnWriter),
        Layout::Iso20022 => Box::new(iso20022::Pain002Writer::new(version)),
    }
}

/// Reads a request file of `layout` (the bank's side), streaming each detail
/// to `visit` and checking the header's count and total against them.
/// `BatchInfo::bank_code` and `agency_code` are empty where a layout does not carry them.
pub fn read_request(
    layout: Layout,
    input: &mut dyn BufRead,
    visit: &mut dyn FnMut(PaymentDetail) -> Result<(), FormatError>,
) -> Result<BatchInfo, FormatError> {
    match layout {
        Layout::TxtA => txt_a::read_request(input, visit),
        Layout::FixB => fix_b::read_request(input, visit),
        Layout::Iso20022 => iso20022::read_request(input, visit),
    }
}

/// Reads a return file of `layout`, streaming each detail to `visit`, and
/// checks the header totals (count, amount, ok/fail split) against the details.
/// Any failure names the first offending line.
pub fn read_return(
    layout: Layout,
    input: &mut dyn BufRead,
    visit: &mut dyn FnMut(ReturnDetail) -> Result<(), FormatError>,
) -> Result<ReturnHeader, FormatError> {
    read_return_announced(layout, input, &mut |_| Ok(()), visit)
}

/// [`read_return`] that also hands `batch` the batch number the file names
/// before the first detail (TXT-A and FIX-B: the header on line 1; ISO
/// 20022: `OrgnlMsgId`, which must come before the first transaction; a
/// pain.002 without transactions announces nothing). The returned header's
/// `batch_no` is the authority: a pain.002 with a second `OrgnlMsgId` after
/// its transactions ends with that one.
pub fn read_return_announced(
    layout: Layout,
    input: &mut dyn BufRead,
    batch: &mut dyn FnMut(&str) -> Result<(), FormatError>,
    visit: &mut dyn FnMut(ReturnDetail) -> Result<(), FormatError>,
) -> Result<ReturnHeader, FormatError> {
    match layout {
        Layout::TxtA => txt_a::read_return_announced(input, batch, visit),
        Layout::FixB => fix_b::read_return_announced(input, batch, visit),
        Layout::Iso20022 => iso20022::read_return_announced(input, batch, visit),
    }
}

/// The layout of a bank file from its first bytes (at least the first 152):
/// `<` (after a BOM or blanks) is ISO 20022; `H|` is TXT-A; a 150-byte first
/// record starting `H` is FIX-B.
pub fn detect_layout(head: &[u8]) -> Option<Layout> {
    const FIX_B_HEADER_LEN: usize = 150;
    let text = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    if text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') {
        return Some(Layout::Iso20022);
    }
    if text.starts_with(b"H|") {
        return Some(Layout::TxtA);
    }
    let first_record = head.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(head.len());
    (head.first() == Some(&b'H') && first_record == FIX_B_HEADER_LEN).then_some(Layout::FixB)
}
