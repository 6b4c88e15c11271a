//! What the two GBK text layouts (TXT-A and FIX-B) share: reading lines into
//! one reused buffer, the small parsers both need (dates, digit strings, GBK
//! fields), checking header totals against the details, and the errors their
//! writers give for text GBK cannot carry.

use std::borrow::Cow;
use std::io::{self, BufRead, Read};

use chrono::NaiveDate;
use encoding_rs::GBK;

use super::{FormatError, Outcome, ReturnHeader};
use crate::domain::Money;
use crate::formats::gbk;

/// Longest line accepted, so a file without line ends cannot exhaust memory.
/// FIX-B records are at most 262 bytes; a TXT-A line is a few hundred.
const MAX_LINE: usize = 64 * 1024;

/// How a line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Ending {
    CrLf,
    Lf,
    /// The file ended in the middle of the line.
    Missing,
}

/// One line of a file, without its ending.
#[derive(Debug)]
pub(super) struct Line<'b> {
    /// 1-based line number.
    pub(super) no: u64,
    pub(super) bytes: &'b [u8],
    pub(super) ending: Ending,
}

/// Lines of a file read into one reused buffer, numbered from 1.
pub(super) struct Lines<'a> {
    input: &'a mut dyn BufRead,
    buf: Vec<u8>,
    line_no: u64,
}

impl<'a> Lines<'a> {
    pub(super) fn new(input: &'a mut dyn BufRead) -> Lines<'a> {
        Lines { input, buf: Vec::with_capacity(512), line_no: 0 }
    }

    /// The next line; `None` at the end of the file.
    pub(super) fn next_line(&mut self) -> Result<Option<Line<'_>>, FormatError> {
        self.buf.clear();
        let n = Read::take(&mut *self.input, MAX_LINE as u64 + 1).read_until(b'\n', &mut self.buf)?;
        if n == 0 {
            return Ok(None);
        }
        self.line_no += 1;
        if self.buf.len() > MAX_LINE {
            return Err(FormatError::line(self.line_no, format!("line is longer than {MAX_LINE} bytes")));
        }
        let (len, ending) = match self.buf.as_slice() {
            [.., b'\r', b'\n'] => (self.buf.len() - 2, Ending::CrLf),
            [.., b'\n'] => (self.buf.len() - 1, Ending::Lf),
            _ => (self.buf.len(), Ending::Missing),
        };
        Ok(Some(Line { no: self.line_no, bytes: &self.buf[..len], ending }))
    }
}

/// The error for a last line the file ends in the middle of.
pub(super) fn truncated(line: u64) -> FormatError {
    FormatError::line(line, "the record has no line end: the file is truncated")
}

/// Lossy text of raw bytes, for quoting a bad value in an error message.
pub(super) fn show(bytes: &[u8]) -> Cow<'_, str> {
    GBK.decode_without_bom_handling(bytes).0
}

/// Strict GBK decoding of one field.
pub(super) fn decode(line: u64, field: &str, bytes: &[u8]) -> Result<String, FormatError> {
    gbk::decode(bytes).ok_or_else(|| FormatError::line(line, format!("{field} is not valid GBK: '{}'", show(bytes))))
}

/// Checks that a field is valid GBK without keeping its text (allocates only for non-ASCII).
pub(super) fn check_gbk(line: u64, field: &str, bytes: &[u8]) -> Result<(), FormatError> {
    match GBK.decode_without_bom_handling_and_without_replacement(bytes) {
        Some(_) => Ok(()),
        None => Err(FormatError::line(line, format!("{field} is not valid GBK: '{}'", show(bytes)))),
    }
}

/// A non-empty string of ASCII digits as a number.
pub(super) fn parse_digits(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() {
        return None;
    }
    bytes.iter().try_fold(0u64, |n, &b| {
        if b.is_ascii_digit() {
            n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

/// A count or sequence number field.
pub(super) fn number(line: u64, field: &str, bytes: &[u8]) -> Result<u64, FormatError> {
    parse_digits(bytes)
        .ok_or_else(|| FormatError::line(line, format!("{field} '{}' is not a whole number", show(bytes))))
}

/// A date `YYYYMMDD`: exactly eight digits naming a real day.
pub(super) fn date(line: u64, field: &str, bytes: &[u8]) -> Result<NaiveDate, FormatError> {
    let bad = || FormatError::line(line, format!("{field} '{}' is not a date YYYYMMDD", show(bytes)));
    if bytes.len() != 8 {
        return Err(bad());
    }
    let n = parse_digits(bytes).ok_or_else(bad)?;
    let (y, m, d) = (n / 10_000, n / 100 % 100, n % 100);
    // At most 99_999_999, so the year fits an i32 and month and day a u32.
    NaiveDate::from_ymd_opt(y as i32, m as u32, d as u32).ok_or_else(bad)
}

/// A running count and sum of amounts.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Tally {
    pub(super) count: u64,
    pub(super) amount: Money,
}

impl Tally {
    pub(super) fn add(&mut self, line: u64, amount: Money) -> Result<(), FormatError> {
        self.count += 1;
        self.amount = self
            .amount
            .checked_add(amount)
            .ok_or_else(|| FormatError::line(line, "the sum of the amounts exceeds the largest amount accepted"))?;
        Ok(())
    }
}

/// Pushes "header <field> is <stated> but the details give <actual>" if they differ.
fn compare<T: PartialEq + std::fmt::Display>(wrong: &mut Vec<String>, field: &str, stated: T, actual: T) {
    if stated != actual {
        wrong.push(format!("header {field} is {stated} but the details give {actual}"));
    }
}

fn mismatch(header_line: u64, wrong: Vec<String>) -> Result<(), FormatError> {
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(FormatError::line(header_line, wrong.join("; ")))
    }
}

/// Checks a request header's count and total against its details.
pub(super) fn check_request_totals(header_line: u64, count: u64, total: Money, seen: Tally) -> Result<(), FormatError> {
    let mut wrong = Vec::new();
    compare(&mut wrong, "total_count", count, seen.count);
    compare(&mut wrong, "total_amount", total, seen.amount);
    mismatch(header_line, wrong)
}

/// Totals of a return file's details: all, paid and failed.
#[derive(Debug, Default)]
pub(super) struct ReturnTally {
    all: Tally,
    ok: Tally,
    fail: Tally,
}

impl ReturnTally {
    pub(super) fn add(&mut self, line: u64, outcome: &Outcome, amount: Money) -> Result<(), FormatError> {
        self.all.add(line, amount)?;
        match outcome {
            Outcome::Paid => self.ok.add(line, amount),
            Outcome::Failed => self.fail.add(line, amount),
            // Neither TXT-A nor FIX-B can express a status that is not final.
            Outcome::InFlight(_) => Ok(()),
        }
    }

    /// Every header total against the details, all differences in one message.
    pub(super) fn check(&self, header_line: u64, header: &ReturnHeader) -> Result<(), FormatError> {
        let mut wrong = Vec::new();
        compare(&mut wrong, "total_count", header.total_count, self.all.count);
        compare(&mut wrong, "total_amount", header.total_amount, self.all.amount);
        compare(&mut wrong, "ok_count", header.ok_count, self.ok.count);
        compare(&mut wrong, "ok_amount", header.ok_amount, self.ok.amount);
        compare(&mut wrong, "fail_count", header.fail_count, self.fail.count);
        compare(&mut wrong, "fail_amount", header.fail_amount, self.fail.amount);
        mismatch(header_line, wrong)
    }
}

/// Which record a writer was writing, for its error messages: `serial 2024…` or `batch B1`.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ctx<'a> {
    pub(super) kind: &'static str,
    pub(super) id: &'a str,
}

impl Ctx<'_> {
    pub(super) fn invalid(self, message: impl std::fmt::Display) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, format!("{} {}: {message}", self.kind, self.id))
    }

    /// A date as `YYYYMMDD`; a year outside 0000–9999 cannot be written.
    pub(super) fn ymd(self, date: NaiveDate) -> io::Result<String> {
        let text = date.format("%Y%m%d").to_string();
        if text.len() != 8 {
            return Err(self.invalid(format!("value_date {date} cannot be written as YYYYMMDD")));
        }
        Ok(text)
    }

    fn unencodable(self, field: &str, c: char) -> io::Error {
        self.invalid(format!("{field} contains '{c}' (U+{:04X}), which GBK cannot encode", u32::from(c)))
    }

    /// `value` in GBK, or an error naming the record, the field and the character.
    pub(super) fn encode<'v>(self, field: &str, value: &'v str) -> io::Result<Cow<'v, [u8]>> {
        if value.is_ascii() {
            return Ok(Cow::Borrowed(value.as_bytes()));
        }
        gbk::encode(value).map(Cow::Owned).map_err(|c| self.unencodable(field, c))
    }

    /// `value` in GBK cut to at most `width` bytes at a character boundary.
    /// The whole value is encoded first: a character GBK cannot encode is
    /// refused even where it would have been cut off.
    pub(super) fn encode_cut<'v>(self, field: &str, value: &'v str, width: usize) -> io::Result<Cow<'v, [u8]>> {
        Ok(match self.encode(field, value)? {
            Cow::Borrowed(b) => Cow::Borrowed(&b[..cut_point(b, width)]),
            Cow::Owned(mut v) => {
                v.truncate(cut_point(&v, width));
                Cow::Owned(v)
            }
        })
    }

    /// Identifiers are never altered: a character that would break the record is refused.
    pub(super) fn check_id(self, field: &str, value: &str, forbidden: &[char]) -> io::Result<()> {
        match value.chars().find(|c| forbidden.contains(c)) {
            Some(c) => Err(self.invalid(format!("{field} '{}' contains {c:?}", value.escape_debug()))),
            None => Ok(()),
        }
    }
}

/// Bytes of the GBK character starting at `i`: 1 (ASCII, or a byte the
/// decoder will reject), 2, or 4 (GB 18030: second byte a digit).
pub(super) fn char_len(bytes: &[u8], i: usize) -> usize {
    match (bytes[i], bytes.get(i + 1)) {
        (0x81..=0xFE, Some(0x30..=0x39)) => 4,
        (0x81..=0xFE, _) => 2,
        _ => 1,
    }
}

/// The length of the longest prefix of GBK `bytes` that fits `width` and ends between characters.
fn cut_point(bytes: &[u8], width: usize) -> usize {
    if bytes.len() <= width {
        return bytes.len();
    }
    let mut end = 0;
    while end < bytes.len() {
        let next = end + char_len(bytes, end);
        if next > width {
            break;
        }
        end = next;
    }
    end
}

/// `value` with each of `forbidden` replaced by a space (names, remarks and reason texts).
pub(super) fn replace_forbidden<'v>(value: &'v str, forbidden: &[char]) -> Cow<'v, str> {
    if value.contains(forbidden) {
        Cow::Owned(value.replace(forbidden, " "))
    } else {
        Cow::Borrowed(value)
    }
}

/// The error for an outcome a layout has no status for.
pub(super) fn in_flight(ctx: Ctx<'_>, status: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("{} {}: status {status} is not final; this layout has only paid and failed", ctx.kind, ctx.id),
    )
}

/// Generators and helpers shared by the TXT-A and FIX-B tests.
#[cfg(test)]
pub(super) mod test_support {
    use proptest::prelude::*;

    use super::super::{BatchInfo, FormatError, Outcome, PaymentDetail, ReasonCode, ReturnDetail, ReturnHeader};
    use crate::config::Layout;
    use crate::domain::Money;

    /// Everything a reading of `file` in `layout` hands over, in order:
    /// `batch …` when the batch is announced, then each detail's serial.
    pub fn announced(layout: Layout, file: &[u8]) -> (Vec<String>, ReturnHeader) {
        let seen = std::cell::RefCell::new(Vec::new());
        let header = super::super::read_return_announced(
            layout,
            &mut &file[..],
            &mut |b| {
                seen.borrow_mut().push(format!("batch {b}"));
                Ok(())
            },
            &mut |d| {
                seen.borrow_mut().push(d.serial_no);
                Ok(())
            },
        )
        .expect("accepted");
        (seen.into_inner(), header)
    }

    /// A name of CJK ideographs, perhaps a minority name with `·`; at most 26 GBK bytes.
    pub fn name() -> impl Strategy<Value = String> {
        "[一-龥]{1,4}(·[一-龥]{1,8})?"
    }

    /// At most 60 GBK bytes, no padding at either end.
    pub fn remark() -> impl Strategy<Value = String> {
        "[一-龥a-zA-Z0-9]{0,30}"
    }

    pub fn payment() -> impl Strategy<Value = PaymentDetail> {
        ("[0-9A-Z]{1,24}", "[0-9]{16,19}", name(), 1i64..=10_000_000_000, "[0-9]{17}[0-9X]", remark()).prop_map(
            |(serial_no, account_no, account_name, fen, person_id, remark)| PaymentDetail {
                seq: 0,
                serial_no,
                account_no,
                account_name,
                amount: Money::from_fen(fen).unwrap(),
                person_id,
                remark,
                bank_code: String::new(),
            },
        )
    }

    pub fn return_detail() -> impl Strategy<Value = ReturnDetail> {
        (
            proptest::option::of(1u64..=99_999_999),
            "[0-9A-Z]{1,24}",
            proptest::option::of("[0-9]{16,19}"),
            proptest::option::of(name()),
            1i64..=10_000_000_000,
            any::<bool>(),
            "[0-9]{4}",
            "[一-龥]{0,20}",
            "[0-9A-Z]{0,15}",
        )
            .prop_map(|(seq, serial_no, account_no, account_name, fen, paid, code, text, bank_ref)| {
                ReturnDetail {
                    line_no: 0,
                    seq,
                    serial_no,
                    account_no,
                    account_name,
                    amount: Some(Money::from_fen(fen).unwrap()),
                    outcome: if paid { Outcome::Paid } else { Outcome::Failed },
                    reason: ReasonCode { code, text },
                    bank_ref,
                }
            })
    }

    /// Numbers the details from 1 and totals them into `batch`.
    pub fn number_request(batch: &mut BatchInfo, details: &mut [PaymentDetail]) {
        for (i, d) in details.iter_mut().enumerate() {
            d.seq = i as u64 + 1;
        }
        batch.count = details.len() as u64;
        batch.total = details.iter().map(|d| d.amount).sum();
    }

    /// Sets each detail's line (the header is line 1) and the header's totals.
    pub fn number_return(header: &mut ReturnHeader, details: &mut [ReturnDetail]) {
        let (mut all, mut ok, mut fail) = ((0, Money::ZERO), (0, Money::ZERO), (0, Money::ZERO));
        for (i, d) in details.iter_mut().enumerate() {
            d.line_no = i as u64 + 2;
            let amount = d.amount.unwrap_or(Money::ZERO);
            let side = if d.outcome == Outcome::Paid { &mut ok } else { &mut fail };
            for t in [&mut all, side] {
                t.0 += 1;
                t.1 = t.1 + amount;
            }
        }
        (header.total_count, header.total_amount) = all;
        (header.ok_count, header.ok_amount) = ok;
        (header.fail_count, header.fail_amount) = fail;
    }

    /// The line and message of a `FormatError::Line`.
    pub fn line_error(e: FormatError) -> (u64, String) {
        match e {
            FormatError::Line { line, message } => (line, message),
            other => panic!("expected a line error, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_dates_are_strict() {
        assert_eq!(parse_digits(b"0042"), Some(42));
        for bad in [&b""[..], b" 42", b"4 2", b"+42", b"99999999999999999999"] {
            assert_eq!(parse_digits(bad), None, "{bad:?}");
        }
        assert_eq!(date(1, "d", b"20240229").unwrap(), NaiveDate::from_ymd_opt(2024, 2, 29).unwrap());
        for bad in [&b"20230229"[..], b"2024021", b"202402290", b"2024-2-1", b"20241301", b"20240100"] {
            assert!(date(1, "d", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn cuts_fall_between_characters() {
        let ctx = Ctx { kind: "serial", id: "S1" };
        for (value, width, want) in
            [("陈秀英", 5, "陈秀"), ("ab陈", 3, "ab"), ("abc", 2, "ab"), ("陈", 2, "陈"), ("", 4, "")]
        {
            assert_eq!(ctx.encode_cut("f", value, width).unwrap(), gbk::encode(want).unwrap(), "{value} in {width}");
        }
        let err = ctx.encode_cut("account_name", "陈秀英王𠮷", 4).unwrap_err();
        assert!(err.to_string().contains("serial S1: account_name contains '𠮷' (U+20BB7)"), "{err}");
    }

    #[test]
    fn lines_report_their_endings_and_numbers() {
        let mut input: &[u8] = b"a\r\nb\nc";
        let mut lines = Lines::new(&mut input);
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line().unwrap() {
            seen.push((line.no, line.bytes.to_vec(), line.ending));
        }
        let want =
            vec![(1, b"a".to_vec(), Ending::CrLf), (2, b"b".to_vec(), Ending::Lf), (3, b"c".to_vec(), Ending::Missing)];
        assert_eq!(seen, want);
    }

    #[test]
    fn a_line_without_end_is_cut_off_at_the_limit() {
        let big = vec![b'x'; MAX_LINE + 10];
        let mut input: &[u8] = &big;
        let err = Lines::new(&mut input).next_line().unwrap_err();
        assert!(matches!(err, FormatError::Line { line: 1, .. }), "{err}");
    }
}
