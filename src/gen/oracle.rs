//! Test-only reference checker: reads a generated city back through the
//! domain types, applies the rules of domain.md "A payout month" for a first
//! run (no history), and lists the anomalies it finds, in the form of
//! `planted.csv`. The tests demand that this equals what was planted.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::NaiveDate;

use crate::domain::ids::parse_date;
use crate::domain::{Money, Period, PersonId, PersonName, Program, RegionCode};
use crate::formats::gbk;

/// `(code, person_id, program, benefit_month, file, line)`.
pub type Finding = (String, String, String, String, String, u64);

/// A file's text: UTF-8 (BOM stripped) if it is valid UTF-8, else GBK.
pub fn read_text(path: &Path) -> String {
    let bytes = std::fs::read(path).unwrap();
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => gbk::decode(bytes).expect("neither UTF-8 nor GBK"),
    }
}

/// Records of a CSV file keyed by canonical column name, with line numbers.
pub fn records(path: &Path) -> Vec<(u64, HashMap<String, String>)> {
    let alias = |h: &str| -> String {
        let h = h.trim().to_lowercase();
        let canonical = match h.as_str() {
            "项目" => "program",
            "发放年月" => "period",
            "身份证号" | "社会保障号码" => "person_id",
            "姓名" => "name",
            "金额" => "amount",
            "区划代码" => "region_code",
            "所属年月" => "for_period",
            "业务流水号" => "source_ref",
            other => other,
        };
        canonical.to_string()
    };
    let text = read_text(path);
    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(alias).collect();
    let mut out = Vec::new();
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.unwrap();
        let map = headers.iter().cloned().zip(rec.iter().map(str::to_string)).collect();
        out.push((i as u64 + 2, map));
    }
    out
}

pub struct Registered {
    pub line: u64,
    pub name: String,
    pub region: String,
    pub death: Option<NaiveDate>,
    pub bank: Option<String>,
}

pub fn registry(dir: &Path) -> HashMap<String, Registered> {
    let mut out = HashMap::new();
    for (line, r) in records(&dir.join("cardholders.csv")) {
        let death =
            Some(r["death_date"].as_str()).filter(|s| !s.is_empty()).map(|s| parse_date("death_date", s).unwrap());
        let bank = Some(r["bank_code"].clone()).filter(|s| !s.is_empty());
        let name = PersonName::parse(&r["name"]).unwrap().as_str().to_string();
        let reg = Registered { line, name, region: r["region_code"].clone(), death, bank };
        assert!(out.insert(r["person_id"].clone(), reg).is_none(), "duplicate person id");
    }
    out
}

struct Item {
    file: String,
    line: u64,
    person: String,
    program: Program,
    month: Period,
    name: String,
    amount: Money,
    region: String,
}

/// A roster row parsed with the domain types, or the first reason it is rejected.
fn parse_row(
    r: &HashMap<String, String>,
    period: Period,
) -> Result<(PersonId, Program, Period, String, Money), String> {
    let program = Program::parse(&r["program"]).filter(|p| p.has_roster()).ok_or("program")?;
    if Period::parse("period", &r["period"]).map_err(|e| e.to_string())? != period {
        return Err("period".into());
    }
    let id = PersonId::parse_as_of(&r["person_id"], period.last_day()).map_err(|e| e.to_string())?;
    let name = PersonName::parse(&r["name"]).map_err(|e| e.to_string())?;
    let amount = Money::parse_payable(&r["amount"]).map_err(|e| e.to_string())?;
    RegionCode::parse(&r["region_code"]).map_err(|e| e.to_string())?;
    let month = match r["for_period"].trim() {
        "" => period,
        f => Period::parse("for_period", f).map_err(|e| e.to_string())?,
    };
    if month > period {
        return Err("for_period after period".into());
    }
    Ok((id, program, month, name.as_str().to_string(), amount))
}

/// Every anomaly the rules find, and the rejected rows as (file, line).
pub fn findings(dir: &Path, period: Period, roster_files: &[String]) -> (Vec<Finding>, Vec<(String, u64)>) {
    let reg = registry(dir);
    let mut rejected = Vec::new();
    let mut items = Vec::new();
    for file in roster_files {
        for (line, r) in records(&dir.join(file)) {
            match parse_row(&r, period) {
                Ok((id, program, month, name, amount)) => items.push(Item {
                    file: file.clone(),
                    line,
                    person: id.to_string(),
                    program,
                    month,
                    name,
                    amount,
                    region: r["region_code"].clone(),
                }),
                Err(_) => rejected.push((file.clone(), line)),
            }
        }
    }
    let mut decided: Vec<Option<&str>> = vec![None; items.len()];
    for (i, it) in items.iter().enumerate() {
        decided[i] = match reg.get(&it.person) {
            None => Some("unknown_person"),
            Some(p) if p.name != it.name => Some("name_mismatch"),
            Some(p) if p.death.is_some_and(|d| Period::of(d) < it.month) => Some("deceased"),
            _ => None,
        };
    }
    let mut by_key: BTreeMap<(String, Program, Period), Vec<usize>> = BTreeMap::new();
    for (i, it) in items.iter().enumerate().filter(|(i, _)| decided[*i].is_none()) {
        by_key.entry((it.person.clone(), it.program, it.month)).or_default().push(i);
    }
    for group in by_key.values().filter(|g| g.len() > 1) {
        let home = &reg[&items[group[0]].person].region;
        let kept = group.iter().copied().find(|&i| items[i].region == *home).unwrap_or(group[0]);
        for &i in group.iter().filter(|&&i| i != kept) {
            decided[i] = Some("duplicate_line");
        }
    }
    let mut programs: BTreeMap<(String, Period), Vec<usize>> = BTreeMap::new();
    for (i, it) in items.iter().enumerate().filter(|(i, _)| decided[*i].is_none()) {
        programs.entry((it.person.clone(), it.month)).or_default().push(i);
    }
    for group in programs.values() {
        let has = |p: Program| group.iter().any(|&i| items[i].program == p);
        if has(Program::Dibao) && has(Program::Wubao) {
            for &i in group.iter().filter(|&&i| matches!(items[i].program, Program::Dibao | Program::Wubao)) {
                decided[i] = Some("exclusive_conflict");
            }
        }
    }
    let late = |it: &Item, reg: &Registered| -> Option<&'static str> {
        if it.amount > it.program.default_cap() {
            Some("cap_exceeded")
        } else if reg.bank.is_none() || reg.death.is_some() {
            Some("no_active_card")
        } else if gbk_bank(reg) && gbk::first_unencodable(&it.name).is_some() {
            Some("name_mismatch")
        } else {
            None
        }
    };
    let mut payable_dibao = Vec::new();
    for (i, it) in items.iter().enumerate() {
        if decided[i].is_some() || it.program == Program::DisabilityLiving {
            continue;
        }
        decided[i] = late(it, &reg[&it.person]);
        if decided[i].is_none() && it.program == Program::Dibao {
            payable_dibao.push((it.person.clone(), it.month));
        }
    }
    for (i, it) in items.iter().enumerate() {
        if decided[i].is_some() || it.program != Program::DisabilityLiving {
            continue;
        }
        decided[i] = if payable_dibao.contains(&(it.person.clone(), it.month)) {
            late(it, &reg[&it.person])
        } else {
            Some("missing_prerequisite")
        };
    }
    let mut out: Vec<Finding> = items
        .iter()
        .zip(&decided)
        .filter_map(|(it, d)| {
            d.map(|code| {
                (code.into(), it.person.clone(), it.program.to_string(), it.month.to_string(), it.file.clone(), it.line)
            })
        })
        .collect();
    let last = period.last_day();
    for (id, p) in &reg {
        let id = PersonId::parse_as_of(id, last).unwrap();
        if p.death.filter(|&d| d <= last).is_none() && id.age_on(last) >= 80 {
            let code = if p.bank.is_none() {
                Some("no_active_card")
            } else if gbk_bank(p) && gbk::first_unencodable(&p.name).is_some() {
                Some("name_mismatch")
            } else {
                None
            };
            if let Some(code) = code {
                out.push((
                    code.into(),
                    id.to_string(),
                    "elderly".into(),
                    period.to_string(),
                    "cardholders.csv".into(),
                    p.line,
                ));
            }
        }
    }
    out.sort();
    rejected.sort();
    (out, rejected)
}

fn gbk_bank(p: &Registered) -> bool {
    matches!(p.bank.as_deref(), Some("102" | "103" | "105" | "403"))
}
