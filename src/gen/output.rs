//! The generator's files: CSV writers (UTF-8 with or without BOM, or GBK;
//! LF or CRLF), the roster layouts departments really deliver, source
//! references, the appendix of late lines, and `planted.csv`. Each file is
//! written to a temporary name and renamed when complete.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::people::Person;
use super::{GenError, GeneratedFile};
use crate::domain::{Period, Program};
use crate::formats::gbk;

pub const REGISTRY_FILE: &str = "cardholders.csv";
pub const PLANTED_FILE: &str = "planted.csv";
pub const REJECTED_ROW: &str = "rejected_row";

const REGISTRY_HEADER: &[&str] =
    &["person_id", "name", "region_code", "phone", "death_date", "card_no", "bank_code", "account_no"];
const ROSTER_HEADER: &[&str] =
    &["program", "period", "person_id", "name", "amount", "region_code", "for_period", "source_ref"];
const ROSTER_HEADER_ZH: &[&str] =
    &["项目", "发放年月", "身份证号", "姓名", "金额", "区划代码", "所属年月", "业务流水号"];
const PLANTED_HEADER: &[&str] = &["code", "person_id", "program", "benefit_month", "file", "line", "note"];

/// The programs that have a roster, in the order their files are listed.
pub const ROSTER_PROGRAMS: [Program; 7] = [
    Program::Dibao,
    Program::Wubao,
    Program::TempRelief,
    Program::Veteran,
    Program::Unemployment,
    Program::DisabilityCare,
    Program::DisabilityLiving,
];

/// How a department's file looks.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub gbk: bool,
    pub bom: bool,
    pub crlf: bool,
    pub chinese_header: bool,
}

/// Civil affairs exports UTF-8 from its system; the disabled persons'
/// federation and veterans affairs save GBK spreadsheets from Excel; human
/// resources uses the Chinese column names.
pub fn roster_layout(program: Program) -> Layout {
    let l = |gbk, bom, crlf, chinese_header| Layout { gbk, bom, crlf, chinese_header };
    match program {
        Program::Dibao => l(false, true, true, false),
        Program::Wubao | Program::TempRelief | Program::Elderly => l(false, false, false, false),
        Program::Veteran => l(true, false, true, false),
        Program::Unemployment => l(false, true, false, true),
        Program::DisabilityCare => l(true, false, true, true),
        Program::DisabilityLiving => l(false, false, true, false),
    }
}

/// The department prefix of a source reference (民政 MZ, 退役军人 TY, 人社 RS, 残联 CL).
fn ref_prefix(program: Program) -> usize {
    match program {
        Program::Dibao | Program::Wubao | Program::TempRelief | Program::Elderly => 0,
        Program::Veteran => 1,
        Program::Unemployment => 2,
        Program::DisabilityCare | Program::DisabilityLiving => 3,
    }
}
const REF_PREFIXES: [&str; 4] = ["MZ", "TY", "RS", "CL"];

pub fn roster_file_name(program: Program, period: Period) -> String {
    format!("roster_{}_{period}.csv", program.as_str())
}

/// A planted anomaly attached to a line: the anomaly code, the registered
/// person it concerns, and what to expect.
#[derive(Debug, Clone)]
pub struct Plant {
    pub code: &'static str,
    pub person_id: String,
    pub note: String,
}

/// One roster line as written (fields may be deliberately malformed).
#[derive(Debug, Clone)]
pub struct Line {
    pub program: Program,
    pub person_id: String,
    pub name: String,
    pub amount: String,
    pub region: String,
    pub for_period: String,
    /// Delivered late, in a supplementary list at the end of the file.
    pub appendix: bool,
    pub plant: Option<Plant>,
}

struct CsvFile {
    name: String,
    tmp: PathBuf,
    path: PathBuf,
    gbk: bool,
    eol: &'static str,
    out: BufWriter<File>,
    line: u64,
    scratch: String,
}

impl CsvFile {
    fn create(dir: &Path, name: String, layout: Layout, header: &[&str]) -> Result<CsvFile, GenError> {
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let file = File::create(&tmp).map_err(|source| GenError::Write { path: tmp.clone(), source })?;
        let eol = if layout.crlf { "\r\n" } else { "\n" };
        let mut f = CsvFile {
            name,
            tmp,
            path,
            gbk: layout.gbk,
            eol,
            out: BufWriter::with_capacity(1 << 16, file),
            line: 0,
            scratch: String::new(),
        };
        if layout.bom {
            f.write_bytes(b"\xEF\xBB\xBF")?;
        }
        f.row(header)?;
        Ok(f)
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), GenError> {
        self.out.write_all(bytes).map_err(|source| GenError::Write { path: self.tmp.clone(), source })
    }

    /// Writes one record and returns its line number (the header is line 1).
    fn row(&mut self, fields: &[&str]) -> Result<u64, GenError> {
        self.scratch.clear();
        for (i, field) in fields.iter().enumerate() {
            if i > 0 {
                self.scratch.push(',');
            }
            if field.contains([',', '"', '\r', '\n']) {
                self.scratch.push('"');
                self.scratch.push_str(&field.replace('"', "\"\""));
                self.scratch.push('"');
            } else {
                self.scratch.push_str(field);
            }
        }
        self.scratch.push_str(self.eol);
        self.line += 1;
        let result = if self.gbk {
            match gbk::encode(&self.scratch) {
                Ok(bytes) => self.out.write_all(&bytes),
                Err(ch) => return Err(GenError::Unencodable { file: self.name.clone(), line: self.line, ch }),
            }
        } else {
            self.out.write_all(self.scratch.as_bytes())
        };
        result.map_err(|source| GenError::Write { path: self.tmp.clone(), source })?;
        Ok(self.line)
    }

    fn finish(self) -> Result<GeneratedFile, GenError> {
        let CsvFile { name, tmp, path, gbk, mut out, line, .. } = self;
        out.flush().map_err(|source| GenError::Write { path: tmp.clone(), source })?;
        drop(out);
        std::fs::rename(&tmp, &path).map_err(|source| GenError::Write { path: path.clone(), source })?;
        Ok(GeneratedFile { name, rows: line.saturating_sub(1), encoding: if gbk { "gbk" } else { "utf-8" } })
    }
}

/// All files of one generation.
pub struct Output {
    period: Period,
    registry: CsvFile,
    rosters: Vec<CsvFile>,
    appendix: Vec<Vec<Line>>,
    planted: CsvFile,
    applications: CsvFile,
    counts: BTreeMap<String, u64>,
    refs: [u64; 4],
}

/// Card applications waiting at the counter: first cards, lost cards and replacements.
pub const APPLICATIONS_FILE: &str = "card_applications.csv";
const APPLICATIONS_HEADER: &[&str] = &["person_id", "bank_code", "kind"];

impl Output {
    pub fn create(dir: &Path, period: Period, codes: &[&str]) -> Result<Output, GenError> {
        let utf8_bom = Layout { gbk: false, bom: true, crlf: false, chinese_header: false };
        let plain = Layout { bom: false, ..utf8_bom };
        let registry = CsvFile::create(dir, REGISTRY_FILE.to_string(), utf8_bom, REGISTRY_HEADER)?;
        let mut rosters = Vec::new();
        for program in ROSTER_PROGRAMS {
            let layout = roster_layout(program);
            let header = if layout.chinese_header { ROSTER_HEADER_ZH } else { ROSTER_HEADER };
            rosters.push(CsvFile::create(dir, roster_file_name(program, period), layout, header)?);
        }
        let planted = CsvFile::create(dir, PLANTED_FILE.to_string(), plain, PLANTED_HEADER)?;
        let applications = CsvFile::create(dir, APPLICATIONS_FILE.to_string(), plain, APPLICATIONS_HEADER)?;
        let counts = codes.iter().map(|c| (c.to_string(), 0)).collect();
        Ok(Output {
            period,
            registry,
            rosters,
            appendix: vec![Vec::new(); ROSTER_PROGRAMS.len()],
            planted,
            applications,
            counts,
            refs: [0; 4],
        })
    }

    /// Writes a registry row and returns its line number.
    pub fn registry_row(&mut self, p: &Person) -> Result<u64, GenError> {
        let death = p.death.map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default();
        let (card_no, bank, account) = match &p.card {
            Some(c) => (c.card_no.as_str(), c.bank.code, c.account.as_str()),
            None => ("", "", ""),
        };
        let name = p.name.full();
        let phone = p.phone.as_deref().unwrap_or("");
        self.registry.row(&[p.id.as_str(), &name, &p.home.code, phone, &death, card_no, bank, account])
    }

    /// Writes a card application row: `kind` is `new`, `lost` or `replace`.
    pub fn application(&mut self, person_id: &str, bank_code: &str, kind: &str) -> Result<(), GenError> {
        self.applications.row(&[person_id, bank_code, kind]).map(|_| ())
    }

    /// Records an anomaly of a registry person's computed `elderly` item.
    pub fn plant_elderly(
        &mut self,
        code: &'static str,
        person_id: &str,
        line: u64,
        note: &str,
    ) -> Result<(), GenError> {
        let month = self.period.to_string();
        self.plant_row(code, person_id, Program::Elderly.as_str(), &month, REGISTRY_FILE, line, note)
    }

    /// Writes a roster line now, or keeps it for the appendix.
    pub fn roster_line(&mut self, line: Line) -> Result<(), GenError> {
        // Lines are made only for the programs of ROSTER_PROGRAMS (never `elderly`).
        let slot = ROSTER_PROGRAMS.iter().position(|p| *p == line.program).unwrap_or(0);
        if line.appendix {
            self.appendix[slot].push(line);
            return Ok(());
        }
        self.write_line(slot, &line)
    }

    fn write_line(&mut self, slot: usize, line: &Line) -> Result<(), GenError> {
        let prefix = ref_prefix(line.program);
        self.refs[prefix] += 1;
        let source_ref = format!(
            "{}{:04}{:02}{:06}",
            REF_PREFIXES[prefix],
            self.period.year(),
            self.period.month(),
            self.refs[prefix]
        );
        let period = self.period.to_string();
        let fields = [
            line.program.as_str(),
            &period,
            &line.person_id,
            &line.name,
            &line.amount,
            &line.region,
            &line.for_period,
            &source_ref,
        ];
        let number = self.rosters[slot].row(&fields)?;
        if let Some(plant) = &line.plant {
            let month = if line.for_period.is_empty() { period.clone() } else { line.for_period.clone() };
            let file = self.rosters[slot].name.clone();
            self.plant_row(plant.code, &plant.person_id, line.program.as_str(), &month, &file, number, &plant.note)?;
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn plant_row(
        &mut self,
        code: &'static str,
        person_id: &str,
        program: &str,
        month: &str,
        file: &str,
        line: u64,
        note: &str,
    ) -> Result<(), GenError> {
        *self.counts.entry(code.to_string()).or_insert(0) += 1;
        let line = line.to_string();
        self.planted.row(&[code, person_id, program, month, file, &line, note]).map(|_| ())
    }

    /// Writes the appendices, closes every file, and returns them with the planted counts.
    pub fn finish(mut self) -> Result<(Vec<GeneratedFile>, BTreeMap<String, u64>), GenError> {
        let appendix = std::mem::take(&mut self.appendix);
        for (slot, lines) in appendix.iter().enumerate() {
            for line in lines {
                self.write_line(slot, line)?;
            }
        }
        let mut files = vec![self.registry.finish()?];
        for f in self.rosters {
            files.push(f.finish()?);
        }
        files.push(self.planted.finish()?);
        files.push(self.applications.finish()?);
        Ok((files, self.counts))
    }
}
