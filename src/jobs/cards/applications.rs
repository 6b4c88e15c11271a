//! Bulk applications from a CSV file (`cards apply --file`): one row per
//! person, `person_id`, `bank_code` and an optional `kind` (`new`, `replace`,
//! `lost`), Chinese headers accepted. The import rules of rosters.md hold:
//! the file is applied whole or not at all, a refused row is kept in the
//! rejects file with its reason, identical bytes apply once.

use std::collections::HashSet;

use csv::StringRecord;

use super::{file, plan, Filed};
use crate::config::Config;
use crate::domain::cards::ApplicationKind;
use crate::domain::{BankCode, PersonId};
use crate::formats::csv_input::{ColumnSpec, CsvInput};
use crate::jobs::import::{keep, Importer};
use crate::store::{cards, now_text, StoreError, Tx};

const COLUMNS: &[ColumnSpec] = &[
    ColumnSpec { name: "person_id", aliases: &["身份证号"], required: true },
    ColumnSpec { name: "bank_code", aliases: &["银行代码"], required: false },
    ColumnSpec { name: "kind", aliases: &["申领类型"], required: false },
];
const PERSON_ID: usize = 0;
const BANK: usize = 1;
const KIND: usize = 2;

pub struct Row {
    person_id: PersonId,
    bank: Option<BankCode>,
    kind: ApplicationKind,
}

pub struct ApplicationsImporter<'c> {
    config: &'c Config,
    by: String,
    today: chrono::NaiveDate,
    filed: Vec<Filed>,
}

impl<'c> ApplicationsImporter<'c> {
    pub fn new(config: &'c Config, by: &str) -> ApplicationsImporter<'c> {
        ApplicationsImporter { config, by: by.to_string(), today: chrono::Local::now().date_naive(), filed: Vec::new() }
    }
}

impl Importer for ApplicationsImporter<'_> {
    type Row = Row;
    const KIND: &'static str = "card_applications";

    fn columns(&self) -> &'static [ColumnSpec] {
        COLUMNS
    }

    fn validate(&mut self, input: &CsvInput, rec: &StringRecord, _line: u64) -> Result<Row, Vec<String>> {
        let mut reasons = Vec::new();
        let person_id = keep(&mut reasons, PersonId::parse_as_of(input.field(rec, PERSON_ID), self.today));
        let bank = match input.field(rec, BANK).trim() {
            "" => None,
            b => keep(&mut reasons, BankCode::parse(b)),
        };
        let raw_kind = input.field(rec, KIND);
        let kind = ApplicationKind::parse(raw_kind);
        if kind.is_none() {
            reasons.push(format!("kind '{}' is not new, replace or lost", raw_kind.trim()));
        }
        match (person_id, kind, reasons.is_empty()) {
            (Some(person_id), Some(kind), true) => Ok(Row { person_id, bank, kind }),
            _ => Err(reasons),
        }
    }

    async fn apply(
        &mut self,
        tx: &mut Tx,
        _file_id: i64,
        rows: Vec<(Row, StringRecord)>,
    ) -> Result<Vec<(StringRecord, String)>, StoreError> {
        let ids: Vec<&str> = rows.iter().map(|(r, _)| r.person_id.as_str()).collect();
        let applicants = cards::applicants(tx, &ids).await?;
        let held = cards::of_persons(tx, &ids).await?;
        let mut refused = Vec::new();
        let mut plans = Vec::with_capacity(rows.len());
        let mut seen = HashSet::new();
        for (row, record) in &rows {
            let id = row.person_id.as_str();
            let Some(applicant) = applicants.get(id) else {
                refused.push((record.clone(), "person_id is not in the registry".to_string()));
                continue;
            };
            if !seen.insert(id) {
                refused.push((record.clone(), "a second application for the same person in this file".to_string()));
                continue;
            }
            let cards_held = held.get(id).map(Vec::as_slice).unwrap_or(&[]);
            match plan(self.config, applicant, cards_held, row.bank.as_ref().map(BankCode::as_str), row.kind) {
                Ok(p) => plans.push((p, row.kind)),
                Err(why) => refused.push((record.clone(), why)),
            }
        }
        let filed = file(tx, &plans, &self.by, &now_text()).await?;
        self.filed.extend(filed);
        Ok(refused)
    }

    fn details(&self) -> serde_json::Value {
        let count = |k| self.filed.iter().filter(|f| f.kind == k).count();
        serde_json::json!({
            "filed": self.filed.len(),
            "new": count(ApplicationKind::New),
            "replace": count(ApplicationKind::Replace),
            "lost": count(ApplicationKind::Lost),
        })
    }
}
