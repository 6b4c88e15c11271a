//! The registry import (`cardholders.csv`, rosters.md "Registry import").

use std::collections::HashMap;

use csv::StringRecord;

use super::{keep, Importer};
use crate::config::Config;
use crate::domain::ids::{parse_date, parse_phone};
use crate::domain::{AccountNo, BankCode, CardNo, PersonId, PersonName, RegionCode};
use crate::formats::csv_input::{ColumnSpec, CsvInput};
use crate::store::persons::{self, PresentColumns, RegistryCard, RegistryCounts, RegistryRow};
use crate::store::{StoreError, Tx};

const COLUMNS: &[ColumnSpec] = &[
    ColumnSpec { name: "person_id", aliases: &["身份证号", "社会保障号码"], required: true },
    ColumnSpec { name: "name", aliases: &["姓名"], required: true },
    ColumnSpec { name: "region_code", aliases: &["区划代码"], required: true },
    ColumnSpec { name: "phone", aliases: &["联系电话"], required: false },
    ColumnSpec { name: "death_date", aliases: &["死亡日期"], required: false },
    ColumnSpec { name: "card_no", aliases: &["社保卡号"], required: false },
    ColumnSpec { name: "bank_code", aliases: &["银行代码"], required: false },
    ColumnSpec { name: "account_no", aliases: &["银行账号"], required: false },
];
const PERSON_ID: usize = 0;
const NAME: usize = 1;
const REGION: usize = 2;
const PHONE: usize = 3;
const DEATH: usize = 4;
const CARD_NO: usize = 5;
const BANK: usize = 6;
const ACCOUNT: usize = 7;

pub struct RegistryImporter<'a> {
    config: &'a Config,
    actor: String,
    today: chrono::NaiveDate,
    present: PresentColumns,
    /// Lines where each person id and card number first appeared in this file.
    seen_persons: HashMap<[u8; 18], u64>,
    seen_cards: HashMap<[u8; 9], u64>,
    counts: RegistryCounts,
}

impl<'a> RegistryImporter<'a> {
    pub fn new(config: &'a Config, actor: &str) -> RegistryImporter<'a> {
        RegistryImporter {
            config,
            actor: actor.to_string(),
            today: chrono::Local::now().date_naive(),
            present: PresentColumns { phone: false, death_date: false },
            seen_persons: HashMap::new(),
            seen_cards: HashMap::new(),
            counts: RegistryCounts::default(),
        }
    }
}

impl Importer for RegistryImporter<'_> {
    type Row = RegistryRow;
    const KIND: &'static str = "registry";

    fn columns(&self) -> &'static [ColumnSpec] {
        COLUMNS
    }

    fn start(&mut self, input: &CsvInput) {
        let has = |names: &[&str]| input.headers().iter().any(|h| names.contains(&h.trim().to_lowercase().as_str()));
        self.present =
            PresentColumns { phone: has(&["phone", "联系电话"]), death_date: has(&["death_date", "死亡日期"]) };
    }

    fn validate(&mut self, input: &CsvInput, rec: &StringRecord, line: u64) -> Result<RegistryRow, Vec<String>> {
        let mut reasons = Vec::new();
        let person_id = keep(&mut reasons, PersonId::parse_as_of(input.field(rec, PERSON_ID), self.today));
        let name = keep(&mut reasons, PersonName::parse(input.field(rec, NAME)));
        let region = keep(&mut reasons, RegionCode::parse(input.field(rec, REGION)));
        let phone = match input.field(rec, PHONE).trim() {
            "" => None,
            p => keep(&mut reasons, parse_phone(p)),
        };
        let death = match input.field(rec, DEATH).trim() {
            "" => None,
            d => keep(&mut reasons, parse_date("death_date", d)),
        };
        let (card_raw, bank_raw, account_raw) =
            (input.field(rec, CARD_NO).trim(), input.field(rec, BANK).trim(), input.field(rec, ACCOUNT).trim());
        let card = if card_raw.is_empty() && bank_raw.is_empty() && account_raw.is_empty() {
            None
        } else if card_raw.is_empty() || bank_raw.is_empty() || account_raw.is_empty() {
            reasons.push("card_no, bank_code and account_no must be given together".to_string());
            None
        } else {
            let card_no = keep(&mut reasons, CardNo::parse(card_raw));
            let bank = keep(&mut reasons, BankCode::parse(bank_raw));
            let account = keep(&mut reasons, AccountNo::parse(account_raw));
            if let Some(b) = &bank {
                if self.config.bank(b.as_str()).is_none() {
                    reasons.push(format!("bank_code {} is not a bank this deployment has configured", b.as_str()));
                }
            }
            match (card_no, bank, account) {
                (Some(c), Some(b), Some(a)) => Some(RegistryCard {
                    card_no: c.as_str().to_string(),
                    bank_code: b.as_str().to_string(),
                    account_no: a.as_str().to_string(),
                }),
                _ => None,
            }
        };
        if let (Some(p), Some(d)) = (&person_id, death) {
            if d < p.birth_date() || d > self.today {
                reasons.push(format!("death_date {d} is before the birth date or in the future"));
            }
        }
        if let Some(p) = &person_id {
            let key: [u8; 18] = p.as_str().as_bytes().try_into().unwrap_or([0; 18]);
            if let Some(first) = self.seen_persons.get(&key) {
                reasons.push(format!("person_id appears again (first on line {first})"));
            }
        }
        if let Some(c) = &card {
            let key: [u8; 9] = c.card_no.as_bytes().try_into().unwrap_or([0; 9]);
            if let Some(first) = self.seen_cards.get(&key) {
                reasons.push(format!("card_no {} appears again (first on line {first})", c.card_no));
            }
        }
        let (Some(person_id), Some(name), Some(region), true) = (person_id, name, region, reasons.is_empty()) else {
            return Err(reasons);
        };
        // Only accepted rows claim their person id and card number.
        self.seen_persons.insert(person_id.as_str().as_bytes().try_into().unwrap_or([0; 18]), line);
        if let Some(c) = &card {
            self.seen_cards.insert(c.card_no.as_bytes().try_into().unwrap_or([0; 9]), line);
        }
        Ok(RegistryRow {
            line_no: line,
            gender: person_id.gender().code(),
            birth_date: person_id.birth_date().to_string(),
            person_id: person_id.as_str().to_string(),
            name: name.as_str().to_string(),
            region_code: region.as_str().to_string(),
            phone,
            death_date: death.map(|d| d.to_string()),
            card,
        })
    }

    async fn apply(
        &mut self,
        tx: &mut Tx,
        file_id: i64,
        rows: Vec<(RegistryRow, StringRecord)>,
    ) -> Result<Vec<(StringRecord, String)>, StoreError> {
        let mut records: HashMap<u64, StringRecord> = HashMap::with_capacity(rows.len());
        let typed = rows
            .into_iter()
            .map(|(row, rec)| {
                records.insert(row.line_no, rec);
                row
            })
            .collect();
        let refused = persons::apply_batch(tx, file_id, &self.actor, self.present, typed, &mut self.counts).await?;
        Ok(refused
            .into_iter()
            .filter_map(|(row, reason)| records.remove(&row.line_no).map(|rec| (rec, reason)))
            .collect())
    }

    fn details(&self) -> serde_json::Value {
        serde_json::to_value(self.counts).unwrap_or_default()
    }
}
