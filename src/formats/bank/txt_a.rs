//! Layout TXT-A (bank-files.md): `|`-delimited GBK text with CRLF line ends.
//! Writers put a space for `|`, CR and LF in names, remarks and reason texts,
//! refuse them in identifiers, and refuse any character GBK cannot encode.
//! Readers split each line on `|` at GBK character boundaries, stream the
//! details and check the header totals against them.

use std::io::{self, BufRead, Write};

use chrono::{NaiveDate, NaiveTime};

use super::text_common::{self as common, Ctx, Ending, Line, Lines, ReturnTally, Tally};
use super::{
    BatchInfo, FormatError, Outcome, PaymentDetail, ReasonCode, RequestWriter, ReturnDetail, ReturnHeader, ReturnWriter,
};
use crate::domain::Money;

/// Characters no TXT-A field may contain.
pub(super) const FORBIDDEN: &[char] = &['|', '\r', '\n'];

/// One record being written: the fields separated by `|`, then CRLF.
pub(super) struct Record<'a> {
    buf: Vec<u8>,
    ctx: Ctx<'a>,
}

impl<'a> Record<'a> {
    pub(super) fn new(record_type: &str, ctx: Ctx<'a>) -> Record<'a> {
        let mut buf = Vec::with_capacity(160);
        buf.extend_from_slice(record_type.as_bytes());
        Record { buf, ctx }
    }

    /// An identifier, written as given.
    pub(super) fn id(&mut self, field: &str, value: &str) -> io::Result<()> {
        self.ctx.check_id(field, value, FORBIDDEN)?;
        let bytes = self.ctx.encode(field, value)?;
        self.buf.push(b'|');
        self.buf.extend_from_slice(&bytes);
        Ok(())
    }

    /// Free text: `|`, CR and LF become spaces.
    pub(super) fn text(&mut self, field: &str, value: &str) -> io::Result<()> {
        let value = common::replace_forbidden(value, FORBIDDEN);
        let bytes = self.ctx.encode(field, &value)?;
        self.buf.push(b'|');
        self.buf.extend_from_slice(&bytes);
        Ok(())
    }

    /// A number, date or amount (ASCII by construction).
    pub(super) fn plain(&mut self, value: impl std::fmt::Display) {
        // Writing into a Vec cannot fail.
        let _ = write!(self.buf, "|{value}");
    }

    pub(super) fn end(mut self, out: &mut dyn Write) -> io::Result<()> {
        self.buf.extend_from_slice(b"\r\n");
        out.write_all(&self.buf)
    }
}

/// Writes TXT-A request files.
pub struct TxtAWriter;

impl RequestWriter for TxtAWriter {
    fn header(&mut self, out: &mut dyn Write, batch: &BatchInfo) -> io::Result<()> {
        let ctx = Ctx { kind: "batch", id: &batch.batch_no };
        let date = ctx.ymd(batch.value_date)?;
        let mut rec = Record::new("H", ctx);
        rec.id("batch_no", &batch.batch_no)?;
        rec.id("payer_account", &batch.payer_account)?;
        rec.plain(date);
        rec.plain(batch.count);
        rec.plain(batch.total);
        rec.plain("CNY");
        rec.end(out)
    }

    fn detail(&mut self, out: &mut dyn Write, d: &PaymentDetail) -> io::Result<()> {
        let mut rec = Record::new("D", Ctx { kind: "serial", id: &d.serial_no });
        rec.plain(d.seq);
        rec.id("serial_no", &d.serial_no)?;
        rec.id("account_no", &d.account_no)?;
        rec.text("account_name", &d.account_name)?;
        rec.plain(d.amount);
        rec.id("person_id", &d.person_id)?;
        rec.text("remark", &d.remark)?;
        rec.end(out)
    }

    fn finish(&mut self, _out: &mut dyn Write, _batch: &BatchInfo) -> io::Result<()> {
        Ok(())
    }
}

/// Writes TXT-A return files (the bank's side).
pub struct TxtAReturnWriter;

impl ReturnWriter for TxtAReturnWriter {
    fn header(&mut self, out: &mut dyn Write, h: &ReturnHeader) -> io::Result<()> {
        let ctx = Ctx { kind: "batch", id: &h.batch_no };
        let date = h.value_date.ok_or_else(|| ctx.invalid("a TXT-A return header needs the value date"))?;
        let date = ctx.ymd(date)?;
        let mut rec = Record::new("H", ctx);
        rec.id("batch_no", &h.batch_no)?;
        rec.id("payer_account", &h.payer_account)?;
        rec.plain(date);
        rec.plain(h.total_count);
        rec.plain(h.total_amount);
        rec.plain(h.ok_count);
        rec.plain(h.ok_amount);
        rec.plain(h.fail_count);
        rec.plain(h.fail_amount);
        rec.end(out)
    }

    fn detail(&mut self, out: &mut dyn Write, d: &ReturnDetail) -> io::Result<()> {
        let ctx = Ctx { kind: "serial", id: &d.serial_no };
        let status = match &d.outcome {
            Outcome::Paid => "S",
            Outcome::Failed => "F",
            Outcome::InFlight(s) => return Err(common::in_flight(ctx, s)),
        };
        let mut rec = Record::new("D", ctx);
        match d.seq {
            Some(seq) => rec.plain(seq),
            None => rec.plain(""),
        }
        rec.id("serial_no", &d.serial_no)?;
        rec.id("account_no", d.account_no.as_deref().unwrap_or(""))?;
        rec.text("account_name", d.account_name.as_deref().unwrap_or(""))?;
        rec.plain(d.amount.unwrap_or(Money::ZERO));
        rec.plain(status);
        rec.id("reason_code", &d.reason.code)?;
        rec.text("reason_text", &d.reason.text)?;
        rec.id("bank_ref", &d.bank_ref)?;
        rec.end(out)
    }

    fn finish(&mut self, _out: &mut dyn Write, _header: &ReturnHeader) -> io::Result<()> {
        Ok(())
    }
}

/// The most fields any TXT-A record has.
const MAX_FIELDS: usize = 10;

/// The `|`-separated fields of one line, as byte ranges. `|` (0x7C) is also a
/// valid GBK trail byte, so it separates fields only at a character boundary.
pub(super) struct Fields<'l> {
    pub(super) line_no: u64,
    line: &'l [u8],
    bounds: [(usize, usize); MAX_FIELDS],
    /// How many fields the line has (may exceed `MAX_FIELDS`; only those are kept).
    count: usize,
}

impl<'l> Fields<'l> {
    fn split(line_no: u64, line: &'l [u8]) -> Result<Fields<'l>, FormatError> {
        let mut f = Fields { line_no, line, bounds: [(0, 0); MAX_FIELDS], count: 0 };
        let mut start = 0;
        let mut i = 0;
        while i < line.len() {
            match line[i] {
                b'|' => {
                    f.push(start, i);
                    start = i + 1;
                    i += 1;
                }
                b'\r' => {
                    return Err(FormatError::line(
                        line_no,
                        format!("carriage return inside the line at byte {}", i + 1),
                    ))
                }
                // A GBK lead byte: two bytes, or four when the second is a digit (GB 18030).
                0x81..=0xFE => i += if matches!(line.get(i + 1), Some(0x30..=0x39)) { 4 } else { 2 },
                _ => i += 1,
            }
        }
        f.push(start, line.len());
        Ok(f)
    }

    fn push(&mut self, start: usize, end: usize) {
        if let Some(slot) = self.bounds.get_mut(self.count) {
            *slot = (start, end);
        }
        self.count += 1;
    }

    pub(super) fn get(&self, i: usize) -> &'l [u8] {
        let (s, e) = self.bounds[i];
        &self.line[s..e]
    }

    pub(super) fn expect(&self, kind: &str, count: usize) -> Result<(), FormatError> {
        if self.count == count {
            Ok(())
        } else {
            Err(FormatError::line(self.line_no, format!("{kind} has {} fields, expected {count}", self.count)))
        }
    }

    pub(super) fn text(&self, i: usize, field: &str) -> Result<String, FormatError> {
        common::decode(self.line_no, field, self.get(i))
    }

    /// A text field where empty means "not given".
    pub(super) fn optional_text(&self, i: usize, field: &str) -> Result<Option<String>, FormatError> {
        let s = self.text(i, field)?;
        Ok((!s.is_empty()).then_some(s))
    }

    pub(super) fn required_text(&self, i: usize, field: &str) -> Result<String, FormatError> {
        let s = self.text(i, field)?;
        if s.is_empty() {
            return Err(FormatError::line(self.line_no, format!("{field} is empty")));
        }
        Ok(s)
    }

    pub(super) fn number(&self, i: usize, field: &str) -> Result<u64, FormatError> {
        common::number(self.line_no, field, self.get(i))
    }

    pub(super) fn seq(&self, i: usize) -> Result<u64, FormatError> {
        match self.number(i, "seq")? {
            0 => Err(FormatError::line(self.line_no, "seq is 0; it counts from 1")),
            n => Ok(n),
        }
    }

    fn amount(&self, i: usize, field: &str) -> Result<Money, FormatError> {
        let bytes = self.get(i);
        let bad = |why: String| FormatError::line(self.line_no, format!("{field}: {why}"));
        let s = std::str::from_utf8(bytes).map_err(|_| bad(format!("'{}' is not a number", common::show(bytes))))?;
        Money::parse(s).map_err(|e| bad(e.to_string()))
    }

    fn date(&self, i: usize) -> Result<NaiveDate, FormatError> {
        common::date(self.line_no, "value_date", self.get(i))
    }
}

/// Reads the lines of a TXT-A file: CRLF (a bare LF tolerated), every line
/// including the last terminated; hands each header and detail to `on_record`.
pub(super) fn read_records(
    input: &mut dyn BufRead,
    mut on_record: impl FnMut(&Fields<'_>, bool) -> Result<(), FormatError>,
) -> Result<(), FormatError> {
    let mut lines = Lines::new(input);
    let mut have_header = false;
    while let Some(Line { no: n, bytes: line, ending }) = lines.next_line()? {
        if ending == Ending::Missing {
            return Err(common::truncated(n));
        }
        let fields = Fields::split(n, line)?;
        match fields.get(0) {
            b"H" if have_header => return Err(FormatError::line(n, "a second header; the header is line 1 only")),
            b"H" => have_header = true,
            b"D" if !have_header => return Err(FormatError::line(n, "a detail before the header")),
            b"D" => {}
            b"" if fields.count == 1 => return Err(FormatError::line(n, "empty line")),
            other => {
                return Err(FormatError::line(n, format!("unknown record type '{}'", common::show(other))));
            }
        }
        on_record(&fields, fields.get(0) == b"H")?;
    }
    if !have_header {
        return Err(FormatError::line(1, "the file is empty"));
    }
    Ok(())
}

/// Reads a TXT-A return file, streaming each detail to `visit`, and checks
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
    read_records(input, |f, is_header| {
        if is_header {
            let h = return_header(f)?;
            batch(&h.batch_no)?;
            header = Some(h);
            return Ok(());
        }
        let detail = return_detail(f)?;
        tally.add(f.line_no, &detail.outcome, detail.amount.unwrap_or(Money::ZERO))?;
        visit(detail)
    })?;
    // `read_records` fails unless it saw a header.
    let header = header.ok_or_else(|| FormatError::line(1, "the file is empty"))?;
    tally.check(1, &header)?;
    Ok(header)
}

fn return_header(f: &Fields<'_>) -> Result<ReturnHeader, FormatError> {
    f.expect("return header", 10)?;
    Ok(ReturnHeader {
        batch_no: f.required_text(1, "batch_no")?,
        payer_account: f.text(2, "payer_account")?,
        value_date: Some(f.date(3)?),
        total_count: f.number(4, "total_count")?,
        total_amount: f.amount(5, "total_amount")?,
        ok_count: f.number(6, "ok_count")?,
        ok_amount: f.amount(7, "ok_amount")?,
        fail_count: f.number(8, "fail_count")?,
        fail_amount: f.amount(9, "fail_amount")?,
        group_rejected: None,
    })
}

fn return_detail(f: &Fields<'_>) -> Result<ReturnDetail, FormatError> {
    f.expect("return detail", 10)?;
    let seq = if f.get(1).is_empty() { None } else { Some(f.seq(1)?) };
    let outcome = match f.get(6) {
        b"S" => Outcome::Paid,
        b"F" => Outcome::Failed,
        other => {
            let msg = format!("status '{}' is neither S (paid) nor F (failed)", common::show(other));
            return Err(FormatError::line(f.line_no, msg));
        }
    };
    Ok(ReturnDetail {
        line_no: f.line_no,
        seq,
        serial_no: f.required_text(2, "serial_no")?,
        account_no: f.optional_text(3, "account_no")?,
        account_name: f.optional_text(4, "account_name")?,
        amount: Some(f.amount(5, "amount")?),
        outcome,
        reason: ReasonCode { code: f.text(7, "reason_code")?, text: f.text(8, "reason_text")? },
        bank_ref: f.text(9, "bank_ref")?.trim().to_string(),
    })
}

/// Reads a TXT-A request file (the bank's side), streaming each detail to
/// `visit`, and checks the header's count and total against the details.
pub fn read_request(
    input: &mut dyn BufRead,
    visit: &mut dyn FnMut(PaymentDetail) -> Result<(), FormatError>,
) -> Result<BatchInfo, FormatError> {
    let mut batch: Option<BatchInfo> = None;
    let mut tally = Tally::default();
    read_records(input, |f, is_header| {
        if is_header {
            batch = Some(request_header(f)?);
            return Ok(());
        }
        let detail = request_detail(f)?;
        tally.add(f.line_no, detail.amount)?;
        visit(detail)
    })?;
    // `read_records` fails unless it saw a header.
    let batch = batch.ok_or_else(|| FormatError::line(1, "the file is empty"))?;
    common::check_request_totals(1, batch.count, batch.total, tally)?;
    Ok(batch)
}

fn request_header(f: &Fields<'_>) -> Result<BatchInfo, FormatError> {
    f.expect("request header", 7)?;
    if f.get(6) != b"CNY" {
        return Err(FormatError::line(f.line_no, format!("currency '{}' is not CNY", common::show(f.get(6)))));
    }
    let value_date = f.date(3)?;
    Ok(BatchInfo {
        batch_no: f.required_text(1, "batch_no")?,
        bank_code: String::new(),
        payer_account: f.text(2, "payer_account")?,
        payer_name: String::new(),
        agency_code: String::new(),
        value_date,
        created_at: value_date.and_time(NaiveTime::MIN),
        count: f.number(4, "total_count")?,
        total: f.amount(5, "total_amount")?,
    })
}

fn request_detail(f: &Fields<'_>) -> Result<PaymentDetail, FormatError> {
    f.expect("request detail", 8)?;
    Ok(PaymentDetail {
        seq: f.seq(1)?,
        serial_no: f.required_text(2, "serial_no")?,
        account_no: f.text(3, "account_no")?,
        account_name: f.text(4, "account_name")?,
        amount: f.amount(5, "amount")?,
        person_id: f.text(6, "person_id")?,
        remark: f.text(7, "remark")?,
        bank_code: String::new(),
    })
}

#[cfg(test)]
#[path = "txt_a_tests.rs"]
mod tests;
