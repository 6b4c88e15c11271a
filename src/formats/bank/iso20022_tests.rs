//! Writers against the schemas (xmllint), and round trips through the readers.

use std::io::Write;
use std::process::Command;

use chrono::{NaiveDate, NaiveDateTime};
use proptest::prelude::*;

use super::fit_text;
use crate::domain::Money;
use crate::formats::bank::*;

pub(super) const XSD_PAIN001: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/spec/xsd/pain.001.001.09.xsd");
pub(super) const XSD_PAIN002_V03: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/spec/xsd/pain.002.001.03.xsd");
pub(super) const XSD_PAIN002_V12: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/spec/xsd/pain.002.001.12.xsd");

/// Runs `xmllint --schema` on `xml`: `None` when xmllint is missing (which
/// fails under CI, `CI=true`, and is skipped loudly elsewhere), else its verdict.
fn xmllint(xsd: &str, xml: &[u8]) -> Option<Result<(), String>> {
    if Command::new("xmllint").arg("--version").output().is_err() {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("xmllint is not installed; CI must validate ISO 20022 files (apt-get install libxml2-utils)");
        }
        eprintln!("\n!!!!! SKIPPED schema validation against {xsd}: xmllint not found (apt-get install libxml2-utils) !!!!!\n");
        return None;
    }
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(xml).expect("write temp file");
    let out =
        Command::new("xmllint").args(["--noout", "--schema", xsd]).arg(file.path()).output().expect("run xmllint");
    Some(if out.status.success() { Ok(()) } else { Err(String::from_utf8_lossy(&out.stderr).into_owned()) })
}

pub(super) fn assert_schema_valid(xsd: &str, xml: &[u8]) {
    if let Some(Err(errors)) = xmllint(xsd, xml) {
        panic!("xmllint rejects the file against {xsd}:\n{errors}\n{}", String::from_utf8_lossy(xml));
    }
}

#[test]
fn schema_check_catches_what_the_schema_forbids() {
    let details = sample_payments();
    let xml = String::from_utf8(write_pain001(&batch(&details), &details).expect("write")).expect("UTF-8");
    let spoiled = xml.replace("<MsgId>B20240500001</MsgId>", &format!("<MsgId>{}</MsgId>", "B".repeat(36)));
    if let Some(verdict) = xmllint(XSD_PAIN001, spoiled.as_bytes()) {
        assert!(verdict.is_err(), "a 36-character MsgId must fail validation");
    }
}

pub(super) fn at(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("test date-time")
}

pub(super) fn batch(details: &[PaymentDetail]) -> BatchInfo {
    BatchInfo {
        batch_no: "B20240500001".into(),
        bank_code: "102100099996".into(),
        payer_account: "110060149018000123".into(),
        payer_name: "某市人力资源和社会保障局 & 民政局".into(),
        agency_code: "MZJ001".into(),
        value_date: NaiveDate::from_ymd_opt(2024, 5, 10).expect("date"),
        created_at: at("2024-05-01 08:30:00"),
        count: details.len() as u64,
        total: details.iter().map(|d| d.amount).sum(),
    }
}

pub(super) fn payment(seq: u64, serial: &str, name: &str, fen: i64, remark: &str) -> PaymentDetail {
    PaymentDetail {
        seq,
        serial_no: serial.into(),
        account_no: format!("62220200000000{seq:04}"),
        account_name: name.into(),
        amount: Money::from_fen(fen).expect("amount"),
        person_id: format!("11010519491231{seq:04}"),
        remark: remark.into(),
        bank_code: "102100099996".into(),
    }
}

pub(super) fn write_pain001(batch: &BatchInfo, details: &[PaymentDetail]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = iso20022::Pain001Writer::default();
    w.header(&mut out, batch)?;
    for d in details {
        w.detail(&mut out, d)?;
    }
    w.finish(&mut out, batch)?;
    Ok(out)
}

pub(super) fn write_pain002(
    version: Pain002Version,
    header: &ReturnHeader,
    details: &[ReturnDetail],
) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = iso20022::Pain002Writer::new(version).with_created_at(at("2024-05-11 02:00:00"));
    w.header(&mut out, header)?;
    for d in details {
        w.detail(&mut out, d)?;
    }
    w.finish(&mut out, header)?;
    Ok(out)
}

pub(super) fn read_request_all(xml: &[u8]) -> Result<(BatchInfo, Vec<PaymentDetail>), FormatError> {
    let mut details = Vec::new();
    let batch = iso20022::read_request(&mut &xml[..], &mut |d| {
        details.push(d);
        Ok(())
    })?;
    Ok((batch, details))
}

pub(super) fn read_return_all(xml: &[u8]) -> Result<(ReturnHeader, Vec<ReturnDetail>), FormatError> {
    let mut details = Vec::new();
    let header = iso20022::read_return(&mut &xml[..], &mut |d| {
        details.push(d);
        Ok(())
    })?;
    Ok((header, details))
}

fn long_remark() -> String {
    "二〇二四年五月城乡居民最低生活保障金、特困人员救助供养金及临时救助金合并发放，如有疑问请致电12345。"
        .repeat(5)
        .chars()
        .take(200)
        .collect()
}

fn sample_payments() -> Vec<PaymentDetail> {
    vec![
        payment(1, "S202405000000000000001", "张三", 78000, "2024年5月 低保金"),
        payment(2, "S202405000000000000002", "欧阳娜娜", 120050, "补发 & 调整 <一月> \"含\" '利息'"),
        payment(3, "S202405000000000000003", "O'Brien <李>", 1, &long_remark()),
    ]
}

#[test]
fn pain001_with_chinese_names_and_markup_in_remarks_is_schema_valid() {
    let details = sample_payments();
    let xml = write_pain001(&batch(&details), &details).expect("write");
    assert_schema_valid(XSD_PAIN001, &xml);
    let text = String::from_utf8(xml).expect("UTF-8");
    assert!(text.contains("<Ustrd>补发 &amp; 调整 &lt;一月&gt; &quot;含&quot; &apos;利息&apos;</Ustrd>"), "{text}");
    assert!(text.contains("<Nm>O&apos;Brien &lt;李&gt;</Nm>"), "{text}");
    let cut: String = long_remark().chars().take(140).collect();
    assert!(text.contains(&format!("<Ustrd>{cut}</Ustrd>")), "200-character remark is cut to 140");
    assert!(text.contains("<CreDtTm>2024-05-01T08:30:00Z</CreDtTm>"));
    assert!(text.contains("<CtrlSum>1980.51</CtrlSum>"));
    assert!(text.contains("<InstdAmt Ccy=\"CNY\">0.01</InstdAmt>"));
    assert_eq!(text.matches("<NbOfTxs>3</NbOfTxs>").count(), 2, "group header and payment information");
}

#[test]
fn pain001_round_trips_through_read_request() {
    let details = sample_payments();
    let sent = batch(&details);
    let xml = write_pain001(&sent, &details).expect("write");
    let (got, read) = read_request_all(&xml).expect("read back");
    assert_eq!(got, sent);
    let mut expected = details.clone();
    expected[2].remark = long_remark().chars().take(140).collect();
    assert_eq!(read, expected);
}

#[test]
fn pain001_writer_refuses_what_it_would_have_to_cut_or_invent() {
    let ok = || sample_payments()[..1].to_vec();
    type Case = (&'static str, fn(&mut BatchInfo, &mut Vec<PaymentDetail>));
    let cases: &[Case] = &[
        ("serial over 35 characters", |_, d| d[0].serial_no = "S".repeat(36)),
        ("empty serial", |_, d| d[0].serial_no.clear()),
        ("account over 34 characters", |_, d| d[0].account_no = "6".repeat(35)),
        ("account with outer space", |_, d| d[0].account_no = " 6222".into()),
        ("zero amount", |b, d| {
            d[0].amount = Money::ZERO;
            b.total = Money::ZERO;
        }),
        ("batch_no over 35 characters", |b, _| b.batch_no = "B".repeat(36)),
        ("empty payer account", |b, _| b.payer_account.clear()),
        ("header count differs", |b, _| b.count = 2),
        ("header total differs", |b, _| b.total = Money::yuan(1)),
        ("no payments", |b, d| {
            d.clear();
            b.count = 0;
            b.total = Money::ZERO;
        }),
    ];
    for (name, spoil) in cases {
        let mut details = ok();
        let mut b = batch(&details);
        spoil(&mut b, &mut details);
        let err = write_pain001(&b, &details).expect_err(name);
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{name}: {err}");
    }
}

#[test]
fn free_text_is_cut_at_character_boundaries() {
    let cases: &[(&str, usize, Option<&str>)] = &[
        ("张三", 1, Some("张")),
        ("张三", 140, Some("张三")),
        ("  李四  ", 140, Some("李四")),
        ("a\r\nb\tc", 140, Some("a  b c")),
        ("nul\u{0}here\u{FFFF}", 140, Some("nul here")),
        ("ab cd", 3, Some("ab")),
        ("😀😀😀", 2, Some("😀😀")),
        ("   ", 140, None),
        ("", 140, None),
    ];
    for (raw, max, want) in cases {
        assert_eq!(fit_text(raw, *max).as_deref(), *want, "{raw:?} cut to {max}");
    }
}

pub(super) fn ret(serial: &str, outcome: Outcome, fen: Option<i64>) -> ReturnDetail {
    ReturnDetail {
        line_no: 0,
        seq: None,
        serial_no: serial.into(),
        account_no: fen.map(|f| format!("6222{f:08}")),
        account_name: fen.map(|_| "张三".into()),
        amount: fen.and_then(Money::from_fen),
        outcome,
        reason: ReasonCode::default(),
        bank_ref: String::new(),
    }
}

fn sample_returns(version: Pain002Version) -> Vec<ReturnDetail> {
    let failed = |serial: &str, code: &str, text: &str| ReturnDetail {
        reason: ReasonCode { code: code.into(), text: text.into() },
        ..ret(serial, Outcome::Failed, Some(120050))
    };
    let in_flight = if version == Pain002Version::V03 { "PDNG" } else { "RCVD" };
    vec![
        ReturnDetail { bank_ref: "BR20240511000001".into(), ..ret("S1", Outcome::Paid, Some(78000)) },
        failed("S2", "AC04", "账户已销户 & <注销>"),
        failed("S3", "BANK1003", "银行自定义代码"),
        failed("S4", "", ""),
        ret("S5", Outcome::InFlight("ACSP".into()), None),
        ret("S6", Outcome::InFlight(in_flight.into()), Some(1)),
        ReturnDetail { account_name: Some("欧阳".repeat(100)), ..ret("S7", Outcome::Paid, Some(5)) },
    ]
}

fn header_for(details: &[ReturnDetail]) -> ReturnHeader {
    ReturnHeader { batch_no: "B20240500001".into(), total_count: details.len() as u64, ..ReturnHeader::default() }
}

#[test]
fn pain002_both_versions_are_schema_valid() {
    for (version, xsd) in [(Pain002Version::V03, XSD_PAIN002_V03), (Pain002Version::V12, XSD_PAIN002_V12)] {
        let details = sample_returns(version);
        let xml = write_pain002(version, &header_for(&details), &details).expect("write");
        assert_schema_valid(xsd, &xml);

        let reason = ReasonCode { code: "AM04".into(), text: "付款账户余额不足".into() };
        let rejected = ReturnHeader { group_rejected: Some(reason), ..header_for(&[]) };
        let xml = write_pain002(version, &rejected, &[]).expect("write group rejection");
        assert_schema_valid(xsd, &xml);

        let xml = write_pain002(version, &header_for(&[]), &[]).expect("write empty report");
        assert_schema_valid(xsd, &xml);
    }
}

#[test]
fn pain002_round_trips_through_read_return_in_both_versions() {
    for version in [Pain002Version::V03, Pain002Version::V12] {
        let details = sample_returns(version);
        let xml = write_pain002(version, &header_for(&details), &details).expect("write");
        let (header, read) = read_return_all(&xml).expect("read back");
        let mut expected = details.clone();
        expected[6].account_name = Some("欧阳".repeat(70));
        for (e, r) in expected.iter_mut().zip(&read) {
            e.line_no = r.line_no;
        }
        assert_eq!(read, expected, "{version:?}");
        let want = ReturnHeader {
            batch_no: "B20240500001".into(),
            total_count: 7,
            total_amount: Money::from_fen(78000 + 3 * 120050 + 1 + 5).expect("sum"),
            ok_count: 2,
            ok_amount: Money::from_fen(78005).expect("sum"),
            fail_count: 3,
            fail_amount: Money::from_fen(3 * 120050).expect("sum"),
            ..ReturnHeader::default()
        };
        assert_eq!(header, want, "{version:?}");
        let text = String::from_utf8(xml).expect("UTF-8");
        let first_entry = text.lines().position(|l| l.contains("<TxInfAndSts>")).expect("entry") as u64 + 1;
        assert_eq!(read[0].line_no, first_entry);
    }
}

#[test]
fn pain002_group_rejection_round_trips_without_transactions() {
    let reason = ReasonCode { code: "AM04".into(), text: "付款账户余额不足".into() };
    for version in [Pain002Version::V03, Pain002Version::V12] {
        let header = ReturnHeader { group_rejected: Some(reason.clone()), ..header_for(&[]) };
        let xml = write_pain002(version, &header, &[]).expect("write");
        let (got, details) = read_return_all(&xml).expect("read");
        assert!(details.is_empty());
        assert_eq!(got.group_rejected, Some(reason.clone()));
        assert_eq!(got.batch_no, "B20240500001");

        let err = write_pain002(version, &header, &[ret("S1", Outcome::Paid, None)]).expect_err("entries");
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    }
}

#[test]
fn pain002_writer_refuses_statuses_its_version_cannot_carry() {
    let cases = [
        (Pain002Version::V03, "RCVD"),
        (Pain002Version::V03, "XXXX"),
        (Pain002Version::V12, "ACCC"),
        (Pain002Version::V12, "ACSCX"),
    ];
    for (version, code) in cases {
        let details = [ret("S1", Outcome::InFlight(code.into()), None)];
        let err = write_pain002(version, &header_for(&details), &details).expect_err(code);
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{version:?} {code}");
    }
    let details = [ReturnDetail { bank_ref: "R".repeat(36), ..ret("S1", Outcome::Paid, None) }];
    assert!(write_pain002(Pain002Version::V12, &header_for(&details), &details).is_err(), "bank_ref over 35");
}

#[test]
fn line_numbers_do_not_depend_on_read_buffer_size() {
    let details = sample_returns(Pain002Version::V12);
    let xml = write_pain002(Pain002Version::V12, &header_for(&details), &details).expect("write");
    let (_, big) = read_return_all(&xml).expect("read");
    for capacity in [1, 7, 64] {
        let mut small = Vec::new();
        let mut input = std::io::BufReader::with_capacity(capacity, &xml[..]);
        iso20022::read_return(&mut input, &mut |d| {
            small.push(d);
            Ok(())
        })
        .expect("read with a small buffer");
        assert_eq!(small, big, "buffer of {capacity} bytes");
    }
}

fn text_strategy() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 张王李赵欧阳娜婷·&<>\"'\t\n😀]{0,200}"
}

fn payment_strategy() -> impl Strategy<Value = PaymentDetail> {
    ("[0-9A-Z]{1,24}", "[0-9]{6,32}", text_strategy(), 1i64..=10_000_000, "([0-9]{17}[0-9X])?", text_strategy())
        .prop_map(|(serial_no, account_no, account_name, fen, person_id, remark)| PaymentDetail {
            seq: 0,
            serial_no,
            account_no,
            account_name,
            amount: Money::from_fen(fen).unwrap_or(Money::ZERO),
            person_id,
            remark,
            bank_code: "102100099996".into(),
        })
}

fn outcome_strategy(version: Pain002Version) -> impl Strategy<Value = Outcome> {
    let mut in_flight = vec!["ACTC", "ACCP", "ACSP", "ACWC", "PDNG"];
    if version == Pain002Version::V12 {
        in_flight.push("RCVD");
    }
    prop_oneof![
        Just(Outcome::Paid),
        Just(Outcome::Failed),
        proptest::sample::select(in_flight).prop_map(|c| Outcome::InFlight(c.to_string())),
    ]
}

fn return_strategy(version: Pain002Version) -> impl Strategy<Value = ReturnDetail> {
    let optional_fen = proptest::option::of(1i64..=10_000_000);
    let reason = ("([A-Z0-9]{1,12})?", text_strategy()).prop_map(|(code, text)| ReasonCode { code, text });
    (
        "[0-9A-Z]{1,24}",
        outcome_strategy(version),
        optional_fen,
        proptest::option::of("[0-9]{6,32}"),
        proptest::option::of(text_strategy()),
        reason,
        "([0-9A-Z]{1,35})?",
    )
        .prop_map(|(serial_no, outcome, fen, account_no, account_name, reason, bank_ref)| ReturnDetail {
            line_no: 0,
            seq: None,
            serial_no,
            account_no,
            account_name,
            amount: fen.and_then(Money::from_fen),
            outcome,
            reason,
            bank_ref,
        })
}

fn version_and_returns() -> impl Strategy<Value = (Pain002Version, Vec<ReturnDetail>)> {
    prop_oneof![Just(Pain002Version::V03), Just(Pain002Version::V12)]
        .prop_flat_map(|v| (Just(v), proptest::collection::vec(return_strategy(v), 0..25)))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn pain001_write_then_read_is_identity(mut details in proptest::collection::vec(payment_strategy(), 1..25)) {
        for (i, d) in details.iter_mut().enumerate() {
            d.seq = i as u64 + 1;
        }
        let sent = batch(&details);
        let xml = write_pain001(&sent, &details).expect("write");
        let (got, read) = read_request_all(&xml).expect("read back");
        prop_assert_eq!(got, sent);
        let expected: Vec<PaymentDetail> = details
            .into_iter()
            .map(|d| PaymentDetail {
                account_name: fit_text(&d.account_name, 140).unwrap_or_default(),
                remark: fit_text(&d.remark, 140).unwrap_or_default(),
                ..d
            })
            .collect();
        prop_assert_eq!(read, expected);
    }

    #[test]
    fn pain002_write_then_read_is_identity((version, details) in version_and_returns()) {
        let xml = write_pain002(version, &header_for(&details), &details).expect("write");
        let (header, read) = read_return_all(&xml).expect("read back");
        prop_assert_eq!(header.total_count, details.len() as u64);
        let paid: Money = details.iter().filter(|d| d.outcome == Outcome::Paid).filter_map(|d| d.amount).sum();
        prop_assert_eq!(header.ok_amount, paid);
        prop_assert_eq!(read.len(), details.len());
        for (sent, got) in details.into_iter().zip(read) {
            let expected = ReturnDetail {
                line_no: got.line_no,
                account_name: sent.account_name.as_deref().and_then(|n| fit_text(n, 140)),
                reason: ReasonCode { text: fit_text(&sent.reason.text, 105).unwrap_or_default(), ..sent.reason.clone() },
                ..sent
            };
            prop_assert_eq!(got, expected);
        }
    }
}
