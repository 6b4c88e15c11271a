//! Which programs a person receives and how much: prevalence by age and
//! gender in realistic proportions, amounts as the departments compute them.
//! Everything here is a payable line; planted anomalies are made in `plant`.

use rand::Rng;

use super::people::Person;
use super::regions::DISTRICTS;
use super::sample::{pick, Weighted};
use crate::domain::{Money, Program};

/// One benefit of a person this month; `back_pay` adds a line for the
/// previous month (a recipient approved late, 补发).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Benefit {
    pub program: Program,
    pub amount: Money,
    pub back_pay: bool,
}

/// Amounts in fen are positive constants or sums below every cap, so
/// `from_fen` cannot refuse them; tests parse every written amount as payable.
pub fn fen(amount: i64) -> Money {
    Money::from_fen(amount).unwrap_or(Money::ZERO)
}

/// Veterans' categories and monthly amounts in yuan (参战退役、在乡复员、带病回乡、
/// 残疾军人 by grade, 烈属/因公牺牲遗属).
const VETERAN_AMOUNTS: &[(i64, u32)] =
    &[(865, 10), (1028, 25), (1205, 12), (1286, 15), (1490, 10), (2110, 8), (2640, 8), (3380, 7), (4215, 5)];
const TEMP_RELIEF_AMOUNTS: &[(i64, u32)] =
    &[(500, 15), (800, 15), (1000, 25), (1500, 15), (2000, 15), (3000, 10), (5000, 5)];

pub struct Amounts {
    veteran: Weighted<i64>,
    temp_relief: Weighted<i64>,
}

impl Amounts {
    pub fn new() -> Amounts {
        Amounts { veteran: Weighted::new(VETERAN_AMOUNTS), temp_relief: Weighted::new(TEMP_RELIEF_AMOUNTS) }
    }

    /// A realistic monthly amount of `program` for a person living in
    /// `district` (index into `DISTRICTS`).
    pub fn amount<R: Rng>(&self, rng: &mut R, program: Program, district: usize, male: bool) -> Money {
        let yuan = |y: i64| fen(y * 100);
        match program {
            // City standard minus assessed income, in whole yuan or half yuan; at least 780.
            Program::Dibao => {
                let standard = DISTRICTS[district].dibao_standard * 100;
                if rng.gen_bool(0.35) {
                    fen(standard)
                } else {
                    let step = if rng.gen_bool(0.3) { 50 } else { 100 };
                    let income = rng.gen_range(1..=(standard - 78_000) / step) * step;
                    fen(standard - income)
                }
            }
            // Basic support plus a care supplement by self-care ability.
            Program::Wubao => yuan(*pick(rng, &[1430, 1430, 1430, 1530, 1600])),
            Program::DisabilityCare => yuan(if rng.gen_bool(0.6) { 150 } else { 200 }),
            Program::DisabilityLiving => yuan(*pick(rng, &[100, 150, 150, 150, 200])),
            Program::Veteran => {
                // Survivors (mostly women) receive the survivors' rates.
                if male {
                    yuan(*self.veteran.sample(rng))
                } else {
                    yuan(*pick(rng, &[2110, 2640]))
                }
            }
            // 90% of the minimum wage, more for longer contribution records.
            Program::Unemployment => yuan(*pick(rng, &[1710, 1710, 1710, 1710, 1790, 1880, 2000])),
            Program::TempRelief => yuan(*self.temp_relief.sample(rng)),
            Program::Elderly => yuan(100),
        }
    }

    /// The programs of one person this month. Call only for a living person
    /// with a card: the departments do not enrol others.
    pub fn benefits<R: Rng>(&self, rng: &mut R, person: &Person, age: i32) -> Vec<Benefit> {
        let mut out = Vec::new();
        let p_dibao = match age {
            ..=15 => 0.028,
            16..=59 => 0.017,
            60..=79 => 0.034,
            _ => 0.04,
        };
        let p_wubao = match age {
            ..=15 => 0.001,
            16..=59 => 0.0015,
            _ => 0.012,
        };
        let p_care = match age {
            ..=59 => 0.006,
            60..=79 => 0.015,
            _ => 0.03,
        };
        let p_veteran = match (person.male, age) {
            (true, 50..) => 0.02,
            (true, 35..=49) => 0.008,
            (false, 50..) => 0.002,
            _ => 0.0,
        };
        let p_unemployment = if (18..=59).contains(&age) { 0.01 } else { 0.0 };
        let add = |rng: &mut R, out: &mut Vec<Benefit>, program: Program| {
            let amount = self.amount(rng, program, person.home.district, person.male);
            let back_pay = program != Program::TempRelief && rng.gen_bool(0.02);
            out.push(Benefit { program, amount, back_pay });
        };
        if rng.gen_bool(p_dibao) {
            add(rng, &mut out, Program::Dibao);
            // Living subsidy for disabled dibao recipients, never back-paid alone.
            if rng.gen_bool(0.15) {
                let amount = self.amount(rng, Program::DisabilityLiving, person.home.district, person.male);
                out.push(Benefit { program: Program::DisabilityLiving, amount, back_pay: false });
            }
        } else if rng.gen_bool(p_wubao) {
            add(rng, &mut out, Program::Wubao);
        }
        if rng.gen_bool(p_care) {
            add(rng, &mut out, Program::DisabilityCare);
        }
        if rng.gen_bool(p_veteran) {
            add(rng, &mut out, Program::Veteran);
        }
        if rng.gen_bool(p_unemployment) {
            add(rng, &mut out, Program::Unemployment);
        }
        if rng.gen_bool(0.0003) {
            add(rng, &mut out, Program::TempRelief);
        }
        out
    }

    /// One program for a planted line, plausible for the age; never a
    /// program that depends on another line.
    pub fn single_program<R: Rng>(&self, rng: &mut R, age: i32, utf8_only: bool) -> Program {
        let mut choices: Vec<(Program, u32)> =
            vec![(Program::Dibao, 45), (Program::Wubao, 10), (Program::TempRelief, 5)];
        if (18..=59).contains(&age) {
            choices.push((Program::Unemployment, 15));
        }
        if !utf8_only {
            choices.push((Program::DisabilityCare, 20));
            if age >= 35 {
                choices.push((Program::Veteran, 8));
            }
        }
        *Weighted::new(&choices).sample(rng)
    }
}
