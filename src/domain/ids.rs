//! Identifiers of domain.md, each with one `parse` that applies every check
//! and normalisation of the spec. After parsing, a value is known good.

use std::fmt;

use chrono::{Datelike, NaiveDate};

/// Weights of ISO 7064 MOD 11-2 over the first 17 digits of a person id.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for each remainder 0..=10.
const CHECK_CHARS: [u8; 11] = *b"10X98765432";
const EARLIEST_BIRTH: (i32, u32, u32) = (1890, 1, 1);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} '{value}' was mangled by a spreadsheet ({how}); re-export the column as text")]
    Spreadsheet { field: &'static str, value: String, how: &'static str },
    #[error("person_id '{0}' must have 18 characters (or 15 for a legacy number)")]
    PersonIdLength(String),
    #[error("person_id '{0}' has a character that is not a digit (only the last may be X)")]
    PersonIdChars(String),
    #[error("person_id '{value}' has check character {got}, expected {want}")]
    PersonIdCheck { value: String, got: char, want: char },
    #[error("person_id '{value}' has birth date {date} that is not a real date")]
    PersonIdBirthDate { value: String, date: String },
    #[error("person_id '{value}' has birth date {date} outside 1890-01-01..today")]
    PersonIdBirthRange { value: String, date: String },
    #[error("name '{0}' is longer than 30 characters")]
    NameLength(String),
    #[error("name '{0}' contains a digit")]
    NameDigit(String),
    #[error("name '{0}' contains a control character")]
    NameControl(String),
    #[error("card_no '{0}' must be one letter and 8 digits")]
    CardNo(String),
    #[error("account_no '{0}' must be 16 to 19 digits")]
    AccountNoForm(String),
    #[error("account_no '{0}' fails the Luhn check")]
    AccountNoLuhn(String),
    #[error("bank_code '{0}' must be 3 digits")]
    BankCode(String),
    #[error("region_code '{0}' must be 12 digits")]
    RegionCode(String),
    #[error("region scope '{0}' must be 4, 6, 9 or 12 digits")]
    RegionScope(String),
    #[error("{field} '{value}' must be YYYY-MM")]
    Period { field: &'static str, value: String },
    #[error("{field} '{value}' must be YYYY-MM-DD")]
    Date { field: &'static str, value: String },
    #[error("phone '{0}' must be 11 digits starting with 1")]
    Phone(String),
}

/// Detects the marks a spreadsheet leaves on a long number typed as a number:
/// scientific notation, a trailing `.0`, a leading apostrophe kept as data.
fn spreadsheet_mangling(s: &str) -> Option<&'static str> {
    if s.starts_with('\'') || s.starts_with('‘') || s.starts_with('’') {
        return Some("an apostrophe prefix was kept as data");
    }
    let digits_and = |extra: &[u8]| s.bytes().all(|b| b.is_ascii_digit() || extra.contains(&b));
    if (s.contains('E') || s.contains('e')) && s.contains(|c: char| c.is_ascii_digit()) && digits_and(b".Ee+-") {
        return Some("scientific notation");
    }
    if s.ends_with(".0") || s.ends_with(".00") {
        let head = s.trim_end_matches('0');
        if head.ends_with('.') && head[..head.len() - 1].bytes().all(|b| b.is_ascii_digit()) {
            return Some("a trailing .0 was added");
        }
    }
    None
}

fn check_spreadsheet(field: &'static str, s: &str) -> Result<(), IdError> {
    match spreadsheet_mangling(s) {
        Some(how) => Err(IdError::Spreadsheet { field, value: s.to_string(), how }),
        None => Ok(()),
    }
}

/// Full-width digits and letters (U+FF10.., U+FF21..) become ASCII; spaces are dropped.
fn to_half_width(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Citizen identity number (公民身份号码), which is also the social security number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PersonId(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    /// The code of card-issuance.md: `1` male, `2` female.
    pub fn code(self) -> &'static str {
        match self {
            Gender::Male => "1",
            Gender::Female => "2",
        }
    }
}

impl PersonId {
    /// Parses against today's date (a birth date may not be in the future).
    pub fn parse(raw: &str) -> Result<PersonId, IdError> {
        PersonId::parse_as_of(raw, chrono::Local::now().date_naive())
    }

    pub fn parse_as_of(raw: &str, today: NaiveDate) -> Result<PersonId, IdError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(IdError::Empty { field: "person_id" });
        }
        check_spreadsheet("person_id", trimmed)?;
        let s = to_half_width(trimmed).replace('x', "X");
        let s = match s.len() {
            18 => s,
            15 if s.bytes().all(|b| b.is_ascii_digit()) => {
                let body = format!("{}19{}", &s[..6], &s[6..]);
                let check = check_char(body.as_bytes()).ok_or_else(|| IdError::PersonIdChars(s.clone()))?;
                format!("{body}{check}")
            }
            _ => return Err(IdError::PersonIdLength(trimmed.to_string())),
        };
        let bytes = s.as_bytes();
        if !bytes[..17].iter().all(u8::is_ascii_digit) || !(bytes[17].is_ascii_digit() || bytes[17] == b'X') {
            return Err(IdError::PersonIdChars(s));
        }
        let want = check_char(&bytes[..17]).ok_or_else(|| IdError::PersonIdChars(s.clone()))?;
        if bytes[17] as char != want {
            return Err(IdError::PersonIdCheck { got: bytes[17] as char, want, value: s });
        }
        let date_str = &s[6..14];
        let birth = NaiveDate::parse_from_str(date_str, "%Y%m%d")
            .map_err(|_| IdError::PersonIdBirthDate { value: s.clone(), date: date_str.to_string() })?;
        let (y, m, d) = EARLIEST_BIRTH;
        let earliest = NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN);
        if birth < earliest || birth > today {
            return Err(IdError::PersonIdBirthRange { value: s.clone(), date: birth.to_string() });
        }
        Ok(PersonId(s))
    }

    /// Builds a valid id from its parts, computing the check character (for the generator).
    pub fn from_parts(birthplace: &str, birth: NaiveDate, sequence: u16) -> Option<PersonId> {
        if birthplace.len() != 6 || !birthplace.bytes().all(|b| b.is_ascii_digit()) || sequence > 999 {
            return None;
        }
        let body = format!("{birthplace}{}{sequence:03}", birth.format("%Y%m%d"));
        if body.len() != 17 {
            return None;
        }
        let check = check_char(body.as_bytes())?;
        Some(PersonId(format!("{body}{check}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn birth_date(&self) -> NaiveDate {
        // Parsing checked these 8 digits form a real date.
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").unwrap_or(NaiveDate::MIN)
    }

    pub fn gender(&self) -> Gender {
        // The 17th character is a digit (checked when parsed): odd male, even female.
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 {
            Gender::Male
        } else {
            Gender::Female
        }
    }

    /// Age in whole years on `date`.
    pub fn age_on(&self, date: NaiveDate) -> i32 {
        let b = self.birth_date();
        let mut age = date.year() - b.year();
        if (date.month(), date.day()) < (b.month(), b.day()) {
            age -= 1;
        }
        age
    }

    /// First 6 and last 4 characters kept (reports.md "Masking").
    pub fn masked(&self) -> String {
        mask_person_id(&self.0)
    }
}

/// The MOD 11-2 check character of 17 ASCII digits, or `None` if they are not digits.
pub fn check_char(first17: &[u8]) -> Option<char> {
    if first17.len() != 17 || !first17.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    Some(CHECK_CHARS[(sum % 11) as usize] as char)
}

/// A payment's serial number (流水号): its batch number and its eight-digit
/// sequence in the batch, 22 characters of `[0-9]` (bank-files.md allows 24).
pub fn serial_no(batch_no: &str, seq: i64) -> String {
    format!("{batch_no}{seq:08}")
}

/// The sequence a serial number of [`serial_no`]'s form gives in `batch_no`,
/// if it is of that form.
pub fn serial_seq(serial_no: &str, batch_no: &str) -> Option<i64> {
    let seq = serial_no.strip_prefix(batch_no)?;
    (seq.len() == 8 && seq.bytes().all(|b| b.is_ascii_digit())).then(|| seq.parse().ok()).flatten()
}

/// Masks any person-id-like text: first 6 and last 4 characters kept.
pub fn mask_person_id(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= 10 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars[..6].iter().chain(std::iter::repeat_n(&'*', n - 10)).chain(&chars[n - 4..]).collect()
}

/// Masks an account number: last 4 digits kept.
pub fn mask_account(s: &str) -> String {
    let n = s.chars().count();
    let keep = n.min(4);
    "*".repeat(n - keep) + &s.chars().skip(n - keep).collect::<String>()
}

/// Masks a phone number: first 3 and last 4 kept.
pub fn mask_phone(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() < 8 {
        return "*".repeat(chars.len());
    }
    let n = chars.len();
    chars[..3].iter().chain(std::iter::repeat_n(&'*', n - 7)).chain(&chars[n - 4..]).collect()
}

impl fmt::Display for PersonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's name, normalised: trimmed, inner spaces collapsed, minority-name
/// middle dots unified to `·` (U+00B7).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PersonName(String);

impl PersonName {
    pub fn parse(raw: &str) -> Result<PersonName, IdError> {
        let dots: &[char] = &['·', '・', '•', '‧', '．', '\u{30FB}', '\u{FF65}'];
        let unified: String = raw.chars().map(|c| if dots.contains(&c) { '·' } else { c }).collect();
        let s = unified.split_whitespace().collect::<Vec<_>>().join(" ");
        if s.is_empty() {
            return Err(IdError::Empty { field: "name" });
        }
        if s.chars().any(char::is_control) {
            return Err(IdError::NameControl(s));
        }
        if s.chars().any(|c| c.is_ascii_digit() || ('\u{FF10}'..='\u{FF19}').contains(&c)) {
            return Err(IdError::NameDigit(s));
        }
        if s.chars().count() > 30 {
            return Err(IdError::NameLength(s));
        }
        Ok(PersonName(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PersonName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Social security card number (社会保障卡卡号): one upper-case letter then 8 digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CardNo(String);

impl CardNo {
    pub fn parse(raw: &str) -> Result<CardNo, IdError> {
        let s = to_half_width(raw.trim()).to_ascii_uppercase();
        if s.is_empty() {
            return Err(IdError::Empty { field: "card_no" });
        }
        let b = s.as_bytes();
        if b.len() != 9 || !b[0].is_ascii_uppercase() || !b[1..].iter().all(u8::is_ascii_digit) {
            return Err(IdError::CardNo(s));
        }
        Ok(CardNo(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The bank account behind a card: 16 to 19 digits passing Luhn.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AccountNo(String);

impl AccountNo {
    pub fn parse(raw: &str) -> Result<AccountNo, IdError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(IdError::Empty { field: "account_no" });
        }
        check_spreadsheet("account_no", trimmed)?;
        let s = to_half_width(trimmed);
        if !(16..=19).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::AccountNoForm(s));
        }
        if luhn_digit(&s[..s.len() - 1]) != s.as_bytes()[s.len() - 1] - b'0' {
            return Err(IdError::AccountNoLuhn(s));
        }
        Ok(AccountNo(s))
    }

    /// Completes a 15 to 18 digit body with its Luhn digit (for the generator and the bank simulator).
    pub fn with_check_digit(body: &str) -> Option<AccountNo> {
        if !(15..=18).contains(&body.len()) || !body.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        Some(AccountNo(format!("{body}{}", luhn_digit(body))))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask_account(&self.0)
    }
}

/// The Luhn check digit that completes `body` (ASCII digits).
fn luhn_digit(body: &str) -> u8 {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// A bank's 3-digit category code in the national clearing system. Whether the
/// deployment knows the bank is checked against the configuration, not here.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BankCode(String);

impl BankCode {
    pub fn parse(raw: &str) -> Result<BankCode, IdError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(IdError::Empty { field: "bank_code" });
        }
        if s.len() != 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::BankCode(s.to_string()));
        }
        Ok(BankCode(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A 12-digit statistical division code (统计用区划代码).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RegionCode(String);

impl RegionCode {
    pub fn parse(raw: &str) -> Result<RegionCode, IdError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(IdError::Empty { field: "region_code" });
        }
        check_spreadsheet("region_code", s)?;
        if s.len() != 12 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::RegionCode(s.to_string()));
        }
        Ok(RegionCode(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn within(&self, scope: &RegionScope) -> bool {
        self.0.starts_with(&scope.0)
    }
}

/// A caseworker's scope: a region prefix of 4 (city), 6 (district), 9 (street)
/// or 12 (community) digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RegionScope(String);

impl RegionScope {
    pub fn parse(raw: &str) -> Result<RegionScope, IdError> {
        let s = raw.trim();
        if ![4, 6, 9, 12].contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IdError::RegionScope(s.to_string()));
        }
        Ok(RegionScope(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A month `YYYY-MM`: a payout period or a benefit month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Period {
    year: i32,
    month: u32,
}

impl Period {
    pub fn parse(field: &'static str, raw: &str) -> Result<Period, IdError> {
        let s = raw.trim();
        let err = || IdError::Period { field, value: s.to_string() };
        let b = s.as_bytes();
        if b.len() != 7 || b[4] != b'-' || !b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit) {
            return Err(err());
        }
        let year: i32 = s[..4].parse().map_err(|_| err())?;
        let month: u32 = s[5..].parse().map_err(|_| err())?;
        if !(1..=12).contains(&month) || !(1900..=2999).contains(&year) {
            return Err(err());
        }
        Ok(Period { year, month })
    }

    pub fn of(date: NaiveDate) -> Period {
        Period { year: date.year(), month: date.month() }
    }

    pub fn first_day(self) -> NaiveDate {
        NaiveDate::from_ymd_opt(self.year, self.month, 1).unwrap_or(NaiveDate::MIN)
    }

    pub fn last_day(self) -> NaiveDate {
        self.next().first_day().pred_opt().unwrap_or(NaiveDate::MIN)
    }

    pub fn next(self) -> Period {
        if self.month == 12 {
            Period { year: self.year + 1, month: 1 }
        } else {
            Period { year: self.year, month: self.month + 1 }
        }
    }

    pub fn prev(self) -> Period {
        if self.month == 1 {
            Period { year: self.year - 1, month: 12 }
        } else {
            Period { year: self.year, month: self.month - 1 }
        }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        self.month
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A calendar date `YYYY-MM-DD`.
pub fn parse_date(field: &'static str, raw: &str) -> Result<NaiveDate, IdError> {
    let s = raw.trim();
    if s.len() != 10 {
        return Err(IdError::Date { field, value: s.to_string() });
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| IdError::Date { field, value: s.to_string() })
}

/// A mobile phone number: 11 digits starting with 1.
pub fn parse_phone(raw: &str) -> Result<String, IdError> {
    let trimmed = raw.trim();
    check_spreadsheet("phone", trimmed)?;
    let s = to_half_width(trimmed).replace('-', "");
    if s.len() != 11 || !s.starts_with('1') || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(IdError::Phone(trimmed.to_string()));
    }
    Ok(s)
}

#[cfg(test)]
#[path = "ids_tests.rs"]
mod tests;
