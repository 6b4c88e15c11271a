//! Hand-written bank files: what the readers accept, and every rejection
//! naming the right line.

use super::tests::{batch, payment, read_request_all, read_return_all, write_pain001};
use crate::domain::Money;
use crate::formats::bank::*;

/// 1-based line of each occurrence of `needle`.
fn lines_of(text: &str, needle: &str) -> Vec<u64> {
    text.match_indices(needle).map(|(i, _)| text[..i].matches('\n').count() as u64 + 1).collect()
}

fn line_of(text: &str, needle: &str) -> u64 {
    lines_of(text, needle).first().copied().unwrap_or_else(|| panic!("{needle} not in sample"))
}

fn money(fen: i64) -> Money {
    Money::from_fen(fen).expect("amount")
}

/// A bank's pain.002.001.03 with a namespace prefix, original-batch totals
/// that do not describe this file, and a paid, a failed and an `ACCC` entry.
const PREFIXED_V03: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ns2:Document xmlns:ns2="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03">
 <ns2:CstmrPmtStsRpt>
  <ns2:GrpHdr><ns2:MsgId>R1</ns2:MsgId><ns2:CreDtTm>2024-05-11T10:00:00</ns2:CreDtTm></ns2:GrpHdr>
  <ns2:OrgnlGrpInfAndSts>
   <ns2:OrgnlMsgId>B202405001</ns2:OrgnlMsgId>
   <ns2:OrgnlMsgNmId>pain.001.001.09</ns2:OrgnlMsgNmId>
   <ns2:OrgnlNbOfTxs>99</ns2:OrgnlNbOfTxs>
   <ns2:OrgnlCtrlSum>99999.00</ns2:OrgnlCtrlSum>
   <ns2:GrpSts>PART</ns2:GrpSts>
  </ns2:OrgnlGrpInfAndSts>
  <ns2:OrgnlPmtInfAndSts>
   <ns2:OrgnlPmtInfId>B202405001</ns2:OrgnlPmtInfId>
   <ns2:TxInfAndSts>
    <ns2:OrgnlEndToEndId>S0001</ns2:OrgnlEndToEndId>
    <ns2:TxSts>ACSC</ns2:TxSts>
    <ns2:AcctSvcrRef>BR0001</ns2:AcctSvcrRef>
    <ns2:OrgnlTxRef>
     <ns2:Amt><ns2:InstdAmt Ccy="CNY">780.00</ns2:InstdAmt></ns2:Amt>
     <ns2:Cdtr><ns2:Nm>张三</ns2:Nm></ns2:Cdtr>
     <ns2:CdtrAcct><ns2:Id><ns2:Othr><ns2:Id>6222000000000001</ns2:Id></ns2:Othr></ns2:Id></ns2:CdtrAcct>
    </ns2:OrgnlTxRef>
   </ns2:TxInfAndSts>
   <ns2:TxInfAndSts>
    <ns2:OrgnlEndToEndId>S0002</ns2:OrgnlEndToEndId>
    <ns2:TxSts>RJCT</ns2:TxSts>
    <ns2:StsRsnInf><ns2:Rsn><ns2:Cd>AC04</ns2:Cd></ns2:Rsn><ns2:AddtlInf>账户已销户</ns2:AddtlInf></ns2:StsRsnInf>
    <ns2:OrgnlTxRef><ns2:Amt><ns2:InstdAmt Ccy="CNY">1200.5</ns2:InstdAmt></ns2:Amt></ns2:OrgnlTxRef>
   </ns2:TxInfAndSts>
   <ns2:TxInfAndSts>
    <ns2:OrgnlEndToEndId>S0003</ns2:OrgnlEndToEndId>
    <ns2:TxSts>ACCC</ns2:TxSts>
   </ns2:TxInfAndSts>
  </ns2:OrgnlPmtInfAndSts>
 </ns2:CstmrPmtStsRpt>
</ns2:Document>
"#;

#[test]
fn reads_a_prefixed_v03_report_and_computes_totals_from_its_entries() {
    let (header, details) = read_return_all(PREFIXED_V03.as_bytes()).expect("accepted");
    let want = ReturnHeader {
        batch_no: "B202405001".into(),
        total_count: 3,
        total_amount: money(78000 + 120050),
        ok_count: 2,
        ok_amount: money(78000),
        fail_count: 1,
        fail_amount: money(120050),
        ..ReturnHeader::default()
    };
    assert_eq!(header, want);
    let entry_lines = lines_of(PREFIXED_V03, "<ns2:TxInfAndSts>");
    assert_eq!(details.iter().map(|d| d.line_no).collect::<Vec<_>>(), entry_lines);
    assert_eq!(
        details[0],
        ReturnDetail {
            line_no: entry_lines[0],
            seq: None,
            serial_no: "S0001".into(),
            account_no: Some("6222000000000001".into()),
            account_name: Some("张三".into()),
            amount: Some(money(78000)),
            outcome: Outcome::Paid,
            reason: ReasonCode::default(),
            bank_ref: "BR0001".into(),
        }
    );
    assert_eq!(details[1].outcome, Outcome::Failed);
    assert_eq!(details[1].reason, ReasonCode { code: "AC04".into(), text: "账户已销户".into() });
    assert_eq!((details[2].outcome.clone(), details[2].amount), (Outcome::Paid, None));
}

fn v12_report(entries: &str, group: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.12">
<CstmrPmtStsRpt>
<GrpHdr><MsgId>R2</MsgId><CreDtTm>2024-05-11T10:00:00+08:00</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts><OrgnlMsgId>B202405002</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>{group}</OrgnlGrpInfAndSts>
{entries}
</CstmrPmtStsRpt>
</Document>
"#
    )
}

#[test]
fn reads_v12_in_flight_statuses_as_not_final() {
    for code in ["ACTC", "ACCP", "ACSP", "ACWC", "PDNG", "RCVD"] {
        let entries = format!(
            "<OrgnlPmtInfAndSts><OrgnlPmtInfId>P</OrgnlPmtInfId>\n<TxInfAndSts><StsId>ST9</StsId>\
             <OrgnlEndToEndId>S9</OrgnlEndToEndId><TxSts>{code}</TxSts><OrgnlTxRef>\
             <Amt><InstdAmt Ccy=\"CNY\">10</InstdAmt></Amt><Cdtr><Pty><Nm>李四</Nm></Pty></Cdtr>\
             </OrgnlTxRef></TxInfAndSts>\n</OrgnlPmtInfAndSts>"
        );
        let xml = v12_report(&entries, "");
        let (header, details) = read_return_all(xml.as_bytes()).expect(code);
        assert_eq!(details.len(), 1);
        let d = &details[0];
        assert_eq!(d.outcome, Outcome::InFlight(code.into()));
        assert_eq!((d.line_no, d.bank_ref.as_str(), d.account_name.as_deref()), (7, "ST9", Some("李四")));
        assert_eq!(
            (header.total_count, header.total_amount, header.ok_count, header.fail_count),
            (1, money(1000), 0, 0)
        );
        assert_eq!(header.group_rejected, None);
    }
}

#[test]
fn group_rejection_without_entries_rejects_the_batch() {
    let rejected = "<GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>AM04</Cd></Rsn><AddtlInf>余额不足</AddtlInf>\
                    <AddtlInf>请补足后重发</AddtlInf></StsRsnInf><StsRsnInf><Rsn><Cd>XX99</Cd></Rsn></StsRsnInf>";
    let reason = ReasonCode { code: "AM04".into(), text: "余额不足 请补足后重发".into() };
    let payment_level = "<OrgnlPmtInfAndSts><OrgnlPmtInfId>P</OrgnlPmtInfId><PmtInfSts>RJCT</PmtInfSts>\
                         <StsRsnInf><Rsn><Prtry>NOFUNDS</Prtry></Rsn></StsRsnInf></OrgnlPmtInfAndSts>";
    let one_paid = "<OrgnlPmtInfAndSts><OrgnlPmtInfId>P</OrgnlPmtInfId><TxInfAndSts>\
                    <OrgnlEndToEndId>S1</OrgnlEndToEndId><TxSts>ACSC</TxSts></TxInfAndSts></OrgnlPmtInfAndSts>";
    let cases: &[(&str, String, Option<ReasonCode>)] = &[
        ("group RJCT, no entries", v12_report("", rejected), Some(reason.clone())),
        (
            "payment information RJCT, no entries",
            v12_report(payment_level, ""),
            Some(ReasonCode { code: "NOFUNDS".into(), text: String::new() }),
        ),
        ("group RJCT with entries: the entries decide", v12_report(one_paid, rejected), None),
        ("group accepted, no entries: nothing to apply", v12_report("", "<GrpSts>ACTC</GrpSts>"), None),
    ];
    for (name, xml, want) in cases {
        let (header, _) = read_return_all(xml.as_bytes()).expect(name);
        assert_eq!(&header.group_rejected, want, "{name}");
        assert_eq!(header.batch_no, "B202405002", "{name}");
    }
}

/// Applies `edit` to the prefixed sample; the expected line is where the
/// `nth` occurrence of `at` is in the result.
fn spoil(edit: fn(&str) -> String, at: &str, nth: usize) -> (String, u64) {
    let xml = edit(PREFIXED_V03);
    let line = lines_of(&xml, at).get(nth).copied().unwrap_or_else(|| panic!("{at} #{nth} not in sample"));
    (xml, line)
}

#[test]
fn return_rejections_name_the_offending_line() {
    type Case = (&'static str, fn(&str) -> String, &'static str, usize, &'static str);
    let cases: &[Case] = &[
        (
            "mismatched end tag",
            |x| x.replace("ACSC</ns2:TxSts>", "ACSC</ns2:TxStatus>"),
            "</ns2:TxStatus>",
            0,
            "malformed XML",
        ),
        (
            "file cut short",
            |x| x[..x.find("\n    <ns2:TxSts>RJCT").unwrap_or(0)].to_string(),
            "S0002",
            0,
            "ends inside",
        ),
        ("undeclared entity", |x| x.replace("张三", "&nbsp;"), "&nbsp;", 0, "malformed XML"),
        ("text after the document", |x| format!("{x}junk"), "junk", 0, "outside the document element"),
        ("declared GBK", |x| x.replace("encoding=\"UTF-8\"", "encoding=\"GBK\""), "<?xml", 0, "not UTF-8"),
        (
            "pain.001 namespace",
            |x| x.replace("pain.002.001.03", "pain.001.001.09"),
            "<ns2:Document",
            0,
            "not a pain.002",
        ),
        (
            "missing OrgnlMsgId",
            |x| x.replace("<ns2:OrgnlMsgId>B202405001</ns2:OrgnlMsgId>", ""),
            "<ns2:OrgnlGrpInfAndSts>",
            0,
            "OrgnlMsgId",
        ),
        (
            "no original group at all",
            |x| x.replace("<ns2:OrgnlGrpInfAndSts>", "<ns2:X>").replace("</ns2:OrgnlGrpInfAndSts>", "</ns2:X>"),
            "<ns2:TxInfAndSts>",
            0,
            "OrgnlMsgId",
        ),
        ("unknown TxSts", |x| x.replace("<ns2:TxSts>ACSC", "<ns2:TxSts>BOGS"), "BOGS", 0, "unknown TxSts 'BOGS'"),
        ("empty TxSts", |x| x.replace("<ns2:TxSts>ACCC", "<ns2:TxSts>"), "<ns2:TxSts></", 0, "unknown TxSts"),
        ("thousands separator", |x| x.replace("1200.5<", "1,200.50<"), "1,200.50", 0, "thousands separator"),
        ("three decimals", |x| x.replace("780.00<", "780.001<"), "780.001", 0, "more than two decimals"),
        ("negative amount", |x| x.replace("780.00<", "-780.00<"), "-780.00", 0, "sign"),
        ("not a number", |x| x.replace("780.00<", "七百八<"), "七百八", 0, "not a number"),
        ("foreign currency", |x| x.replace("Ccy=\"CNY\">780", "Ccy=\"USD\">780"), "USD", 0, "only CNY"),
        (
            "no OrgnlEndToEndId: the entry's first line",
            |x| x.replace("<ns2:OrgnlEndToEndId>S0003</ns2:OrgnlEndToEndId>", ""),
            "<ns2:TxInfAndSts>",
            2,
            "no OrgnlEndToEndId",
        ),
        (
            "no TxSts: the entry's first line",
            |x| x.replace("<ns2:TxSts>ACCC</ns2:TxSts>", ""),
            "<ns2:TxInfAndSts>",
            2,
            "has no TxSts",
        ),
    ];
    for (name, edit, at, nth, message) in cases {
        let (xml, line) = spoil(*edit, at, *nth);
        match read_return_all(xml.as_bytes()) {
            Err(FormatError::Line { line: got, message: got_message }) => {
                assert_eq!(got, line, "{name}: {got_message}");
                assert!(got_message.contains(message), "{name}: '{got_message}' lacks '{message}'");
            }
            other => panic!("{name}: expected a line error, got {other:?}"),
        }
    }
}

fn request_xml() -> String {
    let details = vec![payment(1, "S1", "张三", 78000, "五月"), payment(2, "S2", "李四", 50, "")];
    String::from_utf8(write_pain001(&batch(&details), &details).expect("write")).expect("UTF-8")
}

/// Replaces the `nth` (0-based) occurrence of `from`.
fn replace_nth(text: &str, from: &str, to: &str, nth: usize) -> String {
    let (i, _) = text.match_indices(from).nth(nth).unwrap_or_else(|| panic!("{from} #{nth}"));
    format!("{}{to}{}", &text[..i], &text[i + from.len()..])
}

#[test]
fn request_rejections_name_the_header_or_entry_line() {
    let xml = request_xml();
    let count_lines = lines_of(&xml, "<NbOfTxs>");
    let sum_lines = lines_of(&xml, "<CtrlSum>");
    let cases: Vec<(&str, String, u64, &str)> = vec![
        ("group count", replace_nth(&xml, "<NbOfTxs>2<", "<NbOfTxs>3<", 0), count_lines[0], "GrpHdr/NbOfTxs says 3"),
        (
            "payment information count",
            replace_nth(&xml, "<NbOfTxs>2<", "<NbOfTxs>1<", 1),
            count_lines[1],
            "PmtInf/NbOfTxs",
        ),
        ("group total", replace_nth(&xml, "<CtrlSum>780.50<", "<CtrlSum>780.51<", 0), sum_lines[0], "GrpHdr/CtrlSum"),
        (
            "payment information total",
            replace_nth(&xml, "<CtrlSum>780.50<", "<CtrlSum>7.5<", 1),
            sum_lines[1],
            "PmtInf/CtrlSum",
        ),
        ("bad control sum", replace_nth(&xml, "<CtrlSum>780.50<", "<CtrlSum>7,80.50<", 0), sum_lines[0], "CtrlSum"),
        ("cheque", xml.replace("TRF", "CHK"), line_of(&xml, "<PmtMtd>"), "only credit transfers"),
        ("bad amount", xml.replace(">0.50<", ">0.5.0<"), line_of(&xml, ">0.50<"), "InstdAmt"),
        ("zero amount", xml.replace(">0.50<", ">0.00<"), lines_of(&xml, "<CdtTrfTxInf>")[1], "zero"),
        (
            "no EndToEndId",
            xml.replace("<EndToEndId>S2</EndToEndId>", ""),
            lines_of(&xml, "<CdtTrfTxInf>")[1],
            "EndToEndId",
        ),
        (
            "second PmtInf",
            xml.replace("</PmtInf>", "</PmtInf><PmtInf></PmtInf>"),
            line_of(&xml, "</PmtInf>"),
            "second PmtInf",
        ),
        ("pain.002 namespace", xml.replace("pain.001.001.09", "pain.002.001.12"), 2, "not a pain.001"),
        ("bad date", xml.replace("<Dt>2024-05-10", "<Dt>2024-13-10"), line_of(&xml, "<Dt>"), "ISO date"),
    ];
    for (name, xml, line, message) in cases {
        match read_request_all(xml.as_bytes()) {
            Err(FormatError::Line { line: got, message: got_message }) => {
                assert_eq!(got, line, "{name}: {got_message}");
                assert!(got_message.contains(message), "{name}: '{got_message}' lacks '{message}'");
            }
            other => panic!("{name}: expected a line error, got {other:?}"),
        }
    }
}

#[test]
fn a_visitor_error_stops_reading() {
    let mut seen = 0;
    let err = iso20022::read_return(&mut PREFIXED_V03.as_bytes(), &mut |d| {
        seen += 1;
        Err(FormatError::line(d.line_no, "stop here"))
    })
    .expect_err("visitor error");
    assert_eq!(seen, 1);
    assert!(matches!(err, FormatError::Line { line, .. } if line == line_of(PREFIXED_V03, "<ns2:TxInfAndSts>")));
}

/// A million-entry return read from disk; run with
/// `cargo test --release --lib formats::bank::iso20022 -- --ignored --nocapture`.
#[test]
#[ignore = "large: run in release mode to measure"]
fn reads_a_million_entry_return_in_seconds() {
    use std::io::{BufReader, BufWriter};
    let n = 1_000_000u64;
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let header = ReturnHeader { batch_no: "B1".into(), ..ReturnHeader::default() };
    {
        let mut out = BufWriter::new(file.reopen().expect("reopen"));
        let mut w = iso20022::Pain002Writer::new(Pain002Version::V12);
        w.header(&mut out, &header).expect("header");
        for i in 0..n {
            let outcome = if i % 10 == 0 { Outcome::Failed } else { Outcome::Paid };
            let mut d = super::tests::ret(&format!("S{i:020}"), outcome, Some(78000));
            d.bank_ref = format!("R{i}");
            w.detail(&mut out, &d).expect("detail");
        }
        w.finish(&mut out, &header).expect("finish");
    }
    let size = file.as_file().metadata().expect("size").len();
    let started = std::time::Instant::now();
    let mut input = BufReader::with_capacity(1 << 16, file.reopen().expect("reopen"));
    let mut last_line = 0;
    let read = iso20022::read_return(&mut input, &mut |d| {
        last_line = d.line_no;
        Ok(())
    })
    .expect("read");
    let elapsed = started.elapsed();
    eprintln!("read {n} entries ({} MB) in {elapsed:?}; last entry on line {last_line}", size >> 20);
    assert_eq!((read.total_count, read.fail_count), (n, n / 10));
    assert_eq!(read.ok_amount, money(78000 * (n - n / 10) as i64));
}

/// Everything a reading hands over, in order: `batch …` and each serial.
fn announced(xml: &str) -> (Vec<String>, ReturnHeader) {
    crate::formats::bank::text_common::test_support::announced(Layout::Iso20022, xml.as_bytes())
}

#[test]
fn the_batch_is_announced_at_the_first_transaction_and_only_then() {
    let (seen, header) = announced(PREFIXED_V03);
    assert_eq!(seen[0], format!("batch {}", header.batch_no));
    assert!(seen.len() > 1 && seen[1..].iter().all(|s| !s.starts_with("batch ")), "{seen:?}");
    // No transactions: nothing to announce; the header names the batch.
    let rejected = "<GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>AM04</Cd></Rsn></StsRsnInf>";
    let (seen, header) = announced(&v12_report("", rejected));
    assert!(seen.is_empty(), "{seen:?}");
    assert_eq!(header.batch_no, "B202405002");
}
