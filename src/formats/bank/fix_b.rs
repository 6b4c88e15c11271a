//! Layout FIX-B (bank-files.md): fixed-width GBK records ending in CRLF,
//! positions counted in bytes. Numbers are right-aligned and zero-padded
//! (amounts in fen); text is left-aligned and space-padded, names, remarks and
//! reason texts cut at a character boundary, identifiers refused when too long.

use std::io::{self, BufRead, Write};
use std::ops::Range;

use chrono::{NaiveDate, NaiveTime};

use super::text_common::{self as common, Ctx, Ending, Line, Lines, ReturnTally, Tally};
use super::{
    BatchInfo, FormatError, Outcome, PaymentDetail, ReasonCode, RequestWriter, ReturnDetail, ReturnHeader, ReturnWriter,
};
use crate::domain::Money;

// Field byte ranges, 0-based and end-exclusive (the spec's positions are 1-based).
const HEADER_LEN: usize = 150;
const H_BATCH: Range<usize> = 1..21;
const H_PAYER: Range<usize> = 21..53;
const H_DATE: Range<usize> = 53..61;
const H_COUNT: Range<usize> = 61..71;
const H_AMOUNT: Range<usize> = 71..86;
const H_REQUEST_FILLER: Range<usize> = 86..150;
const H_OK_COUNT: Range<usize> = 86..96;
const H_OK_AMOUNT: Range<usize> = 96..111;
const H_FAIL_COUNT: Range<usize> = 111..121;
const H_FAIL_AMOUNT: Range<usize> = 121..136;
const H_RETURN_FILLER: Range<usize> = 136..150;
const REQUEST_HEADER_STARTS: &[usize] = &[1, 21, 53, 61, 71, 86];
const RETURN_HEADER_STARTS: &[usize] = &[1, 21, 53, 61, 71, 86, 96, 111, 121, 136];

const REQUEST_DETAIL_LEN: usize = 200;
const D_SEQ: Range<usize> = 1..9;
const D_SERIAL: Range<usize> = 9..33;
const D_ACCOUNT: Range<usize> = 33..65;
const D_NAME: Range<usize> = 65..105;
const D_AMOUNT: Range<usize> = 105..120;
const D_PERSON: Range<usize> = 120..138;
const D_REMARK: Range<usize> = 138..200;
const REQUEST_DETAIL_STARTS: &[usize] = &[1, 9, 33, 65, 105, 120, 138];

const RETURN_DETAIL_LEN: usize = 260;
const D_STATUS: usize = 200;
const D_REASON_CODE: Range<usize> = 201..205;
const D_REASON_TEXT: Range<usize> = 205..245;
const D_BANK_REF: Range<usize> = 245..260;
const RETURN_DETAIL_STARTS: &[usize] = &[1, 9, 33, 65, 105, 120, 138, 200, 201, 205, 245];

/// CR or LF inside a record would split it into two lines.
const FORBIDDEN: &[char] = &['\r', '\n'];

/// One record being written, in a buffer of spaces.
struct Record<'a> {
    buf: [u8; RETURN_DETAIL_LEN + 2],
    len: usize,
    ctx: Ctx<'a>,
}

impl<'a> Record<'a> {
    fn new(record_type: u8, len: usize, ctx: Ctx<'a>) -> Record<'a> {
        let mut buf = [b' '; RETURN_DETAIL_LEN + 2];
        buf[0] = record_type;
        Record { buf, len, ctx }
    }

    /// Right-aligned, zero-padded; a number too wide for its field is refused.
    fn number(&mut self, range: Range<usize>, field: &str, value: u64) -> io::Result<()> {
        let width = range.len();
        let mut rest = value;
        for b in self.buf[range].iter_mut().rev() {
            *b = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        if rest != 0 {
            return Err(self.ctx.invalid(format!("{field} {value} does not fit in {width} digits")));
        }
        Ok(())
    }

    fn amount(&mut self, range: Range<usize>, field: &str, amount: Money) -> io::Result<()> {
        // Money is never negative, so its absolute value is its value.
        self.number(range, field, amount.fen().unsigned_abs())
    }

    /// Left-aligned and space-padded, never altered: too long is an error.
    fn id(&mut self, range: Range<usize>, field: &str, value: &str) -> io::Result<()> {
        self.ctx.check_id(field, value, FORBIDDEN)?;
        let bytes = self.ctx.encode(field, value)?;
        if bytes.len() > range.len() {
            let msg = format!("{field} '{value}' is {} bytes; the field holds {}", bytes.len(), range.len());
            return Err(self.ctx.invalid(msg));
        }
        self.buf[range.start..range.start + bytes.len()].copy_from_slice(&bytes);
        Ok(())
    }

    /// Left-aligned and space-padded, cut at a character boundary; CR and LF become spaces.
    fn text(&mut self, range: Range<usize>, field: &str, value: &str) -> io::Result<()> {
        let value = common::replace_forbidden(value, FORBIDDEN);
        let bytes = self.ctx.encode_cut(field, &value, range.len())?;
        self.buf[range.start..range.start + bytes.len()].copy_from_slice(&bytes);
        Ok(())
    }

    fn date(&mut self, range: Range<usize>, date: NaiveDate) -> io::Result<()> {
        let text = self.ctx.ymd(date)?;
        self.buf[range].copy_from_slice(text.as_bytes());
        Ok(())
    }

    fn end(mut self, out: &mut dyn Write) -> io::Result<()> {
        self.buf[self.len..self.len + 2].copy_from_slice(b"\r\n");
        out.write_all(&self.buf[..self.len + 2])
    }
}

/// The request part (bytes 1–200) of a detail, shared by both directions.
struct DetailFields<'d> {
    seq: u64,
    serial_no: &'d str,
    account_no: &'d str,
    account_name: &'d str,
    amount: Money,
    person_id: &'d str,
    remark: &'d str,
}

fn detail_record<'d>(len: usize, d: &DetailFields<'d>) -> io::Result<Record<'d>> {
    let mut rec = Record::new(b'D', len, Ctx { kind: "serial", id: d.serial_no });
    rec.number(D_SEQ, "seq", d.seq)?;
    rec.id(D_SERIAL, "serial_no", d.serial_no)?;
    rec.id(D_ACCOUNT, "account_no", d.account_no)?;
    rec.text(D_NAME, "account_name", d.account_name)?;
    rec.amount(D_AMOUNT, "amount", d.amount)?;
    rec.id(D_PERSON, "person_id", d.person_id)?;
    rec.text(D_REMARK, "remark", d.remark)?;
    Ok(rec)
}

fn header_record<'h>(
    batch_no: &'h str,
    payer: &str,
    date: NaiveDate,
    count: u64,
    total: Money,
) -> io::Result<Record<'h>> {
    let mut rec = Record::new(b'H', HEADER_LEN, Ctx { kind: "batch", id: batch_no });
    rec.id(H_BATCH, "batch_no", batch_no)?;
    rec.id(H_PAYER, "payer_account", payer)?;
    rec.date(H_DATE, date)?;
    rec.number(H_COUNT, "total_count", count)?;
    rec.amount(H_AMOUNT, "total_amount", total)?;
    Ok(rec)
}

/// Writes FIX-B request files.
pub struct FixBWriter;

impl RequestWriter for FixBWriter {
    fn header(&mut self, out: &mut dyn Write, b: &BatchInfo) -> io::Result<()> {
        header_record(&b.batch_no, &b.payer_account, b.value_date, b.count, b.total)?.end(out)
    }

    fn detail(&mut self, out: &mut dyn Write, d: &PaymentDetail) -> io::Result<()> {
        let fields = DetailFields {
            seq: d.seq,
            serial_no: &d.serial_no,
            account_no: &d.account_no,
            account_name: &d.account_name,
            amount: d.amount,
            person_id: &d.person_id,
            remark: &d.remark,
        };
        detail_record(REQUEST_DETAIL_LEN, &fields)?.end(out)
    }

    fn finish(&mut self, _out: &mut dyn Write, _batch: &BatchInfo) -> io::Result<()> {
        Ok(())
    }
}

/// Writes FIX-B return files (the bank's side). Person id and remark are not
/// part of a return detail and are left blank; an absent seq or amount is zero.
pub struct FixBReturnWriter;

impl ReturnWriter for FixBReturnWriter {
    fn header(&mut self, out: &mut dyn Write, h: &ReturnHeader) -> io::Result<()> {
        let ctx = Ctx { kind: "batch", id: &h.batch_no };
        let date = h.value_date.ok_or_else(|| ctx.invalid("a FIX-B return header needs the value date"))?;
        let mut rec = header_record(&h.batch_no, &h.payer_account, date, h.total_count, h.total_amount)?;
        rec.number(H_OK_COUNT, "ok_count", h.ok_count)?;
        rec.amount(H_OK_AMOUNT, "ok_amount", h.ok_amount)?;
        rec.number(H_FAIL_COUNT, "fail_count", h.fail_count)?;
        rec.amount(H_FAIL_AMOUNT, "fail_amount", h.fail_amount)?;
        rec.end(out)
    }

    fn detail(&mut self, out: &mut dyn Write, d: &ReturnDetail) -> io::Result<()> {
        let status = match &d.outcome {
            Outcome::Paid => b'0',
            Outcome::Failed => b'1',
            Outcome::InFlight(s) => return Err(common::in_flight(Ctx { kind: "serial", id: &d.serial_no }, s)),
        };
        let fields = DetailFields {
            seq: d.seq.unwrap_or(0),
            serial_no: &d.serial_no,
            account_no: d.account_no.as_deref().unwrap_or(""),
            account_name: d.account_name.as_deref().unwrap_or(""),
            amount: d.amount.unwrap_or(Money::ZERO),
            person_id: "",
            remark: "",
        };
        let mut rec = detail_record(RETURN_DETAIL_LEN, &fields)?;
        rec.buf[D_STATUS] = status;
        rec.id(D_REASON_CODE, "reason_code", &d.reason.code)?;
        rec.text(D_REASON_TEXT, "reason_text", &d.reason.text)?;
        rec.id(D_BANK_REF, "bank_ref", &d.bank_ref)?;
        rec.end(out)
    }

    fn finish(&mut self, _out: &mut dyn Write, _header: &ReturnHeader) -> io::Result<()> {
        Ok(())
    }
}

fn trim_spaces_end(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1);
    &bytes[..end]
}

/// One record read: its line number and bytes (without CRLF).
struct Rec<'l> {
    line_no: u64,
    bytes: &'l [u8],
}

impl Rec<'_> {
    /// No double-byte character may straddle a field boundary (`starts`, ascending).
    fn check_boundaries(&self, starts: &[usize]) -> Result<(), FormatError> {
        if self.bytes.is_ascii() {
            return Ok(());
        }
        let mut starts = starts.iter().copied().peekable();
        let mut i = 0;
        while i < self.bytes.len() {
            while let Some(&s) = starts.peek() {
                if s > i {
                    break;
                }
                if s < i {
                    let msg = format!("a double-byte character is cut by the field boundary at byte {}", s + 1);
                    return Err(FormatError::line(self.line_no, msg));
                }
                starts.next();
            }
            i += common::char_len(self.bytes, i);
        }
        match starts.next() {
            Some(s) => Err(FormatError::line(self.line_no, format!("a character is cut at byte {}", s + 1))),
            None => Ok(()),
        }
    }

    fn number(&self, range: Range<usize>, field: &str) -> Result<u64, FormatError> {
        common::number(self.line_no, field, &self.bytes[range])
    }

    fn amount(&self, range: Range<usize>, field: &str) -> Result<Money, FormatError> {
        let fen = self.number(range, field)?;
        i64::try_from(fen)
            .ok()
            .and_then(Money::from_fen)
            .ok_or_else(|| FormatError::line(self.line_no, format!("{field} {fen} fen is too large")))
    }

    fn seq(&self) -> Result<u64, FormatError> {
        match self.number(D_SEQ, "seq")? {
            0 => Err(FormatError::line(self.line_no, "seq is 0; it counts from 1")),
            n => Ok(n),
        }
    }

    fn date(&self) -> Result<NaiveDate, FormatError> {
        common::date(self.line_no, "value_date", &self.bytes[H_DATE])
    }

    /// A text field without its padding.
    fn text(&self, range: Range<usize>, field: &str) -> Result<String, FormatError> {
        common::decode(self.line_no, field, trim_spaces_end(&self.bytes[range]))
    }

    fn required_text(&self, range: Range<usize>, field: &str) -> Result<String, FormatError> {
        let s = self.text(range, field)?;
        if s.is_empty() {
            return Err(FormatError::line(self.line_no, format!("{field} is blank")));
        }
        Ok(s)
    }

    /// A text field where blank means "not given".
    fn optional_text(&self, range: Range<usize>, field: &str) -> Result<Option<String>, FormatError> {
        let s = self.text(range, field)?;
        Ok((!s.is_empty()).then_some(s))
    }

    fn filler(&self, range: Range<usize>) -> Result<(), FormatError> {
        if self.bytes[range.clone()].iter().all(|&b| b == b' ') {
            return Ok(());
        }
        let msg = format!("bytes {}-{} must be spaces", range.start + 1, range.end);
        Err(FormatError::line(self.line_no, msg))
    }
}

/// Reads the records of a FIX-B file: each ends in CRLF, a header of 150
/// bytes first, then details of `detail_len` bytes; hands each to `on_record`.
fn read_records(
    input: &mut dyn BufRead,
    detail_len: usize,
    mut on_record: impl FnMut(&Rec<'_>, bool) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    let mut lines = Lines::new(input);
    let mut have_header = false;
    while let Some(Line { no: n, bytes: line, ending }) = lines.next_line()? {
        match ending {
            Ending::CrLf => {}
            Ending::Lf => {
                return Err(FormatError::line(n, "the record ends in LF without CR; FIX-B records end in CRLF"))
            }
            Ending::Missing => return Err(common::truncated(n)),
        }
        let (is_header, want) = match line.first() {
            Some(b'H') if have_header => {
                return Err(FormatError::line(n, "a second header; the header is line 1 only"))
            }
            Some(b'H') => (true, HEADER_LEN),
            Some(b'D') if !have_header => return Err(FormatError::line(n, "a detail before the header")),
            Some(b'D') => (false, detail_len),
            Some(_) => return Err(FormatError::line(n, format!("unknown record type '{}'", common::show(&line[..1])))),
            None => return Err(FormatError::line(n, "empty line")),
        };
        if line.len() != want {
            let kind = if is_header { "header" } else { "detail" };
            return Err(FormatError::line(n, format!("{kind} record is {} bytes, expected {want}", line.len())));
        }
        have_header |= is_header;
        on_record(&Rec { line_no: n, bytes: line }, is_header)?;
    }
    if !have_header {
        return Err(FormatError::line(1, "the file is empty"));
    }
    Ok(())
}

/// Reads a FIX-B return file, streaming each detail to `visit`, and checks
/// the header's totals and ok/fail split against the details.
pub fn read_return(
    input: &mut dyn BufRead,
    visit: &mut dyn FnMut(ReturnDetail) -> Result<(), FormatError>,
) -> Result<ReturnHeader, FormatError> {
    read_return_announced(input, &mut |_| Ok(()), visit)
}

/// [`read_return`], handing `batch` the batch number before any detail.
pub fn read_return_announced(
    input: &mut dyn BufRead,
    batch: &mut dyn FnMut(&str) -> Result<(), FormatError>,
    visit: &mut dyn FnMut(ReturnDetail) -> Result<(), FormatError>,
) -> Result<ReturnHeader, FormatError> {
    let mut header: Option<ReturnHeader> = None;
    let mut tally = ReturnTally::default();
    read_records(input, RETURN_DETAIL_LEN, |rec, is_header| {
        if is_header {
            let h = return_header(rec)?;
            batch(&h.batch_no)?;
            header = Some(h);
            return Ok(());
        }
        let detail = return_detail(rec)?;
        tally.add(rec.line_no, &detail.outcome, detail.amount.unwrap_or(Money::ZERO))?;
        visit(detail)
    })?;
    // `read_records` fails unless it saw a header.
    let header = header.ok_or_else(|| FormatError::line(1, "the file is empty"))?;
    tally.check(1, &header)?;
    Ok(header)
}

fn return_header(rec: &Rec<'_>) -> Result<ReturnHeader, FormatError> {
    rec.check_boundaries(RETURN_HEADER_STARTS)?;
    rec.filler(H_RETURN_FILLER)?;
    Ok(ReturnHeader {
        batch_no: rec.required_text(H_BATCH, "batch_no")?,
        payer_account: rec.text(H_PAYER, "payer_account")?,
        value_date: Some(rec.date()?),
        total_count: rec.number(H_COUNT, "total_count")?,
        total_amount: rec.amount(H_AMOUNT, "total_amount")?,
        ok_count: rec.number(H_OK_COUNT, "ok_count")?,
        ok_amount: rec.amount(H_OK_AMOUNT, "ok_amount")?,
        fail_count: rec.number(H_FAIL_COUNT, "fail_count")?,
        fail_amount: rec.amount(H_FAIL_AMOUNT, "fail_amount")?,
        group_rejected: None,
    })
}

fn return_detail(rec: &Rec<'_>) -> Result<ReturnDetail, FormatError> {
    rec.check_boundaries(RETURN_DETAIL_STARTS)?;
    let outcome = match rec.bytes[D_STATUS] {
        b'0' => Outcome::Paid,
        b'1' => Outcome::Failed,
        other => {
            let msg = format!("status '{}' is neither 0 (paid) nor 1 (failed)", common::show(&[other]));
            return Err(FormatError::line(rec.line_no, msg));
        }
    };
    // Not kept in a return detail, but the whole record must be valid GBK.
    common::check_gbk(rec.line_no, "person_id", &rec.bytes[D_PERSON])?;
    common::check_gbk(rec.line_no, "remark", &rec.bytes[D_REMARK])?;
    let seq = rec.number(D_SEQ, "seq")?;
    Ok(ReturnDetail {
        line_no: rec.line_no,
        seq: (seq != 0).then_some(seq),
        serial_no: rec.required_text(D_SERIAL, "serial_no")?,
        account_no: rec.optional_text(D_ACCOUNT, "account_no")?,
        account_name: rec.optional_text(D_NAME, "account_name")?,
        amount: Some(rec.amount(D_AMOUNT, "amount")?),
        outcome,
        reason: ReasonCode {
            code: rec.text(D_REASON_CODE, "reason_code")?,
            text: rec.text(D_REASON_TEXT, "reason_text")?,
        },
        bank_ref: rec.text(D_BANK_REF, "bank_ref")?.trim().to_string(),
    })
}

/// Reads a FIX-B request file (the bank's side), streaming each detail to
/// `visit`, and checks the header's count and total against the details.
pub fn read_request(
    input: &mut dyn BufRead,
    visit: &mut dyn FnMut(PaymentDetail) -> Result<(), FormatError>,
) -> Result<BatchInfo, FormatError> {
    let mut batch: Option<BatchInfo> = None;
    let mut tally = Tally::default();
    read_records(input, REQUEST_DETAIL_LEN, |rec, is_header| {
        if is_header {
            batch = Some(request_header(rec)?);
            return Ok(());
        }
        let detail = request_detail(rec)?;
        tally.add(rec.line_no, detail.amount)?;
        visit(detail)
    })?;
    // `read_records` fails unless it saw a header.
    let batch = batch.ok_or_else(|| FormatError::line(1, "the file is empty"))?;
    common::check_request_totals(1, batch.count, batch.total, tally)?;
    Ok(batch)
}

fn request_header(rec: &Rec<'_>) -> Result<BatchInfo, FormatError> {
    rec.check_boundaries(REQUEST_HEADER_STARTS)?;
    rec.filler(H_REQUEST_FILLER)?;
    let value_date = rec.date()?;
    Ok(BatchInfo {
        batch_no: rec.required_text(H_BATCH, "batch_no")?,
        bank_code: String::new(),
        payer_account: rec.text(H_PAYER, "payer_account")?,
        payer_name: String::new(),
        agency_code: String::new(),
        value_date,
        created_at: value_date.and_time(NaiveTime::MIN),
        count: rec.number(H_COUNT, "total_count")?,
        total: rec.amount(H_AMOUNT, "total_amount")?,
    })
}

fn request_detail(rec: &Rec<'_>) -> Result<PaymentDetail, FormatError> {
    rec.check_boundaries(REQUEST_DETAIL_STARTS)?;
    Ok(PaymentDetail {
        seq: rec.seq()?,
        serial_no: rec.required_text(D_SERIAL, "serial_no")?,
        account_no: rec.text(D_ACCOUNT, "account_no")?,
        account_name: rec.text(D_NAME, "account_name")?,
        amount: rec.amount(D_AMOUNT, "amount")?,
        person_id: rec.text(D_PERSON, "person_id")?,
        remark: rec.text(D_REMARK, "remark")?,
        bank_code: String::new(),
    })
}

#[cfg(test)]
#[path = "fix_b_tests.rs"]
mod tests;
