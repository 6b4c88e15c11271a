//! One synthetic cardholder at a time: birth from an age pyramid relative to
//! the period, a unique valid person id, a name fitting gender and era, a home,
//! a phone, a possible death, and a card with a Luhn-valid account. Uniqueness
//! comes from construction (per-birthday sequence counters, keyed
//! permutations), so nothing per person is remembered.

use chrono::{Datelike, Days, NaiveDate};
use rand::Rng;

use super::names::{Name, NameTables};
use super::regions::{self, Home, RegionPicker};
use super::sample::{mix64, permute_8_digits, pick, Weighted};
use crate::domain::{AccountNo, CardNo, Period, PersonId};

/// Population of China by five-year age group at the 2020 census, in
/// hundred-thousands (ages 0–4, 5–9, …, 95–99, 100+): the 1960s and late
/// 1980s cohorts are the bulges.
const CENSUS_2020: [u32; 21] =
    [779, 902, 853, 727, 749, 919, 1241, 990, 930, 1142, 1212, 1014, 734, 740, 496, 310, 204, 116, 44, 12, 1];
/// Births per year after the census, in hundred-thousands.
const BIRTHS_AFTER_2020: [u32; 6] = [106, 96, 90, 95, 87, 85];

/// Gompertz mortality: hazard a·e^(b·age) per year.
const GOMPERTZ_A: f64 = 3.0e-5;
const GOMPERTZ_B: f64 = 0.095;

fn survival(age: f64) -> f64 {
    (-(GOMPERTZ_A / GOMPERTZ_B) * ((GOMPERTZ_B * age).exp() - 1.0)).exp()
}

/// Age in whole years on `date` (as `PersonId::age_on`, without parsing the id).
pub fn age_on(birth: NaiveDate, date: NaiveDate) -> i32 {
    let mut age = date.year() - birth.year();
    if (date.month(), date.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

fn hazard(age: i32) -> f64 {
    GOMPERTZ_A * (GOMPERTZ_B * f64::from(age.max(0))).exp()
}

/// A bank that issues social security cards in the city.
#[derive(Debug)]
pub struct Bank {
    pub code: &'static str,
    /// Issuer prefix (BIN) of its debit cards.
    pub bin: &'static str,
    /// Its Jiangmen branch number inside the account body.
    pub branch: &'static str,
    /// Whether its disbursement layout is a GBK text layout (bank_formats/*.toml).
    pub gbk_layout: bool,
}

/// The five card banks with their shares of cards issued.
pub const BANKS: &[(Bank, u32)] = &[
    (Bank { code: "102", bin: "622202", branch: "2012", gbk_layout: true }, 24), // 工商银行
    (Bank { code: "103", bin: "622848", branch: "4465", gbk_layout: true }, 20), // 农业银行
    (Bank { code: "104", bin: "621785", branch: "6532", gbk_layout: false }, 12), // 中国银行, ISO 20022
    (Bank { code: "105", bin: "621700", branch: "4405", gbk_layout: true }, 22), // 建设银行
    (Bank { code: "403", bin: "621799", branch: "9440", gbk_layout: true }, 22), // 邮政储蓄银行
];

/// Mobile number segments (号段) of the three carriers.
const PHONE_PREFIXES: &[&str] = &[
    "134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159", "182", "183", "187", "188",
    "198", "130", "131", "132", "155", "156", "185", "186", "166", "176", "133", "153", "177", "180", "181", "189",
    "199", "173", "191",
];

/// Letters that begin card numbers (issuing batches).
const CARD_LETTERS: &[u8] = b"ABCDEFGHJK";

#[derive(Debug, Clone)]
pub struct Card {
    pub card_no: CardNo,
    pub bank: &'static Bank,
    pub account: AccountNo,
}

#[derive(Debug, Clone)]
pub struct Person {
    pub id: PersonId,
    pub male: bool,
    /// The birth date inside `id`, kept to spare re-parsing it.
    pub birth: NaiveDate,
    pub name: Name,
    pub home: Home,
    pub phone: Option<String>,
    pub death: Option<NaiveDate>,
    pub card: Option<Card>,
}

impl Person {
    /// Age in whole years on the last day of the period.
    pub fn age(&self, period: Period) -> i32 {
        age_on(self.birth, period.last_day())
    }
}

/// What a planted role requires of a person; `Natural` lets chance decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardRule {
    Natural,
    None,
    /// A card at a bank with a GBK text layout.
    GbkBank,
    Some,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeathRule {
    Natural,
    Alive,
    /// Died in one of the twelve months before the period.
    BeforePeriod,
}

/// Allocates person ids unique by construction: for each (birthplace, birth
/// date, gender) a counter steps through up to 255 of the 499 sequence
/// numbers of that gender in a scrambled order. The table's size depends on the number of
/// birthplaces and days, not on the number of persons.
struct IdAllocator {
    places: Vec<&'static str>,
    earliest: NaiveDate,
    days: usize,
    counters: Vec<u8>,
    salt: u64,
}

impl IdAllocator {
    fn new(earliest: NaiveDate, latest: NaiveDate, salt: u64) -> IdAllocator {
        let places = regions::all_birthplaces();
        let days = usize::try_from((latest - earliest).num_days() + 1).unwrap_or(0);
        IdAllocator { counters: vec![0; places.len() * days * 2], places, earliest, days, salt }
    }

    /// A fresh id born on `birth` (or, if that day's numbers are used up, a few days earlier).
    fn alloc(&mut self, place: usize, mut birth: NaiveDate, male: bool) -> Option<(PersonId, NaiveDate)> {
        loop {
            let day = usize::try_from((birth - self.earliest).num_days()).ok().filter(|d| *d < self.days)?;
            let slot = (place * self.days + day) * 2 + usize::from(male);
            let k = u64::from(self.counters[slot]);
            if k < 255 {
                self.counters[slot] += 1;
                let offset = mix64(self.salt ^ ((place as u64) << 40) ^ day as u64) % 499;
                let half = (offset + k * 211) % 499 + 1;
                let sequence = u16::try_from(half * 2 + u64::from(male)).ok()?;
                return PersonId::from_parts(self.places[place], birth, sequence).map(|id| (id, birth));
            }
            birth = birth.pred_opt()?;
        }
    }
}

pub struct PersonFactory {
    period: Period,
    latest_birth: NaiveDate,
    birth_years: Weighted<i32>,
    names: NameTables,
    regions: RegionPicker,
    migrants: Weighted<usize>,
    minorities: Weighted<usize>,
    banks: Weighted<usize>,
    gbk_banks: Weighted<usize>,
    ids: IdAllocator,
    card_key: u64,
    account_key: u64,
}

impl PersonFactory {
    pub fn new(period: Period, seed: u64) -> PersonFactory {
        let year = period.year();
        // Newborns appear in the registry about a month after birth.
        let latest_birth = period.first_day() - Days::new(31);
        let earliest_year = year - 106;
        let mut years = Vec::new();
        for b in earliest_year..=latest_birth.year() {
            let base = if b <= 2020 {
                let age20 = 2020 - b;
                if age20 > 104 {
                    0.0
                } else {
                    f64::from(CENSUS_2020[(age20 / 5).min(20) as usize]) / 5.0
                }
            } else {
                f64::from(BIRTHS_AFTER_2020[((b - 2021) as usize).min(5)])
            };
            let shift = survival(f64::from(year - b)) / survival(f64::from((2020 - b).max(0)));
            let part_of_year = if b == latest_birth.year() { f64::from(latest_birth.ordinal()) / 366.0 } else { 1.0 };
            years.push((b, (base * shift * part_of_year * 1000.0) as u32));
        }
        let earliest = NaiveDate::from_ymd_opt(earliest_year, 1, 1).unwrap_or(NaiveDate::MIN);
        let n = regions::DISTRICTS.len();
        let migrants: Vec<(usize, u32)> =
            regions::MIGRANT_BIRTHPLACES.iter().enumerate().map(|(i, (_, w))| (n + i, *w)).collect();
        let m = n + regions::MIGRANT_BIRTHPLACES.len();
        let minorities: Vec<(usize, u32)> =
            regions::MINORITY_BIRTHPLACES.iter().enumerate().map(|(i, (_, w))| (m + i, *w)).collect();
        let banks: Vec<(usize, u32)> = BANKS.iter().enumerate().map(|(i, (_, w))| (i, *w)).collect();
        let gbk: Vec<(usize, u32)> =
            banks.iter().map(|&(i, w)| (i, if BANKS[i].0.gbk_layout { w } else { 0 })).collect();
        PersonFactory {
            period,
            latest_birth,
            birth_years: Weighted::new(&years),
            names: NameTables::new(),
            regions: RegionPicker::new(),
            migrants: Weighted::new(&migrants),
            minorities: Weighted::new(&minorities),
            banks: Weighted::new(&banks),
            gbk_banks: Weighted::new(&gbk),
            ids: IdAllocator::new(earliest, latest_birth, mix64(seed ^ 0x1D)),
            card_key: mix64(seed ^ 0xCA2D),
            account_key: mix64(seed ^ 0xACC7),
        }
    }

    pub fn regions(&self) -> &RegionPicker {
        &self.regions
    }

    fn birth_date<R: Rng>(&self, rng: &mut R) -> NaiveDate {
        let year = *self.birth_years.sample(rng);
        let first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(self.latest_birth);
        let last = NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(self.latest_birth).min(self.latest_birth);
        let span = (last - first).num_days().max(0) as u64;
        first + Days::new(rng.gen_range(0..=span))
    }

    /// A person; `None` only if the id space of a birth date ran out (it cannot at city scale).
    pub fn person<R: Rng>(&mut self, rng: &mut R, index: u64, card: CardRule, death: DeathRule) -> Option<Person> {
        let birth = self.birth_date(rng);
        let age = self.period.last_day().year() - birth.year();
        let p_male = match age {
            ..=19 => 0.53,
            20..=59 => 0.51,
            60..=79 => 0.48,
            80..=89 => 0.42,
            _ => 0.33,
        };
        let male = rng.gen_bool(p_male);
        let home = self.regions.home(rng);
        // Migrants are mostly of working age; a few are Uyghur.
        let p_migrant = if (18..=50).contains(&age) { 0.28 } else { 0.06 };
        let migrant = rng.gen_bool(p_migrant);
        let minority = migrant && rng.gen_bool(0.01);
        let place = if minority {
            *self.minorities.sample(rng)
        } else if migrant {
            *self.migrants.sample(rng)
        } else if rng.gen_bool(0.82) {
            home.district
        } else {
            rng.gen_range(0..regions::DISTRICTS.len())
        };
        let (id, birth) = self.ids.alloc(place, birth, male)?;
        let name = if minority {
            self.names.minority(rng, male)
        } else {
            let local = !migrant || rng.gen_bool(0.15);
            self.names.han(rng, male, birth.year(), local)
        };
        let age = age_on(birth, self.period.last_day());
        let p_phone = match age {
            ..=15 => 0.25,
            16..=69 => 0.96,
            70..=84 => 0.75,
            _ => 0.5,
        };
        let phone = if rng.gen_bool(p_phone) {
            let prefix = pick(rng, PHONE_PREFIXES);
            Some(format!("{prefix}{:08}", rng.gen_range(0..100_000_000u32)))
        } else {
            None
        };
        let death = match death {
            DeathRule::Alive => None,
            DeathRule::BeforePeriod => {
                let back = rng.gen_range(1..=365u64);
                Some((self.period.first_day() - Days::new(back)).max(birth))
            }
            DeathRule::Natural => {
                // Deaths of the last two years stay in the registry (about 1.5 years' worth
                // by then); a few fall in the period's month.
                let p = (1.5 * hazard(age)).min(0.6);
                if rng.gen_bool(p) {
                    let date = self.period.first_day() - Days::new(730) + Days::new(rng.gen_range(0..745));
                    (date > birth).then_some(date.min(self.period.last_day()))
                } else {
                    None
                }
            }
        };
        let has_card = match card {
            CardRule::None => false,
            CardRule::Some | CardRule::GbkBank => true,
            // Cards of the dead are cancelled; migrants more often have none yet.
            CardRule::Natural => death.is_none() && rng.gen_bool(if migrant { 0.95 } else { 0.99 }),
        };
        let card = if has_card { Some(self.card(rng, index, card == CardRule::GbkBank)?) } else { None };
        Some(Person { id, male, birth, name, home, phone, death, card })
    }

    /// A card whose number and account serial are keyed permutations of the
    /// person's index: unique for up to 100,000,000 persons.
    fn card<R: Rng>(&self, rng: &mut R, index: u64, gbk: bool) -> Option<Card> {
        let letter = char::from(*pick(rng, CARD_LETTERS));
        let card_no = CardNo::parse(&format!("{letter}{:08}", permute_8_digits(index, self.card_key))).ok()?;
        let bank = &BANKS[if gbk { *self.gbk_banks.sample(rng) } else { *self.banks.sample(rng) }].0;
        let body = format!("{}{}{:08}", bank.bin, bank.branch, permute_8_digits(index, self.account_key));
        let account = AccountNo::with_check_digit(&body)?;
        Some(Card { card_no, bank, account })
    }

    /// A valid id that no registry person has, for a roster line of someone
    /// the registry does not know (a person from another city, or never registered).
    pub fn stranger<R: Rng>(&mut self, rng: &mut R) -> Option<(PersonId, Name)> {
        let birth = self.birth_date(rng);
        let male = rng.gen_bool(0.5);
        let place = *self.migrants.sample(rng);
        let (id, birth) = self.ids.alloc(place, birth, male)?;
        Some((id, self.names.han(rng, male, birth.year(), false)))
    }
}
