use proptest::prelude::*;

use super::super::text_common::test_support::{self as support, line_error};
use super::*;
use crate::formats::gbk;

fn g(s: &str) -> Vec<u8> {
    gbk::encode(s).unwrap()
}

/// `text` left-aligned in `width` bytes of spaces.
fn pad(text: &[u8], width: usize) -> Vec<u8> {
    let mut v = text.to_vec();
    v.resize(width, b' ');
    v
}

fn money(fen: i64) -> Money {
    Money::from_fen(fen).unwrap()
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
        total: money(156_050),
    }
}

fn payment(seq: u64, serial: &str, name: &str, fen: i64, remark: &str) -> PaymentDetail {
    PaymentDetail {
        seq,
        serial_no: serial.into(),
        account_no: "6217000010000000001".into(),
        account_name: name.into(),
        amount: money(fen),
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
        total_amount: money(156_050),
        ok_count: 1,
        ok_amount: money(78_000),
        fail_count: 1,
        fail_amount: money(78_050),
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
        amount: Some(money(fen)),
        outcome,
        reason: ReasonCode { code: code.into(), text: text.into() },
        bank_ref: "R0001".into(),
    }
}

fn write_request(batch: &BatchInfo, details: &[PaymentDetail]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = FixBWriter;
    w.header(&mut out, batch)?;
    for d in details {
        w.detail(&mut out, d)?;
    }
    w.finish(&mut out, batch)?;
    Ok(out)
}

fn write_return(header: &ReturnHeader, details: &[ReturnDetail]) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut w = FixBReturnWriter;
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

/// The bytes at the spec's 1-based position `pos`, `len` long.
fn at(record: &[u8], pos: usize, len: usize) -> &[u8] {
    &record[pos - 1..pos - 1 + len]
}

/// Asserts each (1-based position, expected bytes) of a record.
fn assert_fields(record: &[u8], fields: &[(usize, &[u8])]) {
    for &(pos, want) in fields {
        assert_eq!(at(record, pos, want.len()), want, "field at byte {pos}");
    }
}

#[test]
fn request_header_and_detail_are_written_byte_exact() {
    let details = [payment(1, "S0001", "陈秀英", 78_000, "五月低保")];
    let file = write_request(&batch(), &details).unwrap();
    let header = [
        &b"H"[..],
        &pad(b"B20240501001", 20),
        &pad(b"6222000011112222", 32),
        b"20240510",
        b"0000000002",
        b"000000000156050",
        &[b' '; 64],
        b"\r\n",
    ]
    .concat();
    let detail = [
        &b"D"[..],
        b"00000001",
        &pad(b"S0001", 24),
        &pad(b"6217000010000000001", 32),
        &pad(&[0xB3, 0xC2, 0xD0, 0xE3, 0xD3, 0xA2], 40), // 陈秀英 in GBK
        b"000000000078000",
        b"11010119500101001X",
        &pad(&g("五月低保"), 62),
        b"\r\n",
    ]
    .concat();
    assert_eq!(file, [header.clone(), detail.clone()].concat());
    assert_eq!((header.len(), detail.len()), (152, 202));
    assert_fields(
        &header,
        &[(1, b"H"), (2, b"B20240501001 "), (22, b"6222000011112222 "), (54, b"20240510"), (62, b"0000000002")],
    );
    assert_fields(&header, &[(72, b"000000000156050"), (87, &[b' '; 64]), (151, b"\r\n")]);
    assert_fields(&detail, &[(1, b"D"), (2, b"00000001"), (10, b"S0001 "), (34, b"6217000010000000001 ")]);
    assert_fields(&detail, &[(66, &g("陈秀英")), (106, b"000000000078000"), (121, b"11010119500101001X")]);
    assert_fields(&detail, &[(139, &g("五月低保")), (201, b"\r\n")]);
}

#[test]
fn return_header_and_detail_are_written_byte_exact() {
    let details = [ret_detail(2, "S0002", 78_050, Outcome::Failed, "1001", "账号不存在")];
    let file = write_return(&ret_header(), &details).unwrap();
    let header = [
        &b"H"[..],
        &pad(b"B20240501001", 20),
        &pad(b"6222000011112222", 32),
        b"20240510",
        b"0000000002",
        b"000000000156050",
        b"0000000001",
        b"000000000078000",
        b"0000000001",
        b"000000000078050",
        &[b' '; 14],
        b"\r\n",
    ]
    .concat();
    let detail = [
        &b"D"[..],
        b"00000001",
        &pad(b"S0002", 24),
        &pad(b"6217000010000000001", 32),
        &pad(&g("陈秀英"), 40),
        b"000000000078050",
        &[b' '; 18],
        &[b' '; 62],
        b"1",
        b"1001",
        &pad(&g("账号不存在"), 40),
        &pad(b"R0001", 15),
        b"\r\n",
    ]
    .concat();
    assert_eq!(file, [header.clone(), detail.clone()].concat());
    assert_eq!((header.len(), detail.len()), (152, 262));
    assert_fields(&header, &[(87, b"0000000001"), (97, b"000000000078000"), (112, b"0000000001")]);
    assert_fields(&header, &[(122, b"000000000078050"), (137, &[b' '; 14]), (151, b"\r\n")]);
    assert_fields(&detail, &[(106, b"000000000078050"), (201, b"1"), (202, b"1001"), (206, &g("账号不存在"))]);
    assert_fields(&detail, &[(246, b"R0001          "), (261, b"\r\n")]);
}

#[test]
fn absent_return_fields_are_written_blank_or_zero() {
    let d = ReturnDetail {
        seq: None,
        account_no: None,
        account_name: None,
        amount: None,
        ..ret_detail(2, "S1", 1, Outcome::Paid, "0000", "成功")
    };
    let mut out = Vec::new();
    FixBReturnWriter.detail(&mut out, &d).unwrap();
    assert_fields(&out, &[(2, b"00000000"), (34, &[b' '; 72]), (106, b"000000000000000"), (201, b"0")]);
}

#[test]
fn long_names_and_remarks_are_cut_at_a_character_boundary() {
    // 1 + 40 bytes: the 20th ideograph would end at byte 41, so it is dropped and a space pads.
    let name = format!("A{}", "陈".repeat(20));
    let remark = format!("x{}", "补".repeat(40));
    let d = payment(1, "S1", &name, 100, &remark);
    let mut out = Vec::new();
    FixBWriter.detail(&mut out, &d).unwrap();
    assert_eq!(out.len(), 202);
    assert_eq!(at(&out, 66, 40), [&b"A"[..], &g(&"陈".repeat(19)), b" "].concat());
    assert_eq!(at(&out, 139, 62), [&b"x"[..], &g(&"补".repeat(30)), b" "].concat());
    assert_eq!(at(&out, 106, 15), b"000000000000100");

    let file = write_request(&BatchInfo { count: 1, total: money(100), ..batch() }, &[d]).unwrap();
    let (_, details) = read_req(&file).unwrap();
    assert_eq!(details[0].account_name, format!("A{}", "陈".repeat(19)));
    assert_eq!(details[0].remark, format!("x{}", "补".repeat(30)));
}

#[test]
fn a_name_gbk_cannot_encode_is_refused_naming_serial_and_character() {
    // Also when the character lies beyond the 40 bytes that would be kept.
    for name in [String::from("王𠮷"), format!("{}𠮷", "陈".repeat(25))] {
        let mut out = Vec::new();
        let err = FixBWriter.detail(&mut out, &payment(7, "S0007", &name, 100, "")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let msg = err.to_string();
        assert!(msg.contains("S0007") && msg.contains('𠮷') && msg.contains("account_name"), "{msg}");
        assert!(out.is_empty());
    }
    let r =
        ReturnDetail { account_name: Some("王𠮷".into()), ..ret_detail(2, "S0008", 1, Outcome::Paid, "0000", "") };
    let err = FixBReturnWriter.detail(&mut Vec::new(), &r).unwrap_err();
    assert!(err.to_string().contains("S0008") && err.to_string().contains('𠮷'), "{err}");
}

#[test]
fn identifiers_and_numbers_that_do_not_fit_are_refused() {
    let cases = [
        PaymentDetail { account_no: "1".repeat(33), ..payment(1, "S1", "陈", 100, "") },
        PaymentDetail { serial_no: "A".repeat(25), ..payment(1, "S1", "陈", 100, "") },
        PaymentDetail { person_id: "1".repeat(19), ..payment(1, "S1", "陈", 100, "") },
        PaymentDetail { account_no: "6217\r\n".into(), ..payment(1, "S1", "陈", 100, "") },
        payment(100_000_000, "S1", "陈", 100, ""),
    ];
    for d in cases {
        let err = FixBWriter.detail(&mut Vec::new(), &d).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    }
    let err = FixBReturnWriter.header(&mut Vec::new(), &ReturnHeader { value_date: None, ..ret_header() }).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
}

#[test]
fn a_status_that_is_not_final_cannot_be_written() {
    let r = ReturnDetail { outcome: Outcome::InFlight("ACSP".into()), ..ret_detail(2, "S1", 1, Outcome::Paid, "", "") };
    assert_eq!(FixBReturnWriter.detail(&mut Vec::new(), &r).unwrap_err().kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn return_file_is_read_with_padding_trimmed() {
    let details = [
        ret_detail(2, "S0001", 78_000, Outcome::Paid, "0000", "成功"),
        ReturnDetail {
            seq: None,
            account_no: None,
            bank_ref: String::new(),
            ..ret_detail(3, "S0002", 78_050, Outcome::Failed, "1005", "卡已挂失")
        },
    ];
    let file = write_return(&ret_header(), &details).unwrap();
    let (header, read) = read_ret(&file).unwrap();
    assert_eq!(header, ret_header());
    assert_eq!(read, details);
    assert!(std::str::from_utf8(&file).is_err(), "the file must be GBK, not UTF-8");
}

/// A sample return file: header (line 1, 152 bytes) and two details (lines 2 and 3, 262 bytes each).
fn sample_return() -> Vec<u8> {
    let details = [
        ret_detail(2, "S0001", 78_000, Outcome::Paid, "0000", "成功"),
        ret_detail(3, "S0002", 78_050, Outcome::Failed, "1001", "账号不存在"),
    ];
    write_return(&ret_header(), &details).unwrap()
}

/// `file` with `bytes` written over it at line `line`, 1-based byte `pos` of the record.
fn patch(file: &[u8], line: usize, pos: usize, bytes: &[u8]) -> Vec<u8> {
    let start = if line == 1 { 0 } else { 152 + (line - 2) * 262 } + pos - 1;
    let mut v = file.to_vec();
    v[start..start + bytes.len()].copy_from_slice(bytes);
    v
}

#[test]
fn return_file_rejections_name_the_offending_line() {
    let ok = sample_return();
    assert!(read_ret(&ok).is_ok());
    let (header, d1, d2) = (&ok[..152], &ok[152..414], &ok[414..]);
    let cases: Vec<(&str, Vec<u8>, u64, &str)> = vec![
        ("empty file", vec![], 1, "empty"),
        ("count off", patch(&ok, 1, 62, b"0000000003"), 1, "total_count is 3 but the details give 2"),
        (
            "amount off",
            patch(&ok, 1, 72, b"000000000156051"),
            1,
            "total_amount is 1560.51 but the details give 1560.50",
        ),
        ("split off", patch(&ok, 1, 112, b"0000000002"), 1, "fail_count is 2 but the details give 1"),
        ("truncated", ok[..ok.len() - 10].to_vec(), 3, "truncated"),
        ("no final CRLF", ok[..ok.len() - 2].to_vec(), 3, "truncated"),
        ("bare LF", [&ok[..ok.len() - 2], b"\n"].concat(), 3, "CRLF"),
        ("short record", [header, &d1[..100], &d1[101..], d2].concat(), 2, "detail record is 259 bytes, expected 260"),
        ("corrupt GBK", patch(&ok, 2, 66, b"\xFF"), 2, "account_name is not valid GBK"),
        ("character across a boundary", patch(&ok, 2, 65, b"\xB3\xC2"), 2, "cut by the field boundary at byte 66"),
        ("bad status", patch(&ok, 3, 201, b"2"), 3, "status '2'"),
        ("blank status", patch(&ok, 3, 201, b" "), 3, "status ' '"),
        ("amount with a space", patch(&ok, 2, 106, b" "), 2, "amount ' 00000000078000' is not a whole number"),
        ("amount too large", patch(&ok, 2, 106, b"999999999999999"), 2, "too large"),
        ("unknown record", patch(&ok, 3, 1, b"X"), 3, "unknown record type 'X'"),
        ("second header", [header, d1, header, d2].concat(), 3, "second header"),
        ("detail first", [d1, header, d2].concat(), 1, "before the header"),
        ("bad date", patch(&ok, 1, 54, b"20241301"), 1, "value_date '20241301'"),
        ("filler", patch(&ok, 1, 140, b"X"), 1, "bytes 137-150 must be spaces"),
        ("blank serial", patch(&ok, 2, 10, b"     "), 2, "serial_no is blank"),
        ("empty line", [header, b"\r\n", d1, d2].concat(), 2, "empty line"),
        (
            "request detail",
            [header, &write_request(&batch(), &[payment(1, "S1", "陈", 100, "")]).unwrap()[152..]].concat(),
            2,
            "200 bytes, expected 260",
        ),
        ("request header", write_request(&batch(), &[]).unwrap(), 1, "ok_count '          ' is not a whole number"),
    ];
    for (name, file, line, fragment) in cases {
        let (got_line, message) = line_error(read_ret(&file).expect_err(name));
        assert_eq!(got_line, line, "{name}: {message}");
        assert!(message.contains(fragment), "{name}: {message}");
    }
}

#[test]
fn request_file_rejections_name_the_offending_line() {
    let details = [payment(1, "S1", "陈秀英", 78_000, ""), payment(2, "S2", "李四", 78_050, "")];
    let ok = write_request(&batch(), &details).unwrap();
    assert_eq!(read_req(&ok).unwrap(), (batch(), details.to_vec()));
    let patch = |pos: usize, bytes: &[u8]| {
        let mut v = ok.clone();
        v[pos - 1..pos - 1 + bytes.len()].copy_from_slice(bytes);
        v
    };
    let cases: Vec<(&str, Vec<u8>, u64, &str)> = vec![
        ("count off", patch(62, b"0000000001"), 1, "total_count is 1 but the details give 2"),
        ("total off", patch(72, b"000000000000001"), 1, "total_amount is 0.01 but the details give 1560.50"),
        ("filler", patch(150, b"X"), 1, "bytes 87-150 must be spaces"),
        ("seq zero", patch(152 + 2, b"00000000"), 2, "seq is 0"),
        ("truncated", ok[..ok.len() - 50].to_vec(), 3, "truncated"),
    ];
    for (name, file, line, fragment) in cases {
        let (got_line, message) = line_error(read_req(&file).expect_err(name));
        assert_eq!(got_line, line, "{name}: {message}");
        assert!(message.contains(fragment), "{name}: {message}");
    }
}

proptest! {
    #[test]
    fn request_round_trips_through_writer_and_reader(mut details in prop::collection::vec(support::payment(), 0..20)) {
        let mut batch = batch();
        support::number_request(&mut batch, &mut details);
        let file = write_request(&batch, &details).unwrap();
        prop_assert_eq!(file.len(), 152 + 202 * details.len());
        let (read_batch, read_details) = read_req(&file).unwrap();
        prop_assert_eq!(read_batch, batch);
        prop_assert_eq!(read_details, details);
    }

    #[test]
    fn return_round_trips_through_writer_and_reader(mut details in prop::collection::vec(support::return_detail(), 0..20)) {
        let mut header = ret_header();
        support::number_return(&mut header, &mut details);
        let file = write_return(&header, &details).unwrap();
        prop_assert_eq!(file.len(), 152 + 262 * details.len());
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
    let (seen, header) = support::announced(crate::config::Layout::FixB, &file);
    assert_eq!(seen, [format!("batch {}", header.batch_no), "S0001".into(), "S0002".into()]);
}
