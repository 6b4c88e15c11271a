//! One person's registry entry and roster lines, for a normal person or one
//! carrying a planted role. A planted person gets exactly the lines of the
//! role, so that one planted anomaly never causes another by accident.

use rand::Rng;

use super::names::{self, VARIANT_DOTS_GBK, VARIANT_DOTS_UTF8};
use super::output::{roster_layout, Line, Plant, REJECTED_ROW};
use super::people::{CardRule, DeathRule, Person, PersonFactory};
use super::plant::{self, RejectKind, Role};
use super::programs::{fen, Amounts, Benefit};
use super::sample::pick;
use super::GenError;
use crate::domain::{AnomalyCode, Money, Period, PersonId, Program};

pub struct City {
    period: Period,
    pub people: PersonFactory,
    amounts: Amounts,
}

fn plant(code: AnomalyCode, person_id: &PersonId, note: String) -> Option<Plant> {
    Some(Plant { code: code.as_str(), person_id: person_id.to_string(), note })
}

impl City {
    pub fn new(period: Period, seed: u64) -> City {
        City { period, people: PersonFactory::new(period, seed), amounts: Amounts::new() }
    }

    /// The person at `index` with the lines of `role`.
    pub fn person<R: Rng>(&mut self, rng: &mut R, index: u64, role: Role) -> Result<(Person, Vec<Line>), GenError> {
        let (card, death) = match role {
            Role::Normal | Role::UnknownPerson => (CardRule::Natural, DeathRule::Natural),
            Role::Deceased => (CardRule::None, DeathRule::BeforePeriod),
            Role::NoCard => (CardRule::None, DeathRule::Alive),
            Role::Unencodable => (CardRule::GbkBank, DeathRule::Alive),
            _ => (CardRule::Some, DeathRule::Alive),
        };
        let mut person = self.people.person(rng, index, card, death).ok_or(GenError::IdSpaceExhausted { index })?;
        let age = person.age(self.period);
        let mut lines = Vec::new();
        let current = self.period;
        match role {
            Role::Normal | Role::UnknownPerson => {
                self.normal_lines(rng, &mut person, age, &mut lines);
                if role == Role::UnknownPerson {
                    lines.push(self.stranger_line(rng, index)?);
                }
            }
            Role::NameMismatch => {
                let (program, amount) = self.single(rng, &person, age, false);
                let mut line = self.line(rng, &person, program, amount, None);
                line.name = names::misspelled(rng, &person.name);
                let note = format!("roster name {} differs from registered {}", line.name, person.name.full());
                line.plant = plant(AnomalyCode::NameMismatch, &person.id, note);
                lines.push(line);
            }
            Role::Deceased => {
                let (program, amount) = self.single(rng, &person, age, false);
                let mut line = self.line(rng, &person, program, amount, None);
                let died = person.death.map(|d| d.to_string()).unwrap_or_default();
                line.plant = plant(AnomalyCode::Deceased, &person.id, format!("died {died}, listed for {current}"));
                lines.push(line);
            }
            Role::DuplicateRegion => {
                let (program, amount) = self.single(rng, &person, age, false);
                let home = self.line(rng, &person, program, amount, None);
                let mut other = home.clone();
                other.region = self.people.regions().neighbour(rng, &person.home).code;
                let note = format!("also listed by office {}; registry region is {}", other.region, person.home.code);
                other.plant = plant(AnomalyCode::DuplicateLine, &person.id, note);
                let (home, other) = (Line { region: person.home.code.clone(), ..home }, other);
                if rng.gen_bool(0.5) {
                    lines.extend([home, other]);
                } else {
                    lines.extend([other, home]);
                }
            }
            Role::DuplicateArrears => {
                let program = *pick(rng, &[Program::Dibao, Program::Wubao, Program::DisabilityCare, Program::Veteran]);
                let amount = self.amounts.amount(rng, program, person.home.district, person.male);
                lines.push(self.line(rng, &person, program, amount, None));
                let arrears = self.line(rng, &person, program, amount, Some(current.prev()));
                let mut again = arrears.clone();
                again.appendix = true;
                let note = format!("back pay for {} listed again in the appendix", current.prev());
                again.plant = plant(AnomalyCode::DuplicateLine, &person.id, note);
                lines.extend([arrears, again]);
            }
            Role::Exclusive => {
                for program in [Program::Dibao, Program::Wubao] {
                    let amount = self.amounts.amount(rng, program, person.home.district, person.male);
                    let mut line = self.line(rng, &person, program, amount, None);
                    line.plant = plant(AnomalyCode::ExclusiveConflict, &person.id, "both dibao and wubao".into());
                    lines.push(line);
                }
            }
            Role::MissingPrerequisite => {
                let amount = self.amounts.amount(rng, Program::DisabilityLiving, person.home.district, person.male);
                let mut line = self.line(rng, &person, Program::DisabilityLiving, amount, None);
                line.plant =
                    plant(AnomalyCode::MissingPrerequisite, &person.id, "disability_living without dibao".into());
                lines.push(line);
                if rng.gen_bool(0.5) {
                    let amount = self.amounts.amount(rng, Program::DisabilityCare, person.home.district, person.male);
                    lines.push(self.line(rng, &person, Program::DisabilityCare, amount, None));
                }
            }
            Role::CapExceeded => {
                let program =
                    *pick(rng, &[Program::Dibao, Program::Veteran, Program::TempRelief, Program::Unemployment]);
                let amount = match program {
                    // A spreadsheet typo: an extra zero.
                    Program::Dibao | Program::Unemployment => {
                        let base = self.amounts.amount(rng, program, person.home.district, person.male);
                        fen(base.fen() * 10)
                    }
                    // Two categories summed onto one line.
                    Program::Veteran => fen((4215 + *pick(rng, &[1028, 1286, 2110])) * 100),
                    _ => fen(*pick(rng, &[25_000, 30_000, 50_000]) * 100),
                };
                let mut line = self.line(rng, &person, program, amount, None);
                let note = format!("amount {amount} above cap {}", program.default_cap());
                line.plant = plant(AnomalyCode::CapExceeded, &person.id, note);
                lines.push(line);
            }
            Role::NoCard => {
                let (program, amount) = self.single(rng, &person, age, false);
                let mut programs = vec![(program, amount)];
                if program != Program::DisabilityCare && rng.gen_bool(0.4) {
                    let amount = self.amounts.amount(rng, Program::DisabilityCare, person.home.district, person.male);
                    programs.push((Program::DisabilityCare, amount));
                }
                for (program, amount) in programs {
                    let mut line = self.line(rng, &person, program, amount, None);
                    line.plant = plant(AnomalyCode::NoActiveCard, &person.id, "no card in the registry".into());
                    lines.push(line);
                }
            }
            Role::Unencodable => {
                person.name = names::with_rare_char(rng, &person.name);
                let (program, amount) = self.single(rng, &person, age, true);
                let mut line = self.line(rng, &person, program, amount, None);
                let bank = person.card.as_ref().map(|c| c.bank.code).unwrap_or_default();
                let note = format!("unencodable in GBK: {} (bank {bank})", person.name.full());
                line.plant = plant(AnomalyCode::NameMismatch, &person.id, note);
                lines.push(line);
            }
            Role::Rejected(kind) => lines.push(self.rejected_line(rng, &person, age, kind)),
        }
        Ok((person, lines))
    }

    /// One program and its amount for a planted line.
    fn single<R: Rng>(&self, rng: &mut R, p: &Person, age: i32, utf8_only: bool) -> (Program, Money) {
        let program = self.amounts.single_program(rng, age, utf8_only);
        (program, self.amounts.amount(rng, program, p.home.district, p.male))
    }

    /// A normal person's lines: benefits if alive with a card, back pay for
    /// some, and now and then a rare name where it can cause no anomaly.
    fn normal_lines<R: Rng>(&self, rng: &mut R, person: &mut Person, age: i32, lines: &mut Vec<Line>) {
        let benefits: Vec<Benefit> = if person.death.is_none() && person.card.is_some() {
            self.amounts.benefits(rng, person, age)
        } else {
            Vec::new()
        };
        if rng.gen_bool(2e-4) {
            let in_gbk_file = benefits.iter().any(|b| roster_layout(b.program).gbk);
            let alive_at_end = person.death.filter(|&d| d <= self.period.last_day()).is_none();
            let harmless = match &person.card {
                None => true,
                Some(card) => !card.bank.gbk_layout || (benefits.is_empty() && !(alive_at_end && age >= 80)),
            };
            if !in_gbk_file && harmless {
                person.name = names::with_rare_char(rng, &person.name);
            }
        }
        for b in benefits {
            lines.push(self.line(rng, person, b.program, b.amount, None));
            if b.back_pay {
                lines.push(self.line(rng, person, b.program, b.amount, Some(self.period.prev())));
            }
        }
    }

    /// A line of a person the registry does not know.
    fn stranger_line<R: Rng>(&mut self, rng: &mut R, index: u64) -> Result<Line, GenError> {
        let (id, name) = self.people.stranger(rng).ok_or(GenError::IdSpaceExhausted { index })?;
        let home = self.people.regions().home(rng);
        let age = id.age_on(self.period.last_day());
        let program = self.amounts.single_program(rng, age, false);
        let amount = self.amounts.amount(rng, program, home.district, id.gender() == crate::domain::Gender::Male);
        Ok(Line {
            program,
            person_id: id.to_string(),
            name: name.full(),
            amount: amount.to_string(),
            region: home.code,
            for_period: String::new(),
            appendix: false,
            plant: plant(AnomalyCode::UnknownPerson, &id, "not in cardholders.csv".into()),
        })
    }

    /// A good line as a department writes it: the id, name and amount vary in
    /// ways that normalise to the registered values.
    fn line<R: Rng>(
        &self,
        rng: &mut R,
        p: &Person,
        program: Program,
        amount: Money,
        for_period: Option<Period>,
    ) -> Line {
        let layout = roster_layout(program);
        let id = p.id.as_str();
        let person_id = if id.ends_with('X') && rng.gen_bool(0.15) {
            id.replace('X', "x")
        } else if &id[6..10] < "1982" && rng.gen_bool(0.003) {
            // The legacy 15-digit number of someone who got an id before 1999.
            format!("{}{}", &id[..6], &id[8..17])
        } else if rng.gen_bool(0.002) {
            format!(" {id} ")
        } else {
            id.to_string()
        };
        let full = p.name.full();
        let name = if p.name.minority && rng.gen_bool(0.3) {
            let dot = if layout.gbk { *pick(rng, VARIANT_DOTS_GBK) } else { *pick(rng, VARIANT_DOTS_UTF8) };
            full.replace('·', &dot.to_string())
        } else if rng.gen_bool(0.003) {
            format!("{full} ")
        } else {
            full
        };
        // Spreadsheets drop the decimals of whole amounts.
        let amount = if layout.gbk && amount.fen() % 100 == 0 && rng.gen_bool(0.1) {
            (amount.fen() / 100).to_string()
        } else {
            amount.to_string()
        };
        let region =
            if rng.gen_bool(0.005) { self.people.regions().neighbour(rng, &p.home).code } else { p.home.code.clone() };
        Line {
            program,
            person_id,
            name,
            amount,
            region,
            for_period: for_period.map(|f| f.to_string()).unwrap_or_default(),
            appendix: false,
            plant: None,
        }
    }

    /// A row the importer must reject, with the reason it should give.
    fn rejected_line<R: Rng>(&self, rng: &mut R, p: &Person, age: i32, kind: RejectKind) -> Line {
        let program = match kind {
            RejectKind::AmountThousands if (18..=59).contains(&age) => Program::Unemployment,
            RejectKind::AmountThousands => Program::Wubao,
            _ => self.amounts.single_program(rng, age, false),
        };
        let amount = self.amounts.amount(rng, program, p.home.district, p.male);
        let mut line = Line { region: p.home.code.clone(), ..self.line(rng, p, program, amount, None) };
        line.person_id = p.id.to_string();
        let note = match kind {
            RejectKind::IdScientific | RejectKind::IdTrailingZero | RejectKind::IdCheckChar => {
                let (raw, note) = plant::mangled_id(kind, &p.id);
                line.person_id = raw;
                note
            }
            RejectKind::AmountThousands => {
                let yuan = amount.fen() / 100;
                line.amount = format!("{},{:03}.{:02}", yuan / 1000, yuan % 1000, amount.fen() % 100);
                format!("amount '{}' has a thousands separator", line.amount)
            }
            RejectKind::AmountDecimals => {
                line.amount = format!("{amount}{}", rng.gen_range(1..=9));
                format!("amount '{}' has more than two decimals", line.amount)
            }
            RejectKind::ForPeriodAfter => {
                line.for_period = plant::month_after(self.period);
                format!("for_period {} is after period {}", line.for_period, self.period)
            }
            RejectKind::EmptyName => {
                line.name = String::new();
                "name is empty".to_string()
            }
        };
        line.plant = Some(Plant { code: REJECTED_ROW, person_id: p.id.to_string(), note });
        line
    }
}
