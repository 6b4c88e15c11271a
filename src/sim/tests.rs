use std::collections::{BTreeMap, BTreeSet};
use std::io::BufReader;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use super::*;
use crate::formats::bank::{self, BatchInfo, Outcome, PaymentDetail, ReturnDetail, ReturnHeader};

const LAYOUTS: [Layout; 3] = [Layout::TxtA, Layout::FixB, Layout::Iso20022];

fn payment(seq: u64, batch_no: &str) -> PaymentDetail {
    PaymentDetail {
        seq,
        serial_no: format!("{batch_no}S{seq:08}"),
        account_no: format!("62170000{seq:011}"),
        account_name: format!("张秀英{}", seq % 10),
        amount: Money::from_fen(50_000 + (seq as i64 * 37) % 100_000).unwrap(),
        person_id: "11010119500101001X".into(),
        remark: "低保 2024-05".into(),
        bank_code: "105".into(),
    }
}

/// Writes a request of `n` lines with the crate's own writer; returns its path.
fn write_request(dir: &Path, layout: Layout, batch_no: &str, n: u64) -> PathBuf {
    let date = NaiveDate::from_ymd_opt(2024, 5, 10).unwrap();
    let details: Vec<_> = (1..=n).map(|seq| payment(seq, batch_no)).collect();
    let batch = BatchInfo {
        batch_no: batch_no.into(),
        bank_code: "105".into(),
        payer_account: "6222000011112222".into(),
        payer_name: "某市社会保险基金".into(),
        agency_code: "SIB01".into(),
        value_date: date,
        created_at: date.and_hms_opt(9, 0, 0).unwrap(),
        count: n,
        total: details.iter().map(|d| d.amount).sum(),
    };
    let path = dir.join(bank::request_file_name(layout, "105", batch_no));
    let mut out = Vec::new();
    let mut w = bank::request_writer(layout);
    w.header(&mut out, &batch).unwrap();
    for d in &details {
        w.detail(&mut out, d).unwrap();
    }
    w.finish(&mut out, &batch).unwrap();
    std::fs::write(&path, out).unwrap();
    path
}

/// Reads a return back (which checks its header totals).
fn read_back(layout: Layout, path: &str) -> (ReturnHeader, Vec<ReturnDetail>) {
    let mut input = BufReader::new(std::fs::File::open(path).unwrap());
    let mut details = Vec::new();
    let header = bank::read_return(layout, &mut input, &mut |d| {
        details.push(d);
        Ok(())
    })
    .unwrap_or_else(|e| panic!("{path}: {e}"));
    (header, details)
}

fn count(details: &[ReturnDetail], want: fn(&Outcome) -> bool) -> u64 {
    details.iter().filter(|d| want(&d.outcome)).count() as u64
}

/// Checks each summary against its file read back; returns every detail of every file.
fn check_files(summaries: &[SimFileSummary]) -> Vec<ReturnDetail> {
    let mut all = Vec::new();
    for s in summaries {
        let (header, details) = read_back(s.layout, &s.file);
        assert_eq!(header.batch_no, s.batch_no);
        assert_eq!(details.len() as u64, s.lines, "{s:?}");
        assert_eq!(count(&details, |o| *o == Outcome::Paid), s.paid.count, "{s:?}");
        assert_eq!(count(&details, |o| *o == Outcome::Failed), s.failed.count, "{s:?}");
        assert_eq!(count(&details, |o| matches!(o, Outcome::InFlight(_))), s.in_flight.count, "{s:?}");
        let amount: Money = details.iter().map(|d| d.amount.unwrap()).sum();
        assert_eq!(amount, s.paid.amount + s.failed.amount + s.in_flight.amount, "{s:?}");
        all.extend(details);
    }
    all
}

fn opts(seed: u64) -> SimOptions {
    SimOptions { seed, ..SimOptions::default() }
}

#[test]
fn same_request_and_options_give_byte_identical_returns() {
    for layout in LAYOUTS {
        let dir = tempfile::tempdir().unwrap();
        let request = write_request(dir.path(), layout, "B202405001", 300);
        let o = SimOptions { fail_rate: 0.2, omit_rate: 0.05, duplicate_rate: 0.05, split: 3, ..opts(7) };
        let first = simulate(&request, &o, &dir.path().join("a")).unwrap();
        let second = simulate(&request, &o, &dir.path().join("b")).unwrap();
        let other_seed = simulate(&request, &SimOptions { seed: 8, ..o.clone() }, &dir.path().join("c")).unwrap();
        for ((a, b), c) in first.iter().zip(&second).zip(&other_seed) {
            let (a, b, c) = (std::fs::read(&a.file).unwrap(), std::fs::read(&b.file).unwrap(), std::fs::read(&c.file));
            assert_eq!(a, b, "{layout:?}");
            assert_ne!(a, c.unwrap(), "{layout:?}: another seed, other decisions");
        }
    }
}

#[test]
fn every_reason_code_appears_once_there_are_enough_failures() {
    let text = ["1001", "1002", "1003", "1004", "1005", "1006", "9999"];
    let iso = ["AC01", "AC04", "AC06", "BE01", "RR01", "RR02", "MS03"];
    for layout in LAYOUTS {
        let want: BTreeSet<&str> = if layout == Layout::Iso20022 { iso.into() } else { text.into() };
        let dir = tempfile::tempdir().unwrap();
        // Exactly as many failures as codes: each code once.
        let request = write_request(dir.path(), layout, "B7", 7);
        let all_fail = simulate(&request, &SimOptions { fail_rate: 1.0, ..opts(1) }, &dir.path().join("a")).unwrap();
        let codes: Vec<String> = check_files(&all_fail).into_iter().map(|d| d.reason.code).collect();
        assert_eq!(codes.iter().map(String::as_str).collect::<BTreeSet<_>>(), want, "{layout:?}");
        assert_eq!(codes.len(), 7);
        // Some failures among many lines, split: still every code.
        let request = write_request(dir.path(), layout, "B500", 500);
        let some = SimOptions { fail_rate: 0.1, split: 2, ..opts(3) };
        let details = check_files(&simulate(&request, &some, &dir.path().join("b")).unwrap());
        let failed: BTreeSet<&str> =
            details.iter().filter(|d| d.outcome == Outcome::Failed).map(|d| d.reason.code.as_str()).collect();
        assert_eq!(failed, want, "{layout:?}");
        for d in details.iter().filter(|d| d.outcome == Outcome::Paid && layout != Layout::Iso20022) {
            assert_eq!((d.reason.code.as_str(), d.reason.text.as_str()), ("0000", "成功"));
        }
    }
}

#[test]
fn rates_are_roughly_respected() {
    let dir = tempfile::tempdir().unwrap();
    let n = 20_000;
    let request = write_request(dir.path(), Layout::Iso20022, "BRATES", n);
    let o = SimOptions {
        fail_rate: 0.1,
        in_flight_rate: 0.2,
        omit_rate: 0.05,
        duplicate_rate: 0.03,
        pain002: Some(Pain002Version::V12),
        ..opts(11)
    };
    let s = &simulate(&request, &o, dir.path()).unwrap()[0];
    check_files(std::slice::from_ref(s));
    let returned = (n - s.omitted) as f64;
    let near = |got: u64, rate: f64, of: f64| (got as f64 - rate * of).abs() < 0.15 * rate * of + 10.0;
    assert!(near(s.omitted, 0.05, n as f64), "{s:?}");
    assert!(near(s.duplicated, 0.03, returned), "{s:?}");
    let answered = s.lines - s.duplicated;
    assert_eq!(answered + s.omitted, n);
    assert!(near(s.failed.count, 0.1, s.lines as f64), "{s:?}");
    assert!(near(s.in_flight.count, 0.2, s.lines as f64), "{s:?}");
}

#[test]
fn split_files_each_add_up_and_together_answer_every_line_not_omitted() {
    for layout in LAYOUTS {
        let dir = tempfile::tempdir().unwrap();
        let n = 1000;
        let request = write_request(dir.path(), layout, "BSPLIT", n);
        let o = SimOptions { fail_rate: 0.1, omit_rate: 0.05, duplicate_rate: 0.1, split: 4, ..opts(5) };
        let summaries = simulate(&request, &o, &dir.path().join("out")).unwrap();
        let names: Vec<_> = summaries.iter().map(|s| Path::new(&s.file).file_name().unwrap().to_owned()).collect();
        let suffix = if layout == Layout::Iso20022 { "pain002.xml" } else { "ret" };
        let stem = request.file_stem().unwrap().to_string_lossy();
        for (k, name) in names.iter().enumerate() {
            assert_eq!(name.to_string_lossy(), format!("{stem}.part{}.{suffix}", k + 1));
        }
        let details = check_files(&summaries);
        let mut copies: BTreeMap<&str, Vec<&ReturnDetail>> = BTreeMap::new();
        for d in &details {
            copies.entry(&d.serial_no).or_default().push(d);
        }
        let omitted: u64 = summaries.iter().map(|s| s.omitted).sum();
        let duplicated: u64 = summaries.iter().map(|s| s.duplicated).sum();
        assert!(omitted > 0 && duplicated > 0, "{summaries:?}");
        assert_eq!(copies.len() as u64, n - omitted, "{layout:?}");
        assert_eq!(copies.values().filter(|c| c.len() == 2).count() as u64, duplicated);
        for c in copies.values().filter(|c| c.len() == 2) {
            assert_eq!((&c[0].outcome, &c[0].bank_ref, c[0].amount), (&c[1].outcome, &c[1].bank_ref, c[1].amount));
        }
        // Each line echoes the request's seq (pain.002 has none), account, name and amount.
        for d in &details {
            let seq: u64 = d.serial_no["BSPLITS".len()..].parse().unwrap();
            assert_eq!(d.seq, (layout != Layout::Iso20022).then_some(seq));
            let sent = payment(seq, "BSPLIT");
            assert_eq!(d.serial_no, sent.serial_no);
            assert_eq!(d.account_no.as_deref(), Some(sent.account_no.as_str()));
            assert_eq!(d.account_name.as_deref(), Some(sent.account_name.as_str()));
            assert_eq!(d.amount, Some(sent.amount));
            assert_eq!(d.bank_ref.len(), 15);
        }
    }
}

#[test]
fn reject_batch_writes_one_group_rjct_without_transactions() {
    for version in [Pain002Version::V03, Pain002Version::V12] {
        let dir = tempfile::tempdir().unwrap();
        let request = write_request(dir.path(), Layout::Iso20022, "BREJ", 20);
        let o = SimOptions { reject_batch: true, pain002: Some(version), ..opts(1) };
        let summaries = simulate(&request, &o, dir.path()).unwrap();
        assert_eq!(summaries.len(), 1);
        let s = &summaries[0];
        assert!(s.group_rejected && s.lines == 0 && s.failed.count == 20, "{s:?}");
        assert!(s.file.ends_with("105_PAIN001_BREJ.pain002.xml"), "{}", s.file);
        let (header, details) = read_back(Layout::Iso20022, &s.file);
        assert!(details.is_empty());
        assert_eq!(header.group_rejected.map(|r| r.code), Some("AM04".to_string()));
    }
}

#[test]
fn a_request_whose_totals_do_not_add_up_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let request = write_request(dir.path(), Layout::TxtA, "BBAD", 5);
    let text = std::fs::read(&request).unwrap();
    let bad = String::from_utf8_lossy(&text).replacen("|5|", "|6|", 1);
    std::fs::write(&request, bad.as_bytes()).unwrap();
    let out = dir.path().join("out");
    let err = simulate(&request, &opts(1), &out).unwrap_err();
    let SimError::Request { source, .. } = &err else { panic!("{err}") };
    assert!(source.to_string().starts_with("line 1: "), "{source}");
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none());
}

#[test]
fn an_existing_return_file_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let request = write_request(dir.path(), Layout::FixB, "BEXIST", 5);
    let existing = dir.path().join("105_FIXB_BEXIST.ret");
    std::fs::write(&existing, b"the bank's real answer").unwrap();
    let err = simulate(&request, &opts(1), dir.path()).unwrap_err();
    assert!(matches!(err, SimError::Exists { .. }), "{err}");
    assert_eq!(std::fs::read(&existing).unwrap(), b"the bank's real answer");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left.len(), 2, "no temporary files left: {left:?}");
}

#[test]
fn options_that_do_not_fit_the_layout_or_batch_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let txt = write_request(dir.path(), Layout::TxtA, "BOPT", 3);
    let iso = write_request(dir.path(), Layout::Iso20022, "BOPT", 3);
    let refused = [
        (&txt, SimOptions { in_flight_rate: 0.1, ..opts(1) }),
        (&txt, SimOptions { reject_batch: true, ..opts(1) }),
        (&txt, SimOptions { pain002: Some(Pain002Version::V12), ..opts(1) }),
        (&iso, SimOptions { reject_batch: true, split: 2, ..opts(1) }),
        (&iso, SimOptions { reject_batch: true, fail_rate: 0.5, ..opts(1) }),
        (&iso, SimOptions { split: 4, ..opts(1) }),
        (&iso, SimOptions { split: 0, ..opts(1) }),
    ];
    for (request, o) in refused {
        let err = simulate(request, &o, &dir.path().join("out")).unwrap_err();
        assert!(matches!(err, SimError::Options(_)), "{o:?}: {err}");
    }
    assert!(!dir.path().join("out").exists());
}

#[test]
fn layout_comes_from_the_name_then_the_content() {
    assert_eq!(detect::by_name("105_TXTA_B202405001.txt"), Some(Layout::TxtA));
    assert_eq!(detect::by_name("102_FIXB_B1.dat"), Some(Layout::FixB));
    assert_eq!(detect::by_name("104_PAIN001_B1.xml"), Some(Layout::Iso20022));
    assert_eq!(detect::by_name("104_PAIN001_B1.txt"), None);
    assert_eq!(detect::by_name("request.txt"), None);
    assert_eq!(detect::by_content(b"\xEF\xBB\xBF <?xml version=\"1.0\"?>"), Some(Layout::Iso20022));
    assert_eq!(detect::by_content(b"H|B1|6222|20240510|1|1.00|CNY\r\n"), Some(Layout::TxtA));
    let mut fix = vec![b' '; 150];
    fix[0] = b'H';
    fix.extend_from_slice(b"\r\nD");
    assert_eq!(detect::by_content(&fix), Some(Layout::FixB));
    assert_eq!(detect::by_content(b"H 149 bytes\r\n"), None);

    // A request under another name is recognised by its content.
    for layout in LAYOUTS {
        let dir = tempfile::tempdir().unwrap();
        let request = write_request(dir.path(), layout, "BNAME", 3);
        let renamed = dir.path().join("request.bin");
        std::fs::rename(&request, &renamed).unwrap();
        let s = simulate(&renamed, &opts(1), dir.path()).unwrap();
        assert_eq!(s[0].layout, layout);
        let expected = if layout == Layout::Iso20022 { "request.pain002.xml" } else { "request.ret" };
        assert!(s[0].file.ends_with(expected), "{}", s[0].file);
        check_files(&s);
    }
}
