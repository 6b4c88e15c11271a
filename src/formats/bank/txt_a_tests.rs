use proptest::prelude::*;

use super::super::text_common::test_support::{self as support, line_error};
use super::*;
use crate::formats::gbk;

fn g(s: &str) -> Vec<u8> {
    gbk::encode(s).unwrap()
}

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 5, 10).unwrap()
}

fn batch() -> BatchInfo {
    BatchInfo {
        batch_no: "B20240501001".into(),
        bank_code: String::new(),
        payer_account: "6222000011112222".into(),
        payer_name: String::new(),
        agency_code: String::new(),
        value_date: date(),
        created_at: date().and_time(NaiveTime::MIN),
        count: 2,
        total: Money::from_fen(156_050).unwrap(),
    }
}

fn payment(seq: u64, serial: &str, name: &str, fen: i64, remark: &str) -> PaymentDetail {
    PaymentDetail {
        seq,
        serial_no: serial.into(),
        account_no: "6217000010000000001".into(),
        account_name: name.into(),
        amount: Money::from_fen(fen).unwrap(),
        person_id: "11010119500101001X".into(),
        remark: remark.into(),
        bank_code: String::new(),
    }
}

fn ret_header() -> ReturnHeader {
    ReturnHeader {
        batch_no: "B20240501001".into(),
        payer_account: "6222000011112222".into(),
        value_date: Some(date()),
        total_count: 2,
        total_amount: Money::from_fen(156_050).unwrap(),
        ok_count: 1,
        ok_amount: Money::from_fen(78_000).unwrap(),
        fail_count: 1,
        fail_amount: Money::from_fen(78_050).unwrap(),
        group_rejected: None,
    }
}

fn ret_detail(line_no: u64, serial: &str, fen: i64, outcome: Outcome, code: &str, text: &str) -> ReturnDetail {
    ReturnDetail {
        line_no,
        seq: Some(line_no - 1),
        serial_no: serial.into(),
        account_no: Some("6217000010000000001".into()),
        account_name: Some("陈秀英".into()),
        amount: Some(Money::from_fen(fen).unwrap()),
        outcome,
        reason: ReasonCode { code: code.into(), text: text.into() },
        bank_ref: "R0001".into(),
    }
}

fn write_request(batch: &BatchInfo, details: &[PaymentDetail]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = TxtAWriter;
    w.header(&mut out, batch)?;
    for d in details {
        w.detail(&mut out, d)?;
    }
    w.finish(&mut out, batch)?;
    Ok(out)
}

fn write_return(header: &ReturnHeader, details: &[ReturnDetail]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = TxtAReturnWriter;
    w.header(&mut out, header)?;
    for d in details {
        w.detail(&mut out, d)?;
    }
    w.finish(&mut out, header)?;
    Ok(out)
}

fn read_req(mut bytes: &[u8]) -> Result<(BatchInfo, Vec<PaymentDetail>), FormatError> {
    let mut details = Vec::new();
    let batch = read_request(&mut bytes, &mut |d| {
        details.push(d);
        Ok(())
    })?;
    Ok((batch, details))
}

fn read_ret(mut bytes: &[u8]) -> Result<(ReturnHeader, Vec<ReturnDetail>), FormatError> {
    let mut details = Vec::new();
    let header = read_return(&mut bytes, &mut |d| {
        details.push(d);
        Ok(())
    })?;
    Ok((header, details))
}

#[test]
fn request_header_and_detail_are_written_byte_exact() {
    let details = [payment(1, "S0001", "陈秀英", 78_000, "五月低保"), payment(2, "S0002", "王小明", 78_050, "")];
    let got = write_request(&batch(), &details).unwrap();
    let want = [
        &b"H|B20240501001|6222000011112222|20240510|2|1560.50|CNY\r\n"[..],
        b"D|1|S0001|6217000010000000001|",
        &[0xB3, 0xC2, 0xD0, 0xE3, 0xD3, 0xA2], // 陈秀英 in GBK
        b"|780.00|11010119500101001X|",
        &g("五月低保"),
        b"\r\nD|2|S0002|6217000010000000001|",
        &g("王小明"),
        b"|780.50|11010119500101001X|\r\n",
    ]
    .concat();
    assert_eq!(got, want);
    assert!(std::str::from_utf8(&got).is_err(), "the file must be GBK, not UTF-8");
}

#[test]
fn return_header_and_detail_are_written_byte_exact() {
    let details = [
        ret_detail(2, "S0001", 78_000, Outcome::Paid, "0000", "成功"),
        ReturnDetail {
            seq: None,
            account_no: None,
            account_name: None,
            amount: None,
            ..ret_detail(3, "S0002", 1, Outcome::Failed, "1001", "账号不存在")
        },
    ];
    let got = write_return(&ret_header(), &details).unwrap();
    let want = [
        &b"H|B20240501001|6222000011112222|20240510|2|1560.50|1|780.00|1|780.50\r\n"[..],
        b"D|1|S0001|6217000010000000001|",
        &g("陈秀英"),
        b"|780.00|S|0000|",
        &g("成功"),
        b"|R0001\r\nD||S0002|||0.00|F|1001|",
        &g("账号不存在"),
        b"|R0001\r\n",
    ]
    .concat();
    assert_eq!(got, want);
}

#[test]
fn every_record_ends_in_crlf_and_there_is_no_bom() {
    let details = [payment(1, "S1", "陈秀英", 100, "a"), payment(2, "S2", "李四", 100, "b")];
    let file = write_request(&batch(), &details).unwrap();
    assert!(file.ends_with(b"\r\n"));
    assert!(file.starts_with(b"H|"));
    assert_eq!(file.iter().filter(|&&b| b == b'\n').count(), 3);
    assert_eq!(file.windows(2).filter(|w| w == b"\r\n").count(), 3);
}

#[test]
fn pipe_cr_and_lf_in_text_fields_become_spaces() {
    let d = payment(1, "S1", "陈|秀英", 100, "五月|补发\r\n第二行");
    let file = write_request(&BatchInfo { count: 1, total: d.amount, ..batch() }, &[d]).unwrap();
    let (_, details) = read_req(&file).unwrap();
    assert_eq!(details[0].account_name, "陈 秀英");
    assert_eq!(details[0].remark, "五月 补发  第二行");

    let r = ReturnDetail {
        reason: ReasonCode { code: "9999".into(), text: "其他|原因".into() },
        ..ret_detail(2, "S1", 1, Outcome::Failed, "", "")
    };
    let mut out = Vec::new();
    TxtAReturnWriter.detail(&mut out, &r).unwrap();
    assert!(out.ends_with(&[&b"|9999|"[..], &g("其他 原因"), b"|R0001\r\n"].concat()));
}

#[test]
fn pipe_or_line_break_in_an_identifier_is_refused() {
    for d in [
        PaymentDetail { account_no: "6217|0001".into(), ..payment(1, "S1", "陈秀英", 100, "") },
        PaymentDetail { person_id: "110101\n".into(), ..payment(1, "S1", "陈秀英", 100, "") },
    ] {
        let err = TxtAWriter.detail(&mut Vec::new(), &d).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("serial S1"), "{err}");
    }
}

#[test]
fn a_name_gbk_cannot_encode_is_refused_naming_serial_and_character() {
    let mut out = Vec::new();
    let err = TxtAWriter.detail(&mut out, &payment(7, "S0007", "王𠮷", 100, "")).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    let msg = err.to_string();
    assert!(msg.contains("S0007") && msg.contains('𠮷') && msg.contains("account_name"), "{msg}");
    assert!(out.is_empty(), "nothing of the refused record is written");

    let r = ReturnDetail {
        account_name: Some("王𠮷".into()),
        ..ret_detail(2, "S0008", 1, Outcome::Paid, "0000", "成功")
    };
    let err = TxtAReturnWriter.detail(&mut Vec::new(), &r).unwrap_err();
    assert!(err.to_string().contains("S0008") && err.to_string().contains('𠮷'), "{err}");
}

#[test]
fn a_status_that_is_not_final_cannot_be_written() {
    let r = ReturnDetail { outcome: Outcome::InFlight("PDNG".into()), ..ret_detail(2, "S1", 1, Outcome::Paid, "", "") };
    let err = TxtAReturnWriter.detail(&mut Vec::new(), &r).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn a_gbk_trail_byte_equal_to_pipe_does_not_split_a_field() {
    // 亅 is 0x81 0x7C in GBK: its second byte is `|`.
    assert_eq!(g("亅"), [0x81, 0x7C]);
    let d = payment(1, "S1", "亅亅", 100, "亅");
    let file = write_request(&BatchInfo { count: 1, total: d.amount, ..batch() }, std::slice::from_ref(&d)).unwrap();
    assert_eq!(read_req(&file).unwrap().1, vec![d]);
}

#[test]
fn return_file_is_read_with_outcomes_reasons_and_line_numbers() {
    let mut file = b"H|B1|6222|20240510|2|1560.50|1|780.00|1|780.50\r\n".to_vec();
    file.extend([&b"D|1|S0001|6217|"[..], &g("陈秀英"), b"|780.00|S|0000|", &g("成功"), b"| R01 \r\n"].concat());
    file.extend([&b"D|5|S0002||"[..], b"|780.5|F|1005|", &g("卡已挂失"), b"|\n"].concat());
    let (header, details) = read_ret(&file).unwrap();
    assert_eq!((header.batch_no.as_str(), header.value_date), ("B1", Some(date())));
    assert_eq!(details[0].outcome, Outcome::Paid);
    assert_eq!((details[0].line_no, details[0].seq, details[0].bank_ref.as_str()), (2, Some(1), "R01"));
    assert_eq!(details[0].account_name.as_deref(), Some("陈秀英"));
    assert_eq!(details[1].outcome, Outcome::Failed);
    assert_eq!(details[1].reason, ReasonCode { code: "1005".into(), text: "卡已挂失".into() });
    assert_eq!((details[1].line_no, details[1].seq, details[1].account_no.clone()), (3, Some(5), None));
    assert_eq!(details[1].amount, Money::from_fen(78_050));
}

#[test]
fn return_file_rejections_name_the_offending_line() {
    let h = "H|B1|6222|20240510|2|30.00|1|10.00|1|20.00\r\n";
    let d1 = "D|1|S1|6217|AB|10.00|S|0000|OK|R1\r\n";
    let d2 = "D|2|S2|6217|CD|20.00|F|1001|NO|R2\r\n";
    let ok = format!("{h}{d1}{d2}");
    assert!(read_ret(ok.as_bytes()).is_ok());
    let cases: Vec<(&str, Vec<u8>, u64, &str)> = vec![
        ("empty file", vec![], 1, "empty"),
        (
            "count off",
            format!("H|B1|6222|20240510|3|30.00|1|10.00|1|20.00\r\n{d1}{d2}").into(),
            1,
            "total_count is 3 but the details give 2",
        ),
        (
            "amount off",
            format!("H|B1|6222|20240510|2|31.00|1|10.00|1|20.00\r\n{d1}{d2}").into(),
            1,
            "total_amount is 31.00 but the details give 30.00",
        ),
        (
            "ok/fail split off",
            format!("H|B1|6222|20240510|2|30.00|2|30.00|0|0.00\r\n{d1}{d2}").into(),
            1,
            "ok_count is 2 but the details give 1",
        ),
        ("truncated", ok.as_bytes()[..ok.len() - 5].to_vec(), 3, "truncated"),
        ("cut after a field", ok.as_bytes()[..ok.len() - 2].to_vec(), 3, "truncated"),
        (
            "corrupt GBK",
            [h.as_bytes(), b"D|1|S1|6217|A\xFF|10.00|S|0000|OK|R1\r\n", d2.as_bytes()].concat(),
            2,
            "not valid GBK",
        ),
        ("bad status", format!("{h}{}{d2}", d1.replace("|S|", "|X|")).into(), 2, "status 'X'"),
        ("too few fields", format!("{h}{d1}D|2|S2|6217|CD|20.00|F|1001|NO\r\n").into(), 3, "9 fields, expected 10"),
        ("unknown record", format!("{h}{d1}T|2\r\n").into(), 3, "unknown record type 'T'"),
        ("second header", format!("{h}{d1}{h}{d2}").into(), 3, "second header"),
        ("detail first", format!("{d1}{h}{d2}").into(), 1, "before the header"),
        ("bad amount", format!("{h}{d1}{}", d2.replace("20.00", "20.001")).into(), 3, "more than two decimals"),
        ("amount not a number", format!("{h}{d1}{}", d2.replace("20.00", "二十")).into(), 3, "amount"),
        ("bad date", format!("{}{d1}{d2}", h.replace("20240510", "20240230")).into(), 1, "value_date '20240230'"),
        ("empty line", format!("{h}\r\n{d1}{d2}").into(), 2, "empty line"),
        ("seq zero", format!("{h}{}{d2}", d1.replace("D|1|", "D|0|")).into(), 2, "seq is 0"),
        ("blank serial", format!("{h}{}{d2}", d1.replace("|S1|", "||")).into(), 2, "serial_no is empty"),
        ("request header", format!("H|B1|6222|20240510|2|30.00|CNY\r\n{d1}{d2}").into(), 1, "7 fields, expected 10"),
        ("stray CR", format!("{h}{}{d2}", d1.replace("AB", "A\rB")).into(), 2, "carriage return"),
    ];
    for (name, file, line, fragment) in cases {
        let (got_line, message) = line_error(read_ret(&file).expect_err(name));
        assert_eq!(got_line, line, "{name}: {message}");
        assert!(message.contains(fragment), "{name}: {message}");
    }
}

#[test]
fn request_file_rejections_name_the_offending_line() {
    let h = "H|B1|6222|20240510|2|30.00|CNY\r\n";
    let d1 = "D|1|S1|6217|AB|10.00|110101|r\r\n";
    let d2 = "D|2|S2|6217|CD|20.00|110102|\r\n";
    let (batch, details) = read_req(format!("{h}{d1}{d2}").as_bytes()).unwrap();
    assert_eq!((batch.count, batch.total, details.len()), (2, Money::from_fen(3000).unwrap(), 2));
    assert_eq!(batch.created_at, date().and_time(NaiveTime::MIN));
    let cases: Vec<(&str, String, u64, &str)> = vec![
        (
            "count off",
            format!("H|B1|6222|20240510|3|30.00|CNY\r\n{d1}{d2}"),
            1,
            "total_count is 3 but the details give 2",
        ),
        (
            "total off",
            format!("H|B1|6222|20240510|2|29.99|CNY\r\n{d1}{d2}"),
            1,
            "total_amount is 29.99 but the details give 30.00",
        ),
        ("currency", format!("H|B1|6222|20240510|2|30.00|USD\r\n{d1}{d2}"), 1, "not CNY"),
        ("truncated", format!("{h}{d1}D|2|S2|6217"), 3, "truncated"),
        ("return detail", format!("{h}{d1}D|2|S2|6217|CD|20.00|F|1001|NO|R2\r\n"), 3, "10 fields, expected 8"),
        ("bad count", format!("H|B1|6222|20240510|two|30.00|CNY\r\n{d1}{d2}"), 1, "total_count 'two'"),
    ];
    for (name, file, line, fragment) in cases {
        let (got_line, message) = line_error(read_req(file.as_bytes()).expect_err(name));
        assert_eq!(got_line, line, "{name}: {message}");
        assert!(message.contains(fragment), "{name}: {message}");
    }
}

#[test]
fn a_visitor_error_stops_the_read() {
    let file = "H|B1|6222|20240510|1|10.00|CNY\r\nD|1|S1|6217|AB|10.00|110101|r\r\n";
    let err = read_request(&mut file.as_bytes(), &mut |_| Err(FormatError::line(2, "stop"))).unwrap_err();
    assert_eq!(line_error(err), (2, "stop".to_string()));
}

proptest! {
    #[test]
    fn request_round_trips_through_writer_and_reader(mut details in prop::collection::vec(support::payment(), 0..20)) {
        let mut batch = batch();
        support::number_request(&mut batch, &mut details);
        let file = write_request(&batch, &details).unwrap();
        let (read_batch, read_details) = read_req(&file).unwrap();
        prop_assert_eq!(read_batch, batch);
        prop_assert_eq!(read_details, details);
    }

    #[test]
    fn return_round_trips_through_writer_and_reader(mut details in prop::collection::vec(support::return_detail(), 0..20)) {
        let mut header = ret_header();
        support::number_return(&mut header, &mut details);
        let file = write_return(&header, &details).unwrap();
        let (read_header, read_details) = read_ret(&file).unwrap();
        prop_assert_eq!(read_header, header);
        prop_assert_eq!(read_details, details);
    }
}

#[test]
fn the_batch_is_announced_before_the_first_detail() {
    let details = [
        ret_detail(2, "S0001", 78_000, Outcome::Paid, "0000", "成功"),
        ret_detail(3, "S0002", 78_050, Outcome::Failed, "1001", "账号不存在"),
    ];
    let file = write_return(&ret_header(), &details).unwrap();
    let (seen, header) = support::announced(crate::config::Layout::TxtA, &file);
    assert_eq!(seen, ["batch B20240501001", "S0001", "S0002"]);
    assert_eq!(header.batch_no, "B20240501001");
}
