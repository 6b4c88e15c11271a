//! Answers a disbursement request (TXT-A, FIX-B or ISO 20022) with return
//! files. A return header carries its totals before its details, so the
//! request is read twice: the first pass checks it whole (a bad request is
//! refused before anything is written), keeps each line's amount and totals
//! what each return file will hold; the second pass makes the same decisions
//! again and streams the details into the files.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;

use chrono::{Duration, NaiveDate, NaiveDateTime, NaiveTime};

use super::outbox::{write_err, Staged};
use super::plan::{Decider, Fate, Line, Rates, Reason, Verdict};
use super::plan::{IN_FLIGHT_V03, IN_FLIGHT_V12, ISO_FAILURES, ISO_GROUP_REJECT, TEXT_FAILURES, TEXT_PAID};
use super::{SimError, SimFileSummary, SimOptions, Tally};
use crate::config::Layout;
use crate::domain::Money;
use crate::formats::bank::iso20022::Pain002Writer;
use crate::formats::bank::{self, BatchInfo, FormatError, Outcome, Pain002Version, PaymentDetail, ReasonCode};
use crate::formats::bank::{ReturnDetail, ReturnHeader, ReturnWriter};

const READ_BUFFER: usize = 1 << 20;

/// What one return file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PartTotals {
    lines: u64,
    paid: Tally,
    failed: Tally,
    in_flight: Tally,
    omitted: u64,
    duplicated: u64,
}

impl PartTotals {
    fn add(&mut self, verdict: Verdict, amount: Money) {
        self.lines += 1;
        match verdict {
            Verdict::Paid => self.paid.add(amount),
            Verdict::Failed(_) => self.failed.add(amount),
            Verdict::InFlight(_) => self.in_flight.add(amount),
        }
    }

    fn header(&self, batch: &BatchInfo) -> ReturnHeader {
        ReturnHeader {
            batch_no: batch.batch_no.clone(),
            payer_account: batch.payer_account.clone(),
            value_date: Some(batch.value_date),
            total_count: self.lines,
            total_amount: self.paid.amount + self.failed.amount + self.in_flight.amount,
            ok_count: self.paid.count,
            ok_amount: self.paid.amount,
            fail_count: self.failed.count,
            fail_amount: self.failed.amount,
            group_rejected: None,
        }
    }

    fn summary(&self, file: &Path, layout: Layout, batch_no: &str) -> SimFileSummary {
        SimFileSummary {
            file: file.display().to_string(),
            layout,
            kind: "disbursement",
            batch_no: batch_no.to_string(),
            lines: self.lines,
            paid: self.paid,
            failed: self.failed,
            in_flight: self.in_flight,
            omitted: self.omitted,
            duplicated: self.duplicated,
            group_rejected: false,
        }
    }
}

pub(super) fn answer(
    request: &Path,
    layout: Layout,
    opts: &SimOptions,
    out_dir: &Path,
) -> Result<Vec<SimFileSummary>, SimError> {
    let rates = Rates::of(opts)?;
    check_options(layout, opts)?;
    let version = opts.pain002.unwrap_or_default();
    let (failures, in_flight): (&'static [Reason], &'static [&'static str]) = match (layout, version) {
        (Layout::Iso20022, Pain002Version::V03) => (&ISO_FAILURES, &IN_FLIGHT_V03),
        (Layout::Iso20022, Pain002Version::V12) => (&ISO_FAILURES, &IN_FLIGHT_V12),
        (Layout::TxtA | Layout::FixB, _) => (&TEXT_FAILURES, &[]),
    };
    let parts = opts.split as usize;
    let decider = |batch_no: &str| Decider::new(opts.seed, batch_no, rates, failures, in_flight, parts);

    // Pass 1: check the request whole and keep each line's amount.
    let mut amounts: Vec<Money> = Vec::new();
    let batch = read(request, layout, &mut |d| {
        amounts.push(d.amount);
        Ok(())
    })?;
    let names = file_names(request, layout, if opts.reject_batch { 1 } else { parts });
    if opts.reject_batch {
        return reject_batch(&batch, version, out_dir, &names);
    }
    if parts > amounts.len() {
        return Err(SimError::Options(format!(
            "--split {parts} asks for more return files than the batch has lines ({})",
            amounts.len()
        )));
    }
    let mut planned = vec![PartTotals::default(); parts];
    let mut decide = decider(&batch.batch_no);
    for &amount in &amounts {
        tally(&mut planned, &decide.next_line(), amount);
    }

    // Pass 2: the same decisions, streamed into the files.
    let (staged, outs) = Staged::create(out_dir, &names)?;
    let mut files: Vec<_> = outs
        .into_iter()
        .enumerate()
        .map(|(i, out)| PartFile { writer: writer(layout, version, batch.value_date, i), out })
        .collect();
    for (i, file) in files.iter_mut().enumerate() {
        let header = planned[i].header(&batch);
        file.writer.header(&mut file.out, &header).map_err(write_err(staged.path(i)))?;
    }
    let mut written = vec![PartTotals::default(); parts];
    let mut decide = decider(&batch.batch_no);
    let mut index = 0;
    let mut failure: Option<SimError> = None;
    let reread = read(request, layout, &mut |d| {
        let line = decide.next_line();
        if amounts.get(index) != Some(&d.amount) {
            return Err(FormatError::File("changed".into()));
        }
        index += 1;
        tally(&mut written, &line, d.amount);
        let Fate::Returned { verdict, duplicate_part, bank_ref } = line.fate else { return Ok(()) };
        let detail = return_detail(layout, d, verdict, bank_ref);
        let mut put = |part: usize| {
            let file = &mut files[part];
            file.writer.detail(&mut file.out, &detail).map_err(write_err(staged.path(part)))
        };
        let result = put(line.part).and_then(|()| duplicate_part.map_or(Ok(()), &mut put));
        result.map_err(|e| {
            failure = Some(e);
            FormatError::File("write failed".into())
        })
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let changed = || SimError::Changed { path: request.to_path_buf() };
    let reread = reread.map_err(|_| changed())?;
    if reread != batch || index != amounts.len() || written != planned {
        return Err(changed());
    }
    for (i, mut file) in files.into_iter().enumerate() {
        file.writer.finish(&mut file.out, &planned[i].header(&batch)).map_err(write_err(staged.path(i)))?;
        staged.close(i, file.out)?;
    }
    let summaries = planned.iter().enumerate().map(|(i, t)| t.summary(staged.path(i), layout, &batch.batch_no));
    let summaries = summaries.collect();
    staged.commit()?;
    Ok(summaries)
}

fn check_options(layout: Layout, opts: &SimOptions) -> Result<(), SimError> {
    let refuse = |what: &str| Err(SimError::Options(format!("{what} applies only to ISO 20022 requests")));
    if layout != Layout::Iso20022 {
        if opts.in_flight_rate > 0.0 {
            return refuse("--in-flight-rate (TXT-A and FIX-B returns have no status that is not final)");
        }
        if opts.reject_batch {
            return refuse("--reject-batch");
        }
        if opts.pain002.is_some() {
            return refuse("--pain002");
        }
    }
    let shaping = [opts.fail_rate, opts.omit_rate, opts.duplicate_rate, opts.in_flight_rate];
    if opts.reject_batch && (opts.split != 1 || shaping.iter().any(|&r| r > 0.0)) {
        return Err(SimError::Options(
            "--reject-batch answers the whole batch with one group status; it takes no --split or rates".into(),
        ));
    }
    Ok(())
}

fn read(
    request: &Path,
    layout: Layout,
    visit: &mut dyn FnMut(PaymentDetail) -> Result<(), FormatError>,
) -> Result<BatchInfo, SimError> {
    let file = File::open(request).map_err(|source| SimError::Read { path: request.to_path_buf(), source })?;
    let mut input = BufReader::with_capacity(READ_BUFFER, file);
    bank::read_request(layout, &mut input, visit)
        .map_err(|source| SimError::Request { path: request.to_path_buf(), source })
}

/// Counts one request line into the file(s) it goes to. Parts are dealt
/// modulo the number of parts, so every index is in range.
fn tally(parts: &mut [PartTotals], line: &Line, amount: Money) {
    match &line.fate {
        Fate::Omitted => parts[line.part].omitted += 1,
        Fate::Returned { verdict, duplicate_part, .. } => {
            parts[line.part].add(*verdict, amount);
            if let Some(extra) = *duplicate_part {
                parts[extra].add(*verdict, amount);
                parts[extra].duplicated += 1;
            }
        }
    }
}

/// `<stem>.ret` / `<stem>.pain002.xml`, with `.partN` before the suffix when split.
fn file_names(request: &Path, layout: Layout, parts: usize) -> Vec<String> {
    let stem = request.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let suffix = match layout {
        Layout::TxtA | Layout::FixB => "ret",
        Layout::Iso20022 => "pain002.xml",
    };
    match parts {
        1 => vec![format!("{stem}.{suffix}")],
        n => (1..=n).map(|k| format!("{stem}.part{k}.{suffix}")).collect(),
    }
}

struct PartFile {
    writer: Box<dyn ReturnWriter>,
    out: BufWriter<File>,
}

/// A pain.002's `CreDtTm` is fixed for reproducible files: the evening of the
/// value date, a minute apart per part so each report has its own message id.
fn writer(layout: Layout, version: Pain002Version, value_date: NaiveDate, part: usize) -> Box<dyn ReturnWriter> {
    match layout {
        Layout::Iso20022 => {
            let evening = NaiveDateTime::new(value_date, NaiveTime::MIN) + Duration::hours(18);
            let at = evening + Duration::minutes(part as i64);
            Box::new(Pain002Writer::new(version).with_created_at(at))
        }
        Layout::TxtA | Layout::FixB => bank::return_writer(layout, version),
    }
}

/// The bank's line for one payment, echoing its account, name and amount.
fn return_detail(layout: Layout, d: PaymentDetail, verdict: Verdict, bank_ref: String) -> ReturnDetail {
    let reason = |r: Reason| ReasonCode { code: r.code.to_string(), text: r.text.to_string() };
    let (outcome, reason) = match (verdict, layout) {
        (Verdict::Paid, Layout::Iso20022) => (Outcome::Paid, ReasonCode::default()),
        (Verdict::Paid, Layout::TxtA | Layout::FixB) => (Outcome::Paid, reason(TEXT_PAID)),
        (Verdict::Failed(r), _) => (Outcome::Failed, reason(r)),
        (Verdict::InFlight(status), _) => (Outcome::InFlight(status.to_string()), ReasonCode::default()),
    };
    ReturnDetail {
        line_no: 0,
        seq: Some(d.seq),
        serial_no: d.serial_no,
        account_no: Some(d.account_no),
        account_name: Some(d.account_name),
        amount: Some(d.amount),
        outcome,
        reason,
        bank_ref,
    }
}

/// One pain.002 with group status `RJCT` and no transactions.
fn reject_batch(
    batch: &BatchInfo,
    version: Pain002Version,
    out_dir: &Path,
    names: &[String],
) -> Result<Vec<SimFileSummary>, SimError> {
    let (staged, outs) = Staged::create(out_dir, names)?;
    let header = ReturnHeader {
        batch_no: batch.batch_no.clone(),
        payer_account: batch.payer_account.clone(),
        value_date: Some(batch.value_date),
        group_rejected: Some(ReasonCode {
            code: ISO_GROUP_REJECT.code.to_string(),
            text: ISO_GROUP_REJECT.text.to_string(),
        }),
        ..ReturnHeader::default()
    };
    let mut summaries = Vec::new();
    for (i, mut out) in outs.into_iter().enumerate() {
        let mut writer = writer(Layout::Iso20022, version, batch.value_date, i);
        let path = staged.path(i);
        writer.header(&mut out, &header).and_then(|()| writer.finish(&mut out, &header)).map_err(write_err(path))?;
        staged.close(i, out)?;
        // Every payment of the batch fails, though the file has no lines.
        let failed = Tally { count: batch.count, amount: batch.total };
        let summary = PartTotals { failed, ..PartTotals::default() }.summary(path, Layout::Iso20022, &batch.batch_no);
        summaries.push(SimFileSummary { group_rejected: true, ..summary });
    }
    staged.commit()?;
    Ok(summaries)
}
