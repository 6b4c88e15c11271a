//! The writers: our pain.001.001.09 request, and the bank's pain.002 status
//! report (used by the bank simulator). Each element is built into a reusable
//! buffer and written in one call; identifiers that do not fit their schema
//! type are refused (cutting one would pay or match the wrong thing), free
//! texts are cut to their length limit.

use std::io::{self, Write};

use chrono::{NaiveDateTime, Utc};

use super::super::{BatchInfo, Outcome, Pain002Version, PaymentDetail, ReasonCode, RequestWriter, ReturnDetail};
use super::super::{ReturnHeader, ReturnWriter};
use super::{esc, fit_text, is_xml_char, IN_FLIGHT, MAX105, MAX140, MAX34, MAX35, MAX_REASON_CD};
use super::{NS_PAIN001, NS_PAIN002_V03, NS_PAIN002_V12, PAIN001_NAME};
use crate::domain::Money;

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// An identifier as it must appear: 1..=`max` characters, no outer spaces,
/// nothing XML cannot carry.
fn id<'v>(field: &str, value: &'v str, max: usize) -> io::Result<&'v str> {
    let len = value.chars().count();
    if len == 0 || len > max || value.trim() != value || value.chars().any(|c| c.is_control() || !is_xml_char(c)) {
        return Err(invalid(format!(
            "{field} '{value}' cannot be written as an ISO 20022 identifier (1 to {max} characters)"
        )));
    }
    Ok(value)
}

/// As [`id`], but an empty value means "absent".
fn optional_id<'v>(field: &str, value: &'v str, max: usize) -> io::Result<Option<&'v str>> {
    if value.is_empty() {
        Ok(None)
    } else {
        id(field, value, max).map(Some)
    }
}

fn iso_date_time(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.fZ").to_string()
}

/// An XML fragment under construction, indented two spaces per level.
#[derive(Default)]
struct Doc(String);

impl Doc {
    fn indent(&mut self, depth: usize) {
        for _ in 0..depth {
            self.0.push_str("  ");
        }
    }

    fn open(&mut self, depth: usize, name: &str) {
        self.indent(depth);
        self.0.push('<');
        self.0.push_str(name);
        self.0.push_str(">\n");
    }

    fn close(&mut self, depth: usize, name: &str) {
        self.indent(depth);
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push_str(">\n");
    }

    /// A chain of single-child elements ending in text, on one line:
    /// `<Id><Othr><Id>text</Id></Othr></Id>`.
    fn leaf(&mut self, depth: usize, path: &[&str], text: &str) {
        self.indent(depth);
        for name in path {
            self.0.push('<');
            self.0.push_str(name);
            self.0.push('>');
        }
        self.0.push_str(&esc(text));
        for name in path.iter().rev() {
            self.0.push_str("</");
            self.0.push_str(name);
            self.0.push('>');
        }
        self.0.push('\n');
    }

    fn amount(&mut self, depth: usize, amount: Money) {
        self.indent(depth);
        self.0.push_str("<Amt><InstdAmt Ccy=\"CNY\">");
        self.0.push_str(&amount.to_string());
        self.0.push_str("</InstdAmt></Amt>\n");
    }

    /// `FinInstnId` naming a bank by its code as a clearing-system member.
    fn agent(&mut self, depth: usize, name: &str, bank_code: Option<&str>) {
        match bank_code {
            Some(code) => {
                self.open(depth, name);
                self.leaf(depth + 1, &["FinInstnId", "ClrSysMmbId", "MmbId"], code);
                self.close(depth, name);
            }
            None => self.leaf(depth, &[name, "FinInstnId"], ""),
        }
    }

    fn flush(&mut self, out: &mut dyn Write) -> io::Result<()> {
        out.write_all(self.0.as_bytes())?;
        self.0.clear();
        Ok(())
    }
}

/// Writes a pain.001.001.09 request: one `PmtInf` for the whole batch.
#[derive(Default)]
pub struct Pain001Writer {
    doc: Doc,
    count: u64,
    sum: Money,
}

impl RequestWriter for Pain001Writer {
    fn header(&mut self, out: &mut dyn Write, batch: &BatchInfo) -> io::Result<()> {
        let batch_no = id("batch_no", &batch.batch_no, MAX35)?;
        let payer_account = id("payer_account", &batch.payer_account, MAX34)?;
        let bank_code = optional_id("bank_code", &batch.bank_code, MAX35)?;
        let agency_code = optional_id("agency_code", &batch.agency_code, MAX35)?;
        let payer_name = fit_text(&batch.payer_name, MAX140);
        let (count, total) = (batch.count.to_string(), batch.total.to_string());
        self.count = 0;
        self.sum = Money::ZERO;

        let d = &mut self.doc;
        d.0.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        d.0.push_str(&format!("<Document xmlns=\"{NS_PAIN001}\">\n"));
        d.open(1, "CstmrCdtTrfInitn");
        d.open(2, "GrpHdr");
        d.leaf(3, &["MsgId"], batch_no);
        d.leaf(3, &["CreDtTm"], &iso_date_time(batch.created_at));
        d.leaf(3, &["NbOfTxs"], &count);
        d.leaf(3, &["CtrlSum"], &total);
        match &payer_name {
            Some(name) => d.leaf(3, &["InitgPty", "Nm"], name),
            None => d.leaf(3, &["InitgPty"], ""),
        }
        d.close(2, "GrpHdr");
        d.open(2, "PmtInf");
        d.leaf(3, &["PmtInfId"], batch_no);
        d.leaf(3, &["PmtMtd"], "TRF");
        d.leaf(3, &["NbOfTxs"], &count);
        d.leaf(3, &["CtrlSum"], &total);
        d.leaf(3, &["ReqdExctnDt", "Dt"], &batch.value_date.format("%Y-%m-%d").to_string());
        d.open(3, "Dbtr");
        if let Some(name) = &payer_name {
            d.leaf(4, &["Nm"], name);
        }
        if let Some(agency) = agency_code {
            d.open(4, "Id");
            d.open(5, "OrgId");
            d.open(6, "Othr");
            d.leaf(7, &["Id"], agency);
            d.leaf(7, &["SchmeNm", "Prtry"], "AGENCY");
            d.close(6, "Othr");
            d.close(5, "OrgId");
            d.close(4, "Id");
        }
        d.close(3, "Dbtr");
        d.leaf(3, &["DbtrAcct", "Id", "Othr", "Id"], payer_account);
        d.agent(3, "DbtrAgt", bank_code);
        d.flush(out)
    }

    fn detail(&mut self, out: &mut dyn Write, detail: &PaymentDetail) -> io::Result<()> {
        let serial = id("serial_no", &detail.serial_no, MAX35)?;
        let account = id("account_no", &detail.account_no, MAX34)?;
        let bank_code = optional_id("bank_code", &detail.bank_code, MAX35)?;
        let person_id = optional_id("person_id", &detail.person_id, MAX35)?;
        let name = fit_text(&detail.account_name, MAX140);
        let remark = fit_text(&detail.remark, MAX140);
        if detail.amount.is_zero() {
            return Err(invalid(format!("payment {serial}: an amount of zero is not a payment")));
        }
        self.count += 1;
        self.sum = self.sum.checked_add(detail.amount).ok_or_else(|| invalid("batch total overflows".into()))?;

        let d = &mut self.doc;
        d.open(3, "CdtTrfTxInf");
        d.open(4, "PmtId");
        d.leaf(5, &["InstrId"], serial);
        d.leaf(5, &["EndToEndId"], serial);
        d.close(4, "PmtId");
        d.amount(4, detail.amount);
        if bank_code.is_some() {
            d.agent(4, "CdtrAgt", bank_code);
        }
        if name.is_some() || person_id.is_some() {
            d.open(4, "Cdtr");
            if let Some(name) = &name {
                d.leaf(5, &["Nm"], name);
            }
            if let Some(person_id) = person_id {
                d.open(5, "Id");
                d.open(6, "PrvtId");
                d.open(7, "Othr");
                d.leaf(8, &["Id"], person_id);
                d.leaf(8, &["SchmeNm", "Cd"], "NIDN");
                d.close(7, "Othr");
                d.close(6, "PrvtId");
                d.close(5, "Id");
            }
            d.close(4, "Cdtr");
        }
        d.leaf(4, &["CdtrAcct", "Id", "Othr", "Id"], account);
        if let Some(remark) = &remark {
            d.leaf(4, &["RmtInf", "Ustrd"], remark);
        }
        d.close(3, "CdtTrfTxInf");
        d.flush(out)
    }

    fn finish(&mut self, out: &mut dyn Write, batch: &BatchInfo) -> io::Result<()> {
        if self.count == 0 {
            return Err(invalid(format!("batch {}: a pain.001 needs at least one payment", batch.batch_no)));
        }
        if self.count != batch.count || self.sum != batch.total {
            return Err(invalid(format!(
                "batch {}: header says {} payments totalling {}, details were {} totalling {}",
                batch.batch_no, batch.count, batch.total, self.count, self.sum
            )));
        }
        let d = &mut self.doc;
        d.close(2, "PmtInf");
        d.close(1, "CstmrCdtTrfInitn");
        d.0.push_str("</Document>\n");
        d.flush(out)
    }
}

/// Writes a pain.002 status report answering one batch (the bank's side).
pub struct Pain002Writer {
    version: Pain002Version,
    created_at: Option<NaiveDateTime>,
    batch_no: String,
    group_rejected: bool,
    pmt_inf_open: bool,
    doc: Doc,
}

impl Pain002Writer {
    pub fn new(version: Pain002Version) -> Pain002Writer {
        Pain002Writer {
            version,
            created_at: None,
            batch_no: String::new(),
            group_rejected: false,
            pmt_inf_open: false,
            doc: Doc::default(),
        }
    }

    /// Fixes `CreDtTm` (UTC) and with it the message id, for reproducible
    /// files; without it the current time is used.
    pub fn with_created_at(mut self, at: NaiveDateTime) -> Pain002Writer {
        self.created_at = Some(at);
        self
    }

    /// The `TxSts` of an outcome, if this version's schema can carry it.
    fn status(&self, outcome: &Outcome) -> io::Result<&'static str> {
        let code = match outcome {
            Outcome::Paid => return Ok("ACSC"),
            Outcome::Failed => return Ok("RJCT"),
            Outcome::InFlight(code) => code,
        };
        // pain.002.001.03's TransactionIndividualStatus3Code has no RCVD.
        let allowed = |c: &&str| !(self.version == Pain002Version::V03 && *c == "RCVD");
        IN_FLIGHT.iter().copied().filter(allowed).find(|c| c == code).ok_or_else(|| {
            invalid(format!("in-flight status '{code}' cannot be written in pain.002 {:?}", self.version))
        })
    }
}

/// `StsRsnInf` with the code (`Cd` when it fits `ExternalStatusReason1Code`,
/// else `Prtry`) and the text; nothing when both are empty.
fn status_reason(d: &mut Doc, depth: usize, reason: &ReasonCode) -> io::Result<()> {
    let code = optional_id("reason code", &reason.code, MAX35)?;
    let text = fit_text(&reason.text, MAX105);
    if code.is_none() && text.is_none() {
        return Ok(());
    }
    d.open(depth, "StsRsnInf");
    if let Some(code) = code {
        let kind = if code.chars().count() <= MAX_REASON_CD { "Cd" } else { "Prtry" };
        d.leaf(depth + 1, &["Rsn", kind], code);
    }
    if let Some(text) = &text {
        d.leaf(depth + 1, &["AddtlInf"], text);
    }
    d.close(depth, "StsRsnInf");
    Ok(())
}

impl ReturnWriter for Pain002Writer {
    fn header(&mut self, out: &mut dyn Write, header: &ReturnHeader) -> io::Result<()> {
        let batch_no = id("batch_no", &header.batch_no, MAX35)?;
        let created_at = self.created_at.unwrap_or_else(|| Utc::now().naive_utc());
        let msg_id: String = format!("{batch_no}-{}", created_at.format("%Y%m%d%H%M%S")).chars().take(MAX35).collect();
        let namespace = match self.version {
            Pain002Version::V03 => NS_PAIN002_V03,
            Pain002Version::V12 => NS_PAIN002_V12,
        };
        self.batch_no = batch_no.to_string();
        self.group_rejected = header.group_rejected.is_some();
        self.pmt_inf_open = false;

        let d = &mut self.doc;
        d.0.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        d.0.push_str(&format!("<Document xmlns=\"{namespace}\">\n"));
        d.open(1, "CstmrPmtStsRpt");
        d.open(2, "GrpHdr");
        d.leaf(3, &["MsgId"], &msg_id);
        d.leaf(3, &["CreDtTm"], &iso_date_time(created_at));
        d.close(2, "GrpHdr");
        d.open(2, "OrgnlGrpInfAndSts");
        d.leaf(3, &["OrgnlMsgId"], batch_no);
        d.leaf(3, &["OrgnlMsgNmId"], PAIN001_NAME);
        if let Some(reason) = &header.group_rejected {
            d.leaf(3, &["GrpSts"], "RJCT");
            status_reason(d, 3, reason)?;
        }
        d.close(2, "OrgnlGrpInfAndSts");
        d.flush(out)
    }

    fn detail(&mut self, out: &mut dyn Write, detail: &ReturnDetail) -> io::Result<()> {
        if self.group_rejected {
            return Err(invalid(format!("batch {}: a group-rejected return has no transactions", self.batch_no)));
        }
        let serial = id("serial_no", &detail.serial_no, MAX35)?;
        let status = self.status(&detail.outcome)?;
        let bank_ref = optional_id("bank_ref", &detail.bank_ref, MAX35)?;
        let account = detail.account_no.as_deref().map(|a| id("account_no", a, MAX34)).transpose()?;
        let name = detail.account_name.as_deref().and_then(|n| fit_text(n, MAX140));

        let d = &mut self.doc;
        if !self.pmt_inf_open {
            self.pmt_inf_open = true;
            d.open(2, "OrgnlPmtInfAndSts");
            d.leaf(3, &["OrgnlPmtInfId"], &self.batch_no);
        }
        d.open(3, "TxInfAndSts");
        d.leaf(4, &["OrgnlInstrId"], serial);
        d.leaf(4, &["OrgnlEndToEndId"], serial);
        d.leaf(4, &["TxSts"], status);
        status_reason(d, 4, &detail.reason)?;
        if let Some(bank_ref) = bank_ref {
            d.leaf(4, &["AcctSvcrRef"], bank_ref);
        }
        if detail.amount.is_some() || name.is_some() || account.is_some() {
            d.open(4, "OrgnlTxRef");
            if let Some(amount) = detail.amount {
                d.amount(5, amount);
            }
            if let Some(name) = &name {
                match self.version {
                    Pain002Version::V03 => d.leaf(5, &["Cdtr", "Nm"], name),
                    Pain002Version::V12 => d.leaf(5, &["Cdtr", "Pty", "Nm"], name),
                }
            }
            if let Some(account) = account {
                d.leaf(5, &["CdtrAcct", "Id", "Othr", "Id"], account);
            }
            d.close(4, "OrgnlTxRef");
        }
        d.close(3, "TxInfAndSts");
        d.flush(out)
    }

    fn finish(&mut self, out: &mut dyn Write, _header: &ReturnHeader) -> io::Result<()> {
        let d = &mut self.doc;
        if self.pmt_inf_open {
            d.close(2, "OrgnlPmtInfAndSts");
            self.pmt_inf_open = false;
        }
        d.close(1, "CstmrPmtStsRpt");
        d.0.push_str("</Document>\n");
        d.flush(out)
    }
}
