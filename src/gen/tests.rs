use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use rand::SeedableRng;

use super::oracle::{self, records};
use super::output::{roster_file_name, ROSTER_PROGRAMS};
use super::people::{CardRule, DeathRule, PersonFactory, BANKS};
use super::*;
use crate::domain::ids::{parse_date, parse_phone};
use crate::domain::{AccountNo, BankCode, CardNo, Gender, PersonId, PersonName, RegionCode};
use crate::formats::gbk;

fn period() -> Period {
    Period::parse("period", "2026-11").unwrap()
}

fn make(persons: u64, seed: u64) -> (tempfile::TempDir, GenSummary) {
    let dir = tempfile::tempdir().unwrap();
    let opts = GenOptions { persons, period: period(), seed };
    let summary = generate(&opts, dir.path(), &mut |_| {}).unwrap();
    (dir, summary)
}

fn roster_files() -> Vec<String> {
    ROSTER_PROGRAMS.iter().map(|p| roster_file_name(*p, period())).collect()
}

fn all_bytes(dir: &Path, summary: &GenSummary) -> Vec<(String, Vec<u8>)> {
    summary.files.iter().map(|f| (f.name.clone(), std::fs::read(dir.join(&f.name)).unwrap())).collect()
}

#[test]
fn same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let (a, sa) = make(3000, 7);
    let (b, sb) = make(3000, 7);
    let (c, sc) = make(3000, 8);
    assert_eq!(all_bytes(a.path(), &sa), all_bytes(b.path(), &sb));
    let first = |d: &Path| std::fs::read(d.join("cardholders.csv")).unwrap();
    assert_ne!(first(a.path()), first(c.path()));
    assert_eq!(sc.files.len(), 10);
}

#[test]
fn writes_every_file_with_its_encoding_and_header() {
    let (dir, summary) = make(2000, 1);
    let names: Vec<&str> = summary.files.iter().map(|f| f.name.as_str()).collect();
    assert!(names.contains(&"cardholders.csv") && names.contains(&"planted.csv"));
    assert!(names.contains(&"roster_disability_care_2026-11.csv") && !names.iter().any(|n| n.contains("elderly")));
    let registry = std::fs::read(dir.path().join("cardholders.csv")).unwrap();
    assert!(registry
        .starts_with("\u{FEFF}person_id,name,region_code,phone,death_date,card_no,bank_code,account_no\n".as_bytes()));
    let care = oracle::read_text(&dir.path().join("roster_disability_care_2026-11.csv"));
    assert!(care.starts_with("项目,发放年月,身份证号,姓名,金额,区划代码,所属年月,业务流水号\r\n"));
    let wubao = std::fs::read_to_string(dir.path().join("roster_wubao_2026-11.csv")).unwrap();
    assert!(wubao.starts_with("program,period,person_id,name,amount,region_code,for_period,source_ref\n"));
    assert_eq!(summary.files.iter().filter(|f| f.encoding == "gbk").count(), 2);
    assert_eq!(summary.files[0].rows, 2000);
}

#[test]
fn gbk_rosters_decode_as_gbk_and_are_not_utf8() {
    let (dir, summary) = make(5000, 3);
    for f in summary.files.iter().filter(|f| f.encoding == "gbk") {
        let bytes = std::fs::read(dir.path().join(&f.name)).unwrap();
        assert!(std::str::from_utf8(&bytes).is_err(), "{} is valid UTF-8", f.name);
        let text = gbk::decode(&bytes).unwrap();
        assert!(text.lines().count() as u64 > f.rows, "{}", f.name);
    }
}

#[test]
fn every_good_row_parses_with_the_domain_types() {
    let (dir, summary) = make(5000, 11);
    let today = period().last_day();
    for (_, r) in records(&dir.path().join("cardholders.csv")) {
        PersonId::parse_as_of(&r["person_id"], today).unwrap();
        PersonName::parse(&r["name"]).unwrap();
        RegionCode::parse(&r["region_code"]).unwrap();
        assert!(r["region_code"].starts_with("4407"));
        if !r["phone"].is_empty() {
            assert_eq!(parse_phone(&r["phone"]).unwrap(), r["phone"]);
        }
        if !r["death_date"].is_empty() {
            assert!(parse_date("death_date", &r["death_date"]).unwrap() <= today);
        }
        let card = [&r["card_no"], &r["bank_code"], &r["account_no"]];
        assert!(card.iter().all(|f| f.is_empty()) || card.iter().all(|f| !f.is_empty()));
        if !r["card_no"].is_empty() {
            CardNo::parse(&r["card_no"]).unwrap();
            BankCode::parse(&r["bank_code"]).unwrap();
            AccountNo::parse(&r["account_no"]).unwrap();
        }
    }
    // The oracle parses every roster row; the rows it cannot parse are exactly the planted rejects.
    let (_, rejected) = oracle::findings(dir.path(), period(), &roster_files());
    let planted: BTreeSet<(String, u64)> = records(&dir.path().join("planted.csv"))
        .into_iter()
        .filter(|(_, r)| r["code"] == "rejected_row")
        .map(|(_, r)| (r["file"].clone(), r["line"].parse().unwrap()))
        .collect();
    assert_eq!(rejected.into_iter().collect::<BTreeSet<_>>(), planted);
    assert_eq!(summary.planted["rejected_row"], planted.len() as u64);
}

#[test]
fn planted_csv_is_exactly_what_the_rules_find() {
    for (persons, seed) in [(5000, 1), (20_000, 2)] {
        let (dir, summary) = make(persons, seed);
        let (mut found, _) = oracle::findings(dir.path(), period(), &roster_files());
        found.sort();
        let mut planted: Vec<oracle::Finding> = records(&dir.path().join("planted.csv"))
            .into_iter()
            .filter(|(_, r)| r["code"] != "rejected_row")
            .map(|(_, r)| {
                let line = r["line"].parse().unwrap();
                (
                    r["code"].clone(),
                    r["person_id"].clone(),
                    r["program"].clone(),
                    r["benefit_month"].clone(),
                    r["file"].clone(),
                    line,
                )
            })
            .collect();
        planted.sort();
        assert_eq!(found, planted, "persons {persons} seed {seed}");
        for (code, count) in &summary.planted {
            assert!(*count >= 1, "no {code} planted among {persons} persons");
        }
        assert_eq!(summary.planted.len(), 9);
    }
}

#[test]
fn ids_cards_and_accounts_are_unique() {
    let (dir, _) = make(20_000, 5);
    let (mut ids, mut cards, mut accounts) = (HashSet::new(), HashSet::new(), HashSet::new());
    for (_, r) in records(&dir.path().join("cardholders.csv")) {
        assert!(ids.insert(r["person_id"].clone()));
        if !r["card_no"].is_empty() {
            assert!(cards.insert(r["card_no"][1..].to_string()));
            assert!(accounts.insert(r["account_no"].clone()));
            let bank = BANKS.iter().find(|(b, _)| b.code == r["bank_code"]).unwrap();
            assert!(r["account_no"].starts_with(bank.0.bin) && r["account_no"].len() == 19);
        }
    }
    let share = cards.len() as f64 / ids.len() as f64;
    assert!((0.94..0.985).contains(&share), "card share {share}");
}

#[test]
fn birth_dates_and_genders_agree_and_the_pyramid_is_plausible() {
    let mut factory = PersonFactory::new(period(), 9);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let last = period().last_day();
    let (mut old, mut children, mut centenarians, mut ages) = (0, 0, 0, Vec::new());
    for i in 0..200_000 {
        let p = factory.person(&mut rng, i, CardRule::Natural, DeathRule::Natural).unwrap();
        assert_eq!(p.id.gender() == Gender::Male, p.male);
        assert_eq!(p.id.birth_date(), p.birth);
        let age = p.id.age_on(last);
        assert!((0..=106).contains(&age), "age {age}");
        assert!(p.id.birth_date() < period().first_day());
        old += usize::from(age >= 80);
        children += usize::from(age < 15);
        centenarians += usize::from(age >= 100);
        ages.push(age);
    }
    ages.sort_unstable();
    let median = ages[ages.len() / 2];
    assert!((38..=48).contains(&median), "median age {median}");
    assert!((4_000..=9_000).contains(&old), "80+: {old}");
    assert!((18_000..=34_000).contains(&children), "children: {children}");
    assert!((1..=60).contains(&centenarians), "centenarians: {centenarians}");
}

#[test]
fn name_tables_fit_gbk_and_rare_characters_do_not() {
    for s in names::all_table_strings() {
        assert!(gbk::encode(s).is_ok(), "{s}");
        assert!(!s.is_empty() && PersonName::parse(s).is_ok(), "{s}");
    }
    for c in names::homophone_targets() {
        assert!(gbk::encode(&c.to_string()).is_ok(), "{c}");
    }
    for c in names::RARE_CHARS {
        assert!(gbk::first_unencodable(&c.to_string()).is_some(), "{c} is in GBK");
    }
    for dot in names::VARIANT_DOTS_UTF8.iter().chain(names::VARIANT_DOTS_GBK) {
        let name = format!("买买提{dot}吐尔逊");
        assert_eq!(PersonName::parse(&name).unwrap().as_str(), "买买提·吐尔逊", "{dot}");
    }
    for dot in names::VARIANT_DOTS_GBK {
        assert!(gbk::encode(&dot.to_string()).is_ok(), "{dot}");
    }
    assert!(gbk::encode("·").is_ok());
}

#[test]
fn tiny_cities_work() {
    for persons in [0, 1, 33, 34] {
        let (_, summary) = make(persons, 1);
        assert_eq!(summary.files[0].rows, persons);
    }
}

/// `cargo test --release --lib gen:: -- --ignored --nocapture`
#[test]
#[ignore]
fn a_million_persons_generate_in_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let opts = GenOptions { persons: 1_000_000, period: period(), seed: 2026 };
    let start = std::time::Instant::now();
    let summary = generate(&opts, dir.path(), &mut |_| {}).unwrap();
    let elapsed = start.elapsed();
    let bytes: u64 = summary.files.iter().map(|f| std::fs::metadata(dir.path().join(&f.name)).unwrap().len()).sum();
    println!("1,000,000 persons in {elapsed:.2?}, {} MB", bytes / 1_000_000);
    println!("{}", serde_json::to_string_pretty(&summary).unwrap());
    assert!(elapsed.as_secs() < 20);
}
