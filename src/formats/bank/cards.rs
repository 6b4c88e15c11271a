//! The card-making files of card-issuance.md, in the TXT-A conventions (GBK,
//! CRLF, `|`): the request the card centre sends to an issuing bank, and the
//! bank's return saying which cards it made and which it refused. Readers
//! check every line and the header counts, so a file is accepted whole or
//! refused at its first bad line.

use std::io::{self, BufRead, Write};

use chrono::NaiveDate;

use super::text_common::{self as common, Ctx};
use super::txt_a::{read_records, Fields, Record};
use super::FormatError;
use crate::domain::{AccountNo, CardNo, PersonId};

/// `<bank>_CARDREQ_<batch>.txt`.
pub fn request_file_name(bank_code: &str, batch_no: &str) -> String {
    format!("{bank_code}_CARDREQ_{batch_no}.txt")
}

/// Whether a file name is a card-making request's (`<bank>_CARDREQ_<batch>.txt`).
pub fn is_request_name(name: &str) -> bool {
    let mut parts = name.strip_suffix(".txt").unwrap_or("").split('_');
    matches!((parts.next(), parts.next(), parts.next(), parts.next()), (Some(b), Some("CARDREQ"), Some(n), None)
        if !b.is_empty() && valid_code(n, 20))
}

/// `H|<batch_no>|<count>|<date>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHeader {
    pub batch_no: String,
    pub count: u64,
    pub date: NaiveDate,
}

/// One application in a request: `D|seq|application_id|person_id|name|gender|birth_date|region_code|phone|bank_code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    pub seq: u64,
    pub application_id: String,
    pub person_id: String,
    pub name: String,
    /// `1` male, `2` female.
    pub gender: u8,
    pub birth_date: NaiveDate,
    pub region_code: String,
    /// 11 digits, or empty.
    pub phone: String,
    pub bank_code: String,
}

/// `H|<batch_no>|<count>|<ok_count>|<fail_count>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnHeader {
    pub batch_no: String,
    pub count: u64,
    pub ok_count: u64,
    pub fail_count: u64,
}

/// What the bank did with one application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Made {
    /// `S`: the card and the account behind it.
    Card { card_no: CardNo, account_no: AccountNo },
    /// `F`: refused; the reason is on the line.
    Refused,
}

/// One return line: `D|seq|application_id|person_id|status|card_no|account_no|reason_code|reason_text`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnLine {
    pub line_no: u64,
    pub seq: u64,
    pub application_id: String,
    pub person_id: String,
    pub made: Made,
    pub reason_code: String,
    pub reason_text: String,
}

/// `[0-9A-Z]{1,max}`: batch numbers and application ids.
pub fn valid_code(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
}

fn ctx_of<'a>(kind: &'static str, id: &'a str) -> Ctx<'a> {
    Ctx { kind, id }
}

pub fn write_request_header(out: &mut dyn Write, h: &RequestHeader) -> io::Result<()> {
    let ctx = ctx_of("batch", &h.batch_no);
    let date = ctx.ymd(h.date)?;
    let mut rec = Record::new("H", ctx);
    rec.id("batch_no", &h.batch_no)?;
    rec.plain(h.count);
    rec.plain(date);
    rec.end(out)
}

pub fn write_application(out: &mut dyn Write, a: &Application) -> io::Result<()> {
    let ctx = ctx_of("application", &a.application_id);
    let birth = ctx.ymd(a.birth_date)?;
    let mut rec = Record::new("D", ctx);
    rec.plain(a.seq);
    rec.id("application_id", &a.application_id)?;
    rec.id("person_id", &a.person_id)?;
    rec.text("name", &a.name)?;
    rec.plain(a.gender);
    rec.plain(birth);
    rec.id("region_code", &a.region_code)?;
    rec.id("phone", &a.phone)?;
    rec.id("bank_code", &a.bank_code)?;
    rec.end(out)
}

pub fn write_return_header(out: &mut dyn Write, h: &ReturnHeader) -> io::Result<()> {
    let mut rec = Record::new("H", ctx_of("batch", &h.batch_no));
    rec.id("batch_no", &h.batch_no)?;
    rec.plain(h.count);
    rec.plain(h.ok_count);
    rec.plain(h.fail_count);
    rec.end(out)
}

pub fn write_return_line(out: &mut dyn Write, l: &ReturnLine) -> io::Result<()> {
    let mut rec = Record::new("D", ctx_of("application", &l.application_id));
    rec.plain(l.seq);
    rec.id("application_id", &l.application_id)?;
    rec.id("person_id", &l.person_id)?;
    match &l.made {
        Made::Card { card_no, account_no } => {
            rec.plain("S");
            rec.plain(card_no.as_str());
            rec.plain(account_no.as_str());
        }
        Made::Refused => {
            rec.plain("F");
            rec.plain("");
            rec.plain("");
        }
    }
    rec.id("reason_code", &l.reason_code)?;
    rec.text("reason_text", &l.reason_text)?;
    rec.end(out)
}

/// Reads a request (the bank's side), streaming each application to `visit`;
/// the header count must equal the details and `seq` must count 1, 2, 3, ….
pub fn read_request(
    input: &mut dyn BufRead,
    visit: &mut dyn FnMut(Application) -> Result<(), FormatError>,
) -> Result<RequestHeader, FormatError> {
    let mut header: Option<RequestHeader> = None;
    let mut details = 0u64;
    read_records(input, |f, is_header| {
        if is_header {
            f.expect("card request header", 4)?;
            header = Some(RequestHeader {
                batch_no: code(f, 1, "batch_no", 20)?,
                count: f.number(2, "count")?,
                date: common::date(f.line_no, "date", f.get(3))?,
            });
            return Ok(());
        }
        f.expect("card request detail", 10)?;
        details += 1;
        let seq = f.seq(1)?;
        if seq != details {
            return Err(FormatError::line(f.line_no, format!("seq {seq} out of order; expected {details}")));
        }
        let person_id = person(f, 3)?;
        let gender = match f.get(5) {
            b"1" => 1,
            b"2" => 2,
            other => {
                let msg = format!("gender '{}' is neither 1 (male) nor 2 (female)", common::show(other));
                return Err(FormatError::line(f.line_no, msg));
            }
        };
        let phone = f.text(8, "phone")?;
        if !phone.is_empty() && (phone.len() != 11 || !phone.bytes().all(|b| b.is_ascii_digit())) {
            return Err(FormatError::line(f.line_no, format!("phone '{phone}' is neither 11 digits nor empty")));
        }
        let region_code = f.text(7, "region_code")?;
        if region_code.len() != 12 || !region_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FormatError::line(f.line_no, format!("region_code '{region_code}' is not 12 digits")));
        }
        let bank_code = f.text(9, "bank_code")?;
        if bank_code.len() != 3 || !bank_code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FormatError::line(f.line_no, format!("bank_code '{bank_code}' is not 3 digits")));
        }
        visit(Application {
            seq,
            application_id: code(f, 2, "application_id", 24)?,
            person_id,
            name: f.required_text(4, "name")?,
            gender,
            birth_date: common::date(f.line_no, "birth_date", f.get(6))?,
            region_code,
            phone,
            bank_code,
        })
    })?;
    let header = header.ok_or_else(|| FormatError::line(1, "the file is empty"))?;
    if header.count != details {
        return Err(FormatError::line(1, format!("header count {} but {details} detail lines", header.count)));
    }
    Ok(header)
}

/// Reads a return, streaming each line to `visit`. Every line is checked (an
/// `S` line carries a valid card and account number, an `F` line neither),
/// and the header's count, ok and fail counts must equal the details'.
pub fn read_return(
    input: &mut dyn BufRead,
    visit: &mut dyn FnMut(ReturnLine) -> Result<(), FormatError>,
) -> Result<ReturnHeader, FormatError> {
    let mut header: Option<ReturnHeader> = None;
    let (mut count, mut ok, mut failed) = (0u64, 0u64, 0u64);
    read_records(input, |f, is_header| {
        if is_header {
            f.expect("card return header", 5)?;
            header = Some(ReturnHeader {
                batch_no: code(f, 1, "batch_no", 20)?,
                count: f.number(2, "count")?,
                ok_count: f.number(3, "ok_count")?,
                fail_count: f.number(4, "fail_count")?,
            });
            return Ok(());
        }
        f.expect("card return detail", 9)?;
        count += 1;
        let line = f.line_no;
        let (card, account) = (f.text(5, "card_no")?, f.text(6, "account_no")?);
        let made = match f.get(4) {
            b"S" => {
                ok += 1;
                let card_no = CardNo::parse(&card).map_err(|e| FormatError::line(line, format!("card_no: {e}")))?;
                if card_no.as_str() != card {
                    return Err(FormatError::line(line, format!("card_no '{card}' is not upper-case")));
                }
                let account_no =
                    AccountNo::parse(&account).map_err(|e| FormatError::line(line, format!("account_no: {e}")))?;
                if account_no.as_str() != account {
                    return Err(FormatError::line(line, format!("account_no '{account}' contains spaces")));
                }
                Made::Card { card_no, account_no }
            }
            b"F" => {
                failed += 1;
                if !card.is_empty() || !account.is_empty() {
                    return Err(FormatError::line(line, "a refused (F) line carries a card or account number"));
                }
                Made::Refused
            }
            other => {
                let msg = format!("status '{}' is neither S (made) nor F (refused)", common::show(other));
                return Err(FormatError::line(line, msg));
            }
        };
        visit(ReturnLine {
            line_no: line,
            seq: f.seq(1)?,
            application_id: code(f, 2, "application_id", 24)?,
            person_id: person(f, 3)?,
            made,
            reason_code: f.text(7, "reason_code")?,
            reason_text: f.text(8, "reason_text")?,
        })
    })?;
    let h = header.ok_or_else(|| FormatError::line(1, "the file is empty"))?;
    if (h.count, h.ok_count, h.fail_count) != (count, ok, failed) {
        return Err(FormatError::line(
            1,
            format!(
                "header says {} lines ({} made, {} refused) but the file has {count} ({ok} made, {failed} refused)",
                h.count, h.ok_count, h.fail_count
            ),
        ));
    }
    Ok(h)
}

fn code(f: &Fields<'_>, i: usize, field: &str, max: usize) -> Result<String, FormatError> {
    let s = f.text(i, field)?;
    if !valid_code(&s, max) {
        return Err(FormatError::line(f.line_no, format!("{field} '{s}' is not 1 to {max} characters [0-9A-Z]")));
    }
    Ok(s)
}

/// A person id as written: valid and already normalised.
fn person(f: &Fields<'_>, i: usize) -> Result<String, FormatError> {
    let s = f.text(i, "person_id")?;
    match PersonId::parse(&s) {
        Ok(p) if p.as_str() == s => Ok(s),
        Ok(p) => Err(FormatError::line(f.line_no, format!("person_id '{s}' is not normalised (as {})", p.as_str()))),
        Err(e) => Err(FormatError::line(f.line_no, format!("person_id: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(seq: u64) -> Application {
        Application {
            seq,
            application_id: format!("A20261123{seq:010}"),
            person_id: "11010519491231002X".into(),
            name: "阿依古丽·买买提".into(),
            gender: 2,
            birth_date: NaiveDate::from_ymd_opt(1949, 12, 31).unwrap(),
            region_code: "440703001001".into(),
            phone: String::new(),
            bank_code: "102".into(),
        }
    }

    #[test]
    fn a_request_round_trips_in_gbk_with_crlf() {
        let mut out = Vec::new();
        let h = RequestHeader {
            batch_no: "ZK20261123102001".into(),
            count: 2,
            date: NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
        };
        write_request_header(&mut out, &h).unwrap();
        write_application(&mut out, &app(1)).unwrap();
        write_application(&mut out, &app(2)).unwrap();
        assert!(out.starts_with(b"H|ZK20261123102001|2|20261123\r\nD|1|A202611230000000001|11010519491231002X|"));
        assert!(out.ends_with(b"|2|19491231|440703001001||102\r\n"));
        assert!(std::str::from_utf8(&out).is_err(), "the name is GBK, not UTF-8");
        let mut read = Vec::new();
        let back = read_request(&mut out.as_slice(), &mut |a| {
            read.push(a);
            Ok(())
        })
        .unwrap();
        assert_eq!(back, h);
        assert_eq!(read, vec![app(1), app(2)]);
    }

    fn return_text(lines: &[&str]) -> Vec<u8> {
        lines.iter().flat_map(|l| crate::formats::gbk::encode(&format!("{l}\r\n")).unwrap()).collect()
    }

    fn read(bytes: &[u8]) -> Result<(ReturnHeader, Vec<ReturnLine>), FormatError> {
        let mut lines = Vec::new();
        let h = read_return(&mut &bytes[..], &mut |l| {
            lines.push(l);
            Ok(())
        })?;
        Ok((h, lines))
    }

    const MADE: &str = "D|1|A202611230000000001|11010519491231002X|S|M00000001|6222022012000000011|0000|成功";
    const REFUSED: &str = "D|2|A202611230000000002|11010519491231002X|F|||2002|照片不合格";

    #[test]
    fn a_return_is_read_with_its_counts_checked() {
        let bytes = return_text(&["H|ZK20261123102001|2|1|1", MADE, REFUSED]);
        let (h, lines) = read(&bytes).unwrap();
        assert_eq!((h.count, h.ok_count, h.fail_count), (2, 1, 1));
        assert!(matches!(&lines[0].made, Made::Card { card_no, .. } if card_no.as_str() == "M00000001"));
        assert_eq!(lines[1].made, Made::Refused);
        assert_eq!(lines[1].reason_code, "2002");
    }

    #[test]
    fn bad_returns_name_their_first_bad_line() {
        let cases: &[(&[&str], &str)] = &[
            (&["H|ZK1|2|2|0", MADE, REFUSED], "line 1: header says 2 lines (2 made, 0 refused)"),
            (&["H|ZK1|1|1|0", &MADE.replace("M00000001", "m00000001")], "not upper-case"),
            (&["H|ZK1|1|1|0", &MADE.replace("6222022012000000011", "6222022012000000012")], "line 2: account_no"),
            (&["H|ZK1|1|0|1", &REFUSED.replace("F||", "F|M00000002|")], "carries a card or account number"),
            (&["H|ZK1|1|1|0", &MADE.replace("|S|", "|X|")], "neither S (made) nor F"),
            (&["H|ZK1|1|1|0", &MADE.replace("002X", "0020")], "line 2: person_id"),
            (&["H|ZK1|1|1|0", &MADE.replace("|成功", "")], "has 8 fields, expected 9"),
        ];
        for (lines, want) in cases {
            let err = read(&return_text(lines)).unwrap_err().to_string();
            assert!(err.contains(want), "{err} should contain {want}");
        }
        let mut truncated = return_text(&["H|ZK1|1|1|0", MADE]);
        truncated.truncate(truncated.len() - 2);
        assert!(read(&truncated).unwrap_err().to_string().contains("truncated"));
    }

    #[test]
    fn request_names_are_recognised() {
        assert!(is_request_name(&request_file_name("102", "ZK20261123102001")));
        assert!(!is_request_name("102_TXTA_2026112310200.txt"));
        assert!(!is_request_name("102_CARDREQ_zk1.txt"));
    }
}
