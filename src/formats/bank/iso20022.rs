//! Layout ISO20022 (bank-files.md): requests are `pain.001.001.09` credit
//! transfer initiations, returns are `pain.002` status reports in version
//! 001.03 or 001.12. Writers stream the XML by hand; readers stream it with
//! quick-xml, matching local names (any namespace prefix) and tracking lines,
//! never building a tree of the file.
//!
//! Where our fields live in pain.001 (the same paths are read back):
//! bank code → `DbtrAgt`/`CdtrAgt` `FinInstnId/ClrSysMmbId/MmbId`; agency code →
//! `Dbtr/Id/OrgId/Othr/Id` (scheme `Prtry` `AGENCY`); person id →
//! `Cdtr/Id/PrvtId/Othr/Id` (scheme `Cd` `NIDN`, national identity number).

use std::borrow::Cow;

use chrono::{DateTime, NaiveDate, NaiveDateTime};

use super::{FormatError, Outcome};
use crate::domain::Money;

#[path = "iso20022_read.rs"]
mod read;
#[path = "iso20022_request.rs"]
mod request;
#[path = "iso20022_write.rs"]
mod write;
#[path = "iso20022_xml.rs"]
mod xml;

pub use read::{read_return, read_return_announced};
pub use request::read_request;
pub use write::{Pain001Writer, Pain002Writer};

#[cfg(test)]
#[path = "iso20022_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "iso20022_read_tests.rs"]
mod read_tests;

const NS_PAIN001: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09";
const NS_PAIN002_V03: &str = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.03";
const NS_PAIN002_V12: &str = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.12";
/// `OrgnlMsgNmId` of a status report answering our requests.
const PAIN001_NAME: &str = "pain.001.001.09";

/// Schema length limits used by both directions (characters, not bytes).
const MAX35: usize = 35;
const MAX34: usize = 34;
const MAX140: usize = 140;
const MAX105: usize = 105;
/// `ExternalStatusReason1Code`: a longer bank code goes into `Rsn/Prtry` (Max35Text).
const MAX_REASON_CD: usize = 4;

/// Transaction statuses that are recorded but not final (bank-files.md).
const IN_FLIGHT: [&str; 6] = ["ACTC", "ACCP", "ACSP", "ACWC", "PDNG", "RCVD"];

/// Maps a pain.002 `TxSts`; `None` for a code the spec does not know.
fn outcome_of(status: &str) -> Option<Outcome> {
    match status {
        "ACSC" | "ACCC" => Some(Outcome::Paid),
        "RJCT" => Some(Outcome::Failed),
        s if IN_FLIGHT.contains(&s) => Some(Outcome::InFlight(s.to_string())),
        _ => None,
    }
}

/// Whether XML 1.0 allows the character at all (escaped or not).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// A free text (name, remark, reason) as it is written: characters XML cannot
/// carry and line breaks become spaces, outer spaces are trimmed, and the text
/// is cut to `max` characters (never inside a character). `None` when nothing is left,
/// since every ISO text type has a minimum length of one.
fn fit_text(raw: &str, max: usize) -> Option<String> {
    let cleaned: String = raw.chars().map(|c| if c.is_control() || !is_xml_char(c) { ' ' } else { c }).collect();
    let cut: String = cleaned.trim().chars().take(max).collect();
    let cut = cut.trim_end();
    (!cut.is_empty()).then(|| cut.to_string())
}

/// Escapes `& < > " '` for element text and attribute values.
fn esc(text: &str) -> Cow<'_, str> {
    quick_xml::escape::escape(text)
}

/// An `InstdAmt` or `CtrlSum`: strict yuan (see [`Money::parse`]), in CNY when a currency is given.
fn money_at(line: u64, field: &str, text: &str, currency: Option<&str>) -> Result<Money, FormatError> {
    if let Some(ccy) = currency.filter(|c| *c != "CNY") {
        return Err(FormatError::line(line, format!("{field} is in {ccy}; only CNY is paid")));
    }
    Money::parse(text).map_err(|e| FormatError::line(line, format!("{field}: {e}")))
}

/// `NbOfTxs` (Max15NumericText).
fn count_at(line: u64, field: &str, text: &str) -> Result<u64, FormatError> {
    match text.parse::<u64>() {
        Ok(n) if text.len() <= 15 && text.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(FormatError::line(line, format!("{field} '{text}' is not a count of transactions"))),
    }
}

/// An ISO date-time; with an offset it is converted to UTC, without one it is taken as UTC.
fn date_time_at(line: u64, field: &str, text: &str) -> Result<NaiveDateTime, FormatError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.naive_utc())
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
        .map_err(|_| FormatError::line(line, format!("{field} '{text}' is not an ISO date-time")))
}

fn date_at(line: u64, field: &str, text: &str) -> Result<NaiveDate, FormatError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| FormatError::line(line, format!("{field} '{text}' is not an ISO date (YYYY-MM-DD)")))
}
