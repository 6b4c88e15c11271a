//! Which persons carry a planted anomaly. Each role is drawn at a small rate,
//! and for any city of at least `2 × roles` persons each role is also forced
//! once at a fixed index, so a test city of a few thousand has every code.

use rand::Rng;

use crate::domain::{AnomalyCode, Period, PersonId};

/// Ways a roster row is malformed so that the importer must reject it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectKind {
    IdScientific,
    IdTrailingZero,
    IdCheckChar,
    AmountThousands,
    AmountDecimals,
    ForPeriodAfter,
    EmptyName,
}

/// What is planted on a person (and their roster lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Normal,
    /// A normal person, plus a roster line of someone the registry does not know.
    UnknownPerson,
    NameMismatch,
    Deceased,
    /// The same key twice in one roster, listed by two offices.
    DuplicateRegion,
    /// The same back-pay month twice: once in the list, again in the appendix.
    DuplicateArrears,
    Exclusive,
    MissingPrerequisite,
    CapExceeded,
    NoCard,
    /// A registered name with a character outside GBK, paid through a GBK bank.
    Unencodable,
    Rejected(RejectKind),
}

/// Each planted role with its rate per person. Rosters carry about 5.5 lines
/// per 100 persons, so 6e-5 per person is about 0.1% of roster lines.
const RATES: &[(Role, f64)] = &[
    (Role::UnknownPerson, 6e-5),
    (Role::NameMismatch, 6e-5),
    (Role::Deceased, 5e-5),
    (Role::DuplicateRegion, 3e-5),
    (Role::DuplicateArrears, 3e-5),
    (Role::Exclusive, 4e-5),
    (Role::MissingPrerequisite, 4e-5),
    (Role::CapExceeded, 4e-5),
    (Role::NoCard, 5e-5),
    (Role::Unencodable, 2e-5),
    (Role::Rejected(RejectKind::IdScientific), 1.5e-5),
    (Role::Rejected(RejectKind::IdTrailingZero), 1e-5),
    (Role::Rejected(RejectKind::IdCheckChar), 1.5e-5),
    (Role::Rejected(RejectKind::AmountThousands), 1.5e-5),
    (Role::Rejected(RejectKind::AmountDecimals), 1e-5),
    (Role::Rejected(RejectKind::ForPeriodAfter), 1e-5),
    (Role::Rejected(RejectKind::EmptyName), 1e-5),
];

/// Every code `planted.csv` can carry: the run-time anomaly codes a single
/// month's rosters can produce, and `rejected_row`.
pub fn planted_codes() -> Vec<&'static str> {
    let mut codes: Vec<&str> = [
        AnomalyCode::UnknownPerson,
        AnomalyCode::NameMismatch,
        AnomalyCode::Deceased,
        AnomalyCode::DuplicateLine,
        AnomalyCode::ExclusiveConflict,
        AnomalyCode::MissingPrerequisite,
        AnomalyCode::CapExceeded,
        AnomalyCode::NoActiveCard,
    ]
    .iter()
    .map(|c| c.as_str())
    .collect();
    codes.push(super::output::REJECTED_ROW);
    codes
}

pub struct Planner {
    /// (person index, role), ascending by index.
    forced: Vec<(u64, Role)>,
    next: usize,
}

impl Planner {
    pub fn new(persons: u64) -> Planner {
        let n = RATES.len() as u64;
        let forced = if persons >= 2 * n {
            RATES.iter().enumerate().map(|(k, (role, _))| ((2 * k as u64 + 1) * persons / (2 * n), *role)).collect()
        } else {
            Vec::new()
        };
        Planner { forced, next: 0 }
    }

    /// The role of person `index`; indices must be asked for in ascending order.
    pub fn role<R: Rng>(&mut self, rng: &mut R, index: u64) -> Role {
        let draw: f64 = rng.gen();
        if let Some(&(at, role)) = self.forced.get(self.next) {
            if at == index {
                self.next += 1;
                return role;
            }
        }
        let mut acc = 0.0;
        for (role, rate) in RATES {
            acc += rate;
            if draw < acc {
                return *role;
            }
        }
        Role::Normal
    }
}

/// How a spreadsheet shows an 18-digit number in General format: six
/// significant digits, `4.40703E+17`.
pub fn scientific(id: &PersonId) -> String {
    let s = id.as_str();
    let head: u64 = s[..7].parse().unwrap_or(0);
    let rounded = (head + 5) / 10;
    if rounded >= 1_000_000 {
        return "1E+18".to_string();
    }
    let digits = rounded.to_string();
    let frac = digits[1..].trim_end_matches('0');
    if frac.is_empty() {
        format!("{}E+17", &digits[..1])
    } else {
        format!("{}.{frac}E+17", &digits[..1])
    }
}

/// A person id as a rejected row writes it, and the reason the importer must give.
pub fn mangled_id(kind: RejectKind, id: &PersonId) -> (String, String) {
    let s = id.as_str();
    match kind {
        RejectKind::IdTrailingZero if s[6..8] == *"19" => {
            // A legacy 15-digit number read as a float by a script: exact, with `.0`.
            let v = format!("{}{}.0", &s[..6], &s[8..17]);
            (v.clone(), format!("person_id '{v}' mangled by a spreadsheet (a trailing .0)"))
        }
        RejectKind::IdTrailingZero if !s.ends_with('X') => {
            let v = format!("{s}.0");
            (v.clone(), format!("person_id '{v}' mangled by a spreadsheet (a trailing .0)"))
        }
        RejectKind::IdCheckChar => {
            const CHARS: &[u8] = b"10X98765432";
            let last = s.as_bytes()[17];
            let i = CHARS.iter().position(|c| *c == last).unwrap_or(0);
            let wrong = char::from(CHARS[(i + 3) % CHARS.len()]);
            let v = format!("{}{wrong}", &s[..17]);
            (v.clone(), format!("person_id '{v}' has a wrong check character"))
        }
        _ => {
            let v = scientific(id);
            (v.clone(), format!("person_id '{v}' mangled by a spreadsheet (scientific notation)"))
        }
    }
}

/// The for_period of a rejected row that pays a month after the period.
pub fn month_after(period: Period) -> String {
    period.next().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn spreadsheet_forms_are_what_excel_shows() {
        let date = NaiveDate::from_ymd_opt(1940, 1, 15).unwrap();
        let id = PersonId::from_parts("440703", date, 2).unwrap();
        assert_eq!(scientific(&id), "4.40703E+17");
        let (v, _) = mangled_id(RejectKind::IdTrailingZero, &id);
        assert_eq!(v, "440703400115002.0");
        let (v, _) = mangled_id(RejectKind::IdCheckChar, &id);
        assert!(PersonId::parse(&v).is_err());
        for kind in [RejectKind::IdScientific, RejectKind::IdTrailingZero, RejectKind::IdCheckChar] {
            assert!(PersonId::parse(&mangled_id(kind, &id).0).is_err(), "{kind:?}");
        }
    }

    #[test]
    fn forced_roles_are_distinct_indices() {
        let p = Planner::new(1000);
        assert_eq!(p.forced.len(), RATES.len());
        assert!(p.forced.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
