//! Monthly rosters (发放花名册, rosters.md "Monthly roster").

use csv::StringRecord;

use super::{keep, Importer};
use crate::domain::{Money, Period, PersonId, PersonName, Program, RegionCode};
use crate::formats::csv_input::{ColumnSpec, CsvInput};
use crate::store::rosters::{self, NewRosterLine};
use crate::store::{StoreError, Tx};

const COLUMNS: &[ColumnSpec] = &[
    ColumnSpec { name: "program", aliases: &["项目"], required: true },
    ColumnSpec { name: "period", aliases: &["发放年月"], required: true },
    ColumnSpec { name: "person_id", aliases: &["身份证号"], required: true },
    ColumnSpec { name: "name", aliases: &["姓名"], required: true },
    ColumnSpec { name: "amount", aliases: &["金额"], required: true },
    ColumnSpec { name: "region_code", aliases: &["区划代码"], required: true },
    ColumnSpec { name: "for_period", aliases: &["所属年月"], required: false },
    ColumnSpec { name: "source_ref", aliases: &["业务流水号"], required: false },
];
const PROGRAM: usize = 0;
const PERIOD: usize = 1;
const PERSON_ID: usize = 2;
const NAME: usize = 3;
const AMOUNT: usize = 4;
const REGION: usize = 5;
const FOR_PERIOD: usize = 6;
const SOURCE_REF: usize = 7;

/// Longest department reference kept.
const MAX_SOURCE_REF: usize = 64;

pub struct RosterImporter {
    today: chrono::NaiveDate,
    /// The file's program and period: those of its first good row.
    file_program: Option<Program>,
    file_period: Option<Period>,
    total: Money,
    lines: u64,
}

impl Default for RosterImporter {
    fn default() -> RosterImporter {
        RosterImporter {
            today: chrono::Local::now().date_naive(),
            file_program: None,
            file_period: None,
            total: Money::ZERO,
            lines: 0,
        }
    }
}

impl Importer for RosterImporter {
    type Row = NewRosterLine;
    const KIND: &'static str = "roster";

    fn columns(&self) -> &'static [ColumnSpec] {
        COLUMNS
    }

    fn validate(&mut self, input: &CsvInput, rec: &StringRecord, line: u64) -> Result<NewRosterLine, Vec<String>> {
        let mut reasons: Vec<String> = Vec::new();
        let program = match input.field(rec, PROGRAM).trim() {
            "" => {
                reasons.push("program is empty".into());
                None
            }
            code => match Program::parse(code) {
                Some(Program::Elderly) => {
                    reasons.push("program elderly is computed from the registry and has no roster".into());
                    None
                }
                Some(p) => Some(p),
                None => {
                    reasons.push(format!("program '{code}' is not a program code"));
                    None
                }
            },
        };
        let period = keep(&mut reasons, Period::parse("period", input.field(rec, PERIOD)));
        let person_id = keep(&mut reasons, PersonId::parse_as_of(input.field(rec, PERSON_ID), self.today));
        let name = keep(&mut reasons, PersonName::parse(input.field(rec, NAME)));
        let region = keep(&mut reasons, RegionCode::parse(input.field(rec, REGION)));
        let for_period = match input.field(rec, FOR_PERIOD).trim() {
            "" => None,
            f => keep(&mut reasons, Period::parse("for_period", f)),
        };
        let amount = keep(&mut reasons, Money::parse_payable(input.field(rec, AMOUNT)));
        if let (Some(p), Some(f)) = (period, for_period) {
            if f > p {
                reasons.push(format!("for_period {f} is after period {p}"));
            }
        }
        if let (Some(p), Some(fp)) = (program, self.file_program) {
            if p != fp {
                reasons.push(format!(
                    "program {p} differs from the file's program {fp} (one file per program and period)"
                ));
            }
        }
        if let (Some(p), Some(fp)) = (period, self.file_period) {
            if p != fp {
                reasons
                    .push(format!("period {p} differs from the file's period {fp} (one file per program and period)"));
            }
        }
        let source_ref = input.field(rec, SOURCE_REF).trim();
        if source_ref.chars().count() > MAX_SOURCE_REF {
            reasons.push(format!("source_ref is longer than {MAX_SOURCE_REF} characters"));
        }
        let (Some(program), Some(period), Some(person_id), Some(name), Some(region), Some(amount), true) =
            (program, period, person_id, name, region, amount, reasons.is_empty())
        else {
            return Err(reasons);
        };
        self.file_program.get_or_insert(program);
        self.file_period.get_or_insert(period);
        self.total = self.total + amount;
        self.lines += 1;
        Ok(NewRosterLine {
            line_no: line,
            program: program.as_str(),
            period: period.to_string(),
            benefit_month: for_period.unwrap_or(period).to_string(),
            person_id: person_id.as_str().to_string(),
            name: name.as_str().to_string(),
            amount_fen: amount.fen(),
            region_code: region.as_str().to_string(),
            source_ref: (!source_ref.is_empty()).then(|| source_ref.to_string()),
        })
    }

    async fn apply(
        &mut self,
        tx: &mut Tx,
        file_id: i64,
        rows: Vec<(NewRosterLine, StringRecord)>,
    ) -> Result<Vec<(StringRecord, String)>, StoreError> {
        let lines: Vec<NewRosterLine> = rows.into_iter().map(|(l, _)| l).collect();
        rosters::insert_lines(tx, file_id, &lines).await?;
        Ok(Vec::new())
    }

    fn program_period(&self) -> (Option<String>, Option<String>) {
        (self.file_program.map(|p| p.as_str().to_string()), self.file_period.map(|p| p.to_string()))
    }

    fn details(&self) -> serde_json::Value {
        serde_json::json!({
            "program": self.file_program.map(Program::as_str),
            "period": self.file_period.map(|p| p.to_string()),
            "amount": self.total.to_string(),
        })
    }
}
