//! Reads a bank's pain.002 status report (001.03 or 001.12) as a stream:
//! each `TxInfAndSts` becomes a [`ReturnDetail`] when it closes. The header's
//! totals are computed from the details (a pain.002 has none of its own).

use std::io::BufRead;

use super::super::{FormatError, Outcome, ReasonCode, ReturnDetail, ReturnHeader};
use super::xml::{Node, Tag, XmlCursor};
use super::{money_at, outcome_of, NS_PAIN002_V03, NS_PAIN002_V12};
use crate::domain::Money;

/// Reads a pain.002 return, streaming each transaction status to `visit`.
pub fn read_return(
    input: &mut dyn BufRead,
    visit: &mut dyn FnMut(ReturnDetail) -> Result<(), FormatError>,
) -> Result<ReturnHeader, FormatError> {
    read_return_announced(input, &mut |_| Ok(()), visit)
}

/// [`read_return`], handing `batch` the batch number (`OrgnlMsgId`) when
/// the first transaction opens (it must come before); a report without
/// transactions announces nothing.
pub fn read_return_announced(
    input: &mut dyn BufRead,
    batch: &mut dyn FnMut(&str) -> Result<(), FormatError>,
    visit: &mut dyn FnMut(ReturnDetail) -> Result<(), FormatError>,
) -> Result<ReturnHeader, FormatError> {
    let mut cursor = XmlCursor::new(input);
    let mut report = Report::default();
    while let Some(node) = cursor.next()? {
        match node {
            Node::Open { line } => report.open(&cursor, line, batch)?,
            Node::Close { line } => report.close(&cursor, line, visit)?,
        }
    }
    report.finish()
}

/// The first `StsRsnInf` of an entry, group or payment information.
#[derive(Default)]
struct StatusReason {
    seen: u32,
    code: Option<String>,
    text: Vec<String>,
}

impl StatusReason {
    /// Takes a leaf below the owner of the `StsRsnInf` (`rel` starts at it).
    fn leaf(&mut self, rel: &[Tag], text: &str) {
        use Tag::*;
        if self.seen != 1 || text.is_empty() {
            return;
        }
        match rel {
            [StsRsnInf, Rsn, Cd | Prtry] if self.code.is_none() => self.code = Some(text.to_string()),
            [StsRsnInf, AddtlInf] => self.text.push(text.to_string()),
            _ => {}
        }
    }

    fn into_reason(self) -> ReasonCode {
        ReasonCode { code: self.code.unwrap_or_default(), text: self.text.join(" ") }
    }
}

/// One `TxInfAndSts` being read.
#[derive(Default)]
struct Entry {
    line: u64,
    end_to_end_id: Option<String>,
    status: Option<(String, u64)>,
    reason: StatusReason,
    acct_svcr_ref: Option<String>,
    status_id: Option<String>,
    amount: Option<Money>,
    account_no: Option<String>,
    account_name: Option<String>,
}

impl Entry {
    fn leaf(&mut self, rel: &[Tag], text: &str, cursor: &XmlCursor, line: u64) -> Result<(), FormatError> {
        use Tag::*;
        let value = || Some(text.to_string()).filter(|t| !t.is_empty());
        match rel {
            [OrgnlEndToEndId] => self.end_to_end_id = value(),
            [TxSts] => self.status = Some((text.to_string(), line)),
            [AcctSvcrRef] => self.acct_svcr_ref = value(),
            [StsId] => self.status_id = value(),
            [OrgnlTxRef, Amt, InstdAmt] => self.amount = Some(money_at(line, "InstdAmt", text, cursor.currency())?),
            [OrgnlTxRef, CdtrAcct, Id, Othr, Id] | [OrgnlTxRef, CdtrAcct, Id, IBAN] => self.account_no = value(),
            [OrgnlTxRef, Cdtr, Nm] | [OrgnlTxRef, Cdtr, Pty, Nm] => self.account_name = value(),
            rel => self.reason.leaf(rel, text),
        }
        Ok(())
    }

    fn into_detail(self) -> Result<ReturnDetail, FormatError> {
        let Some(serial_no) = self.end_to_end_id else {
            return Err(FormatError::line(self.line, "TxInfAndSts has no OrgnlEndToEndId"));
        };
        let Some((status, status_line)) = self.status else {
            return Err(FormatError::line(self.line, format!("TxInfAndSts for {serial_no} has no TxSts")));
        };
        let Some(outcome) = outcome_of(&status) else {
            return Err(FormatError::line(status_line, format!("unknown TxSts '{status}' for {serial_no}")));
        };
        Ok(ReturnDetail {
            line_no: self.line,
            seq: None,
            serial_no,
            account_no: self.account_no,
            account_name: self.account_name,
            amount: self.amount,
            outcome,
            reason: self.reason.into_reason(),
            bank_ref: self.acct_svcr_ref.or(self.status_id).unwrap_or_default(),
        })
    }
}

#[derive(Default)]
struct Report {
    header: ReturnHeader,
    batch_no: Option<String>,
    group_status: Option<String>,
    group_reason: StatusReason,
    payment_status: Option<String>,
    payment_reason: StatusReason,
    entry: Option<Entry>,
    /// The batch number was handed on (at the first transaction).
    announced: bool,
}

fn add(sum: &mut Money, amount: Money, line: u64) -> Result<(), FormatError> {
    *sum = sum.checked_add(amount).ok_or_else(|| FormatError::line(line, "the amounts of this file overflow"))?;
    Ok(())
}

impl Report {
    fn open(
        &mut self,
        cursor: &XmlCursor,
        line: u64,
        batch: &mut dyn FnMut(&str) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        use Tag::*;
        match cursor.path() {
            [Document] => match cursor.namespace() {
                Some(NS_PAIN002_V03 | NS_PAIN002_V12) => {}
                ns => {
                    let ns = ns.unwrap_or("no namespace");
                    return Err(FormatError::line(line, format!("not a pain.002.001.03 or .12 status report ({ns})")));
                }
            },
            [_] => return Err(FormatError::line(line, "the document element is not an ISO 20022 Document")),
            [Document, CstmrPmtStsRpt] => {}
            [Document, _] => return Err(FormatError::line(line, "expected CstmrPmtStsRpt in a pain.002")),
            [Document, CstmrPmtStsRpt, OrgnlGrpInfAndSts, StsRsnInf] => self.group_reason.seen += 1,
            [Document, CstmrPmtStsRpt, OrgnlPmtInfAndSts, StsRsnInf] => self.payment_reason.seen += 1,
            [Document, CstmrPmtStsRpt, OrgnlPmtInfAndSts, TxInfAndSts] => {
                let Some(batch_no) = &self.batch_no else {
                    return Err(FormatError::line(line, "TxInfAndSts before OrgnlGrpInfAndSts/OrgnlMsgId"));
                };
                if !self.announced {
                    self.announced = true;
                    batch(batch_no)?;
                }
                self.entry = Some(Entry { line, ..Entry::default() });
            }
            [Document, CstmrPmtStsRpt, OrgnlPmtInfAndSts, TxInfAndSts, StsRsnInf] => {
                if let Some(entry) = &mut self.entry {
                    entry.reason.seen += 1;
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn close(
        &mut self,
        cursor: &XmlCursor,
        line: u64,
        visit: &mut dyn FnMut(ReturnDetail) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        use Tag::*;
        let text = cursor.text();
        match cursor.path() {
            [Document, CstmrPmtStsRpt] if self.batch_no.is_none() => {
                return Err(FormatError::line(line, "the status report has no OrgnlGrpInfAndSts/OrgnlMsgId"));
            }
            [Document, CstmrPmtStsRpt, OrgnlGrpInfAndSts, rel @ ..] => match rel {
                [] if self.batch_no.is_none() => {
                    return Err(FormatError::line(line, "OrgnlGrpInfAndSts has no OrgnlMsgId"));
                }
                [OrgnlMsgId] if !text.is_empty() => self.batch_no = Some(text.to_string()),
                [GrpSts] => self.group_status = Some(text.to_string()),
                rel => self.group_reason.leaf(rel, text),
            },
            [Document, CstmrPmtStsRpt, OrgnlPmtInfAndSts, TxInfAndSts] => {
                if let Some(entry) = self.entry.take() {
                    let detail = entry.into_detail()?;
                    self.count(&detail)?;
                    visit(detail)?;
                }
            }
            [Document, CstmrPmtStsRpt, OrgnlPmtInfAndSts, TxInfAndSts, rel @ ..] => {
                if let Some(entry) = &mut self.entry {
                    entry.leaf(rel, text, cursor, line)?;
                }
            }
            [Document, CstmrPmtStsRpt, OrgnlPmtInfAndSts, PmtInfSts] => self.payment_status = Some(text.to_string()),
            [Document, CstmrPmtStsRpt, OrgnlPmtInfAndSts, rel @ ..] => self.payment_reason.leaf(rel, text),
            _ => {}
        }
        Ok(())
    }

    fn count(&mut self, detail: &ReturnDetail) -> Result<(), FormatError> {
        let h = &mut self.header;
        h.total_count += 1;
        match detail.outcome {
            Outcome::Paid => h.ok_count += 1,
            Outcome::Failed => h.fail_count += 1,
            Outcome::InFlight(_) => {}
        }
        if let Some(amount) = detail.amount {
            add(&mut h.total_amount, amount, detail.line_no)?;
            match detail.outcome {
                Outcome::Paid => add(&mut h.ok_amount, amount, detail.line_no)?,
                Outcome::Failed => add(&mut h.fail_amount, amount, detail.line_no)?,
                Outcome::InFlight(_) => {}
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<ReturnHeader, FormatError> {
        let Some(batch_no) = self.batch_no else {
            return Err(FormatError::line(1, "not a pain.002 status report: no OrgnlMsgId"));
        };
        let mut header = self.header;
        header.batch_no = batch_no;
        // A rejection of the whole group (or of the one payment information)
        // without any transaction entries rejects every payment of the batch.
        if header.total_count == 0 {
            if self.group_status.as_deref() == Some("RJCT") {
                header.group_rejected = Some(self.group_reason.into_reason());
            } else if self.payment_status.as_deref() == Some("RJCT") {
                header.group_rejected = Some(self.payment_reason.into_reason());
            }
        }
        Ok(header)
    }
}
