//! Reads a pain.001.001.09 request (the bank's side, used by the simulator)
//! as a stream: each `CdtTrfTxInf` becomes a [`PaymentDetail`] when it closes,
//! and the `NbOfTxs`/`CtrlSum` of the group header and of the payment
//! information are checked against the details.

use std::io::BufRead;

use chrono::{NaiveDate, NaiveDateTime};

use super::super::{BatchInfo, FormatError, PaymentDetail};
use super::xml::{Node, Tag, XmlCursor};
use super::{count_at, date_at, date_time_at, money_at, NS_PAIN001};
use crate::domain::Money;

/// Reads a pain.001 request, streaming each payment to `visit`.
pub fn read_request(
    input: &mut dyn BufRead,
    visit: &mut dyn FnMut(PaymentDetail) -> Result<(), FormatError>,
) -> Result<BatchInfo, FormatError> {
    let mut cursor = XmlCursor::new(input);
    let mut request = Request::default();
    while let Some(node) = cursor.next()? {
        match node {
            Node::Open { line } => request.open(&cursor, line)?,
            Node::Close { line } => request.close(&cursor, line, visit)?,
        }
    }
    request.finish()
}

/// A declared total (`NbOfTxs`, `CtrlSum`) and the line that declares it.
type Declared<T> = Option<(T, u64)>;

/// One `CdtTrfTxInf` being read.
#[derive(Default)]
struct Transfer {
    line: u64,
    serial_no: Option<String>,
    amount: Option<Money>,
    bank_code: String,
    account_name: String,
    person_id: String,
    account_no: Option<String>,
    remark: Vec<String>,
}

#[derive(Default)]
struct Request {
    batch_no: Option<String>,
    created_at: Option<NaiveDateTime>,
    group_count: Declared<u64>,
    group_sum: Declared<Money>,
    initiator_name: String,
    payment_infos: u32,
    payment_line: u64,
    payment_count: Declared<u64>,
    payment_sum: Declared<Money>,
    value_date: Option<NaiveDate>,
    payer_name: String,
    agency_code: String,
    payer_account: Option<String>,
    bank_code: String,
    transfer: Option<Transfer>,
    count: u64,
    sum: Money,
}

/// Checks a declared total against what the details add up to.
fn check<T: PartialEq + std::fmt::Display>(declared: &Declared<T>, actual: T, what: &str) -> Result<(), FormatError> {
    match declared {
        Some((value, line)) if *value != actual => {
            Err(FormatError::line(*line, format!("{what} says {value}, the payments add up to {actual}")))
        }
        _ => Ok(()),
    }
}

impl Request {
    fn open(&mut self, cursor: &XmlCursor, line: u64) -> Result<(), FormatError> {
        use Tag::*;
        match cursor.path() {
            [Document] if cursor.namespace() != Some(NS_PAIN001) => {
                let ns = cursor.namespace().unwrap_or("no namespace");
                return Err(FormatError::line(line, format!("not a pain.001.001.09 request ({ns})")));
            }
            [Document] | [Document, CstmrCdtTrfInitn] => {}
            [_] => return Err(FormatError::line(line, "the document element is not an ISO 20022 Document")),
            [Document, _] => return Err(FormatError::line(line, "expected CstmrCdtTrfInitn in a pain.001")),
            [Document, CstmrCdtTrfInitn, PmtInf] => {
                if self.payment_infos > 0 {
                    return Err(FormatError::line(line, "a second PmtInf: a batch is one payment information"));
                }
                self.payment_infos += 1;
                self.payment_line = line;
            }
            [Document, CstmrCdtTrfInitn, PmtInf, CdtTrfTxInf] => {
                if self.batch_no.is_none() {
                    return Err(FormatError::line(line, "CdtTrfTxInf before GrpHdr/MsgId"));
                }
                if self.value_date.is_none() || self.payer_account.is_none() {
                    let msg = "PmtInf has no ReqdExctnDt/Dt or no DbtrAcct/Id/Othr/Id";
                    return Err(FormatError::line(self.payment_line, msg));
                }
                self.transfer = Some(Transfer { line, ..Transfer::default() });
            }
            _ => {}
        }
        Ok(())
    }

    fn close(
        &mut self,
        cursor: &XmlCursor,
        line: u64,
        visit: &mut dyn FnMut(PaymentDetail) -> Result<(), FormatError>,
    ) -> Result<(), FormatError> {
        use Tag::*;
        let text = cursor.text();
        let value = || Some(text.to_string()).filter(|t| !t.is_empty());
        match cursor.path() {
            [Document, CstmrCdtTrfInitn, GrpHdr, rel @ ..] => match rel {
                [] if self.batch_no.is_none() || self.created_at.is_none() || self.group_count.is_none() => {
                    return Err(FormatError::line(line, "GrpHdr needs MsgId, CreDtTm and NbOfTxs"));
                }
                [MsgId] => self.batch_no = value(),
                [CreDtTm] => self.created_at = Some(date_time_at(line, "CreDtTm", text)?),
                [NbOfTxs] => self.group_count = Some((count_at(line, "NbOfTxs", text)?, line)),
                [CtrlSum] => self.group_sum = Some((money_at(line, "CtrlSum", text, None)?, line)),
                [InitgPty, Nm] => self.initiator_name = text.to_string(),
                _ => {}
            },
            [Document, CstmrCdtTrfInitn, PmtInf] => {
                if self.count == 0 {
                    return Err(FormatError::line(line, "PmtInf has no CdtTrfTxInf"));
                }
                check(&self.payment_count, self.count, "PmtInf/NbOfTxs")?;
                check(&self.payment_sum, self.sum, "PmtInf/CtrlSum")?;
            }
            [Document, CstmrCdtTrfInitn, PmtInf, CdtTrfTxInf] => {
                if let Some(transfer) = self.transfer.take() {
                    let detail = self.detail(transfer)?;
                    visit(detail)?;
                }
            }
            [Document, CstmrCdtTrfInitn, PmtInf, CdtTrfTxInf, rel @ ..] => {
                if let Some(transfer) = &mut self.transfer {
                    match rel {
                        [PmtId, EndToEndId] => transfer.serial_no = value(),
                        [Amt, InstdAmt] => transfer.amount = Some(money_at(line, "InstdAmt", text, cursor.currency())?),
                        [CdtrAgt, FinInstnId, ClrSysMmbId, MmbId] | [CdtrAgt, FinInstnId, Othr, Id] => {
                            transfer.bank_code = text.to_string();
                        }
                        [Cdtr, Nm] => transfer.account_name = text.to_string(),
                        [Cdtr, Id, PrvtId, Othr, Id] => transfer.person_id = text.to_string(),
                        [CdtrAcct, Id, Othr, Id] | [CdtrAcct, Id, IBAN] => transfer.account_no = value(),
                        [RmtInf, Ustrd] if !text.is_empty() => transfer.remark.push(text.to_string()),
                        _ => {}
                    }
                }
            }
            [Document, CstmrCdtTrfInitn, PmtInf, rel @ ..] => match rel {
                [PmtMtd] if text != "TRF" => {
                    return Err(FormatError::line(
                        line,
                        format!("PmtMtd '{text}': only credit transfers (TRF) are paid"),
                    ));
                }
                [NbOfTxs] => self.payment_count = Some((count_at(line, "NbOfTxs", text)?, line)),
                [CtrlSum] => self.payment_sum = Some((money_at(line, "CtrlSum", text, None)?, line)),
                [ReqdExctnDt, Dt] => self.value_date = Some(date_at(line, "ReqdExctnDt", text)?),
                [ReqdExctnDt, DtTm] => self.value_date = Some(date_time_at(line, "ReqdExctnDt", text)?.date()),
                [Dbtr, Nm] => self.payer_name = text.to_string(),
                [Dbtr, Id, OrgId, Othr, Id] => self.agency_code = text.to_string(),
                [DbtrAcct, Id, Othr, Id] | [DbtrAcct, Id, IBAN] => self.payer_account = value(),
                [DbtrAgt, FinInstnId, ClrSysMmbId, MmbId] | [DbtrAgt, FinInstnId, Othr, Id] => {
                    self.bank_code = text.to_string();
                }
                _ => {}
            },
            _ => {}
        }
        Ok(())
    }

    fn detail(&mut self, transfer: Transfer) -> Result<PaymentDetail, FormatError> {
        let line = transfer.line;
        let (Some(serial_no), Some(amount), Some(account_no)) =
            (transfer.serial_no, transfer.amount, transfer.account_no)
        else {
            return Err(FormatError::line(line, "CdtTrfTxInf needs EndToEndId, InstdAmt and CdtrAcct/Id"));
        };
        if amount.is_zero() {
            return Err(FormatError::line(line, format!("payment {serial_no} has an amount of zero")));
        }
        self.count += 1;
        self.sum = self.sum.checked_add(amount).ok_or_else(|| FormatError::line(line, "the batch total overflows"))?;
        Ok(PaymentDetail {
            seq: self.count,
            serial_no,
            account_no,
            account_name: transfer.account_name,
            amount,
            person_id: transfer.person_id,
            remark: transfer.remark.concat(),
            bank_code: if transfer.bank_code.is_empty() { self.bank_code.clone() } else { transfer.bank_code },
        })
    }

    fn finish(self) -> Result<BatchInfo, FormatError> {
        let (Some(batch_no), Some(created_at), Some((count, _))) = (self.batch_no, self.created_at, self.group_count)
        else {
            return Err(FormatError::line(1, "not a pain.001 request: no GrpHdr with MsgId, CreDtTm and NbOfTxs"));
        };
        let (Some(value_date), Some(payer_account)) = (self.value_date, self.payer_account) else {
            return Err(FormatError::line(1, "not a pain.001 request: no PmtInf"));
        };
        check(&self.group_count, self.count, "GrpHdr/NbOfTxs")?;
        check(&self.group_sum, self.sum, "GrpHdr/CtrlSum")?;
        Ok(BatchInfo {
            batch_no,
            bank_code: self.bank_code,
            payer_account,
            payer_name: if self.payer_name.is_empty() { self.initiator_name } else { self.payer_name },
            agency_code: self.agency_code,
            value_date,
            created_at,
            count,
            total: self.group_sum.map_or(self.sum, |(sum, _)| sum),
        })
    }
}
