use super::*;
use AnomalyCode::*;

fn p(s: &str) -> Period {
    Period::parse("t", s).unwrap()
}

fn yuan(s: &str) -> Money {
    Money::parse(s).unwrap()
}

fn config() -> Config {
    Config::default()
}

fn card() -> Payee {
    Payee::Card { card_id: 1, bank_code: "105".into(), account_no: "6217000000000000006".into(), unencodable: None }
}

fn person(candidates: Vec<Candidate>) -> PersonInputs {
    PersonInputs {
        person_id: "11010519491231002X".into(),
        registered: Some(Registered { name: "陈秀英".into(), region_code: "440703001001".into(), death_date: None }),
        payee: card(),
        candidates,
        existing: vec![],
    }
}

/// A roster line of file 1 at `line`, for `program` in 2026-11.
fn line(line: i64, program: Program, amount: &str) -> Candidate {
    Candidate {
        origin: Origin::Line { line_id: line },
        program,
        benefit_month: p("2026-11"),
        amount: yuan(amount),
        name: Some("陈秀英".into()),
        region_code: Some("440703001001".into()),
        order: (1, line),
    }
}

/// The outcome of each key, in key order.
fn outcomes(inputs: &PersonInputs) -> Vec<(Program, Outcome)> {
    decide(inputs, &config()).keys.iter().map(|d| (inputs.candidates[d.candidate].program, d.outcome.clone())).collect()
}

#[test]
fn a_plain_line_is_paid() {
    let i = person(vec![line(1, Program::Dibao, "780.00")]);
    assert_eq!(outcomes(&i), [(Program::Dibao, Outcome::Pay)]);
    assert_eq!(decide(&i, &config()).payable_total(&i), yuan("780.00"));
}

#[test]
fn each_rule_decides_in_its_order() {
    type Change = Box<dyn Fn(&mut PersonInputs)>;
    let cases: Vec<(&str, Change, Outcome)> = vec![
        ("unknown person", Box::new(|i| i.registered = None), Outcome::Hold(UnknownPerson)),
        (
            "unknown beats no card",
            Box::new(|i| {
                i.registered = None;
                i.payee = Payee::None("no card".into());
            }),
            Outcome::Hold(UnknownPerson),
        ),
        ("name mismatch", Box::new(|i| i.candidates[0].name = Some("陈秀容".into())), Outcome::Hold(NameMismatch)),
        (
            "name outside GBK for a GBK bank",
            Box::new(|i| {
                i.payee =
                    Payee::Card {
                        card_id: 1, bank_code: "105".into(), account_no: "x".into(), unencodable: Some('𠮷')
                    }
            }),
            Outcome::Hold(NameMismatch),
        ),
        (
            "died before the benefit month",
            Box::new(|i| i.registered.as_mut().unwrap().death_date = NaiveDate::from_ymd_opt(2026, 10, 31)),
            Outcome::NotPaid(Deceased),
        ),
        (
            "died in the benefit month: still due",
            Box::new(|i| i.registered.as_mut().unwrap().death_date = NaiveDate::from_ymd_opt(2026, 11, 2)),
            Outcome::Pay,
        ),
        (
            "mismatch beats deceased",
            Box::new(|i| {
                i.registered.as_mut().unwrap().death_date = NaiveDate::from_ymd_opt(2026, 10, 1);
                i.candidates[0].name = Some("别人".into());
            }),
            Outcome::Hold(NameMismatch),
        ),
        (
            "already paid",
            Box::new(|i| {
                i.existing.push(Existing {
                    item_id: 9,
                    program: Program::Dibao,
                    benefit_month: p("2026-11"),
                    settled: Settled::Claimed,
                })
            }),
            Outcome::NotPaid(AlreadyPaid),
        ),
        (
            "cancelled key is skipped",
            Box::new(|i| {
                i.existing.push(Existing {
                    item_id: 9,
                    program: Program::Dibao,
                    benefit_month: p("2026-11"),
                    settled: Settled::Cancelled,
                })
            }),
            Outcome::Skip,
        ),
        ("over the cap", Box::new(|i| i.candidates[0].amount = yuan("5000.01")), Outcome::Hold(CapExceeded)),
        ("at the cap", Box::new(|i| i.candidates[0].amount = yuan("5000.00")), Outcome::Pay),
        ("no active card", Box::new(|i| i.payee = Payee::None("card lost".into())), Outcome::Hold(NoActiveCard)),
        (
            "cap beats no card",
            Box::new(|i| {
                i.candidates[0].amount = yuan("9999.00");
                i.payee = Payee::None("never issued".into());
            }),
            Outcome::Hold(CapExceeded),
        ),
    ];
    for (name, change, want) in cases {
        let mut i = person(vec![line(1, Program::Dibao, "780.00")]);
        change(&mut i);
        assert_eq!(outcomes(&i), [(Program::Dibao, want)], "{name}");
    }
}

#[test]
fn duplicate_keeps_the_line_of_the_registry_region_else_the_first() {
    let mut other_region = line(1, Program::Dibao, "780.00");
    other_region.region_code = Some("440703002001".into());
    let home = line(2, Program::Dibao, "790.00");
    let i = person(vec![other_region.clone(), home.clone()]);
    let d = decide(&i, &config());
    assert_eq!(d.keys.len(), 1);
    assert_eq!(d.keys[0].candidate, 1, "the registry region's line is kept although it comes later");
    assert_eq!(d.duplicates.len(), 1);
    assert_eq!(d.duplicates[0].candidate, 0);
    assert_eq!(d.duplicates[0].outcome, Outcome::NotPaid(DuplicateLine));
    assert_eq!(d.payable_total(&i), yuan("790.00"));

    // Neither matches the registry region: the first by file order is kept.
    let mut a = line(7, Program::Dibao, "780.00");
    let mut b = line(3, Program::Dibao, "700.00");
    a.region_code = Some("440705000000".into());
    b.region_code = Some("440705000000".into());
    b.order = (0, 3);
    let i = person(vec![a, b]);
    assert_eq!(decide(&i, &config()).keys[0].candidate, 1);
}

#[test]
fn duplicates_of_a_paid_key_are_duplicate_and_already_paid() {
    let mut i = person(vec![line(1, Program::Dibao, "780.00"), line(2, Program::Dibao, "780.00")]);
    i.existing.push(Existing {
        item_id: 4,
        program: Program::Dibao,
        benefit_month: p("2026-11"),
        settled: Settled::Claimed,
    });
    let d = decide(&i, &config());
    assert_eq!(d.keys[0].outcome, Outcome::NotPaid(AlreadyPaid));
    assert_eq!(d.keys[0].item_id, Some(4));
    assert_eq!(d.duplicates[0].outcome, Outcome::NotPaid(DuplicateLine));
}

#[test]
fn exclusive_programs_hold_both_even_against_a_paid_one() {
    let i = person(vec![
        line(1, Program::Dibao, "780.00"),
        line(2, Program::Wubao, "1500.00"),
        line(3, Program::Veteran, "300.00"),
    ]);
    assert_eq!(
        outcomes(&i),
        [
            (Program::Dibao, Outcome::Hold(ExclusiveConflict)),
            (Program::Wubao, Outcome::Hold(ExclusiveConflict)),
            (Program::Veteran, Outcome::Pay)
        ]
    );
    let mut i = person(vec![line(2, Program::Wubao, "1500.00")]);
    i.existing.push(Existing {
        item_id: 1,
        program: Program::Dibao,
        benefit_month: p("2026-11"),
        settled: Settled::Claimed,
    });
    assert_eq!(outcomes(&i), [(Program::Wubao, Outcome::Hold(ExclusiveConflict))]);
    // Another month does not conflict.
    let mut i = person(vec![line(2, Program::Wubao, "1500.00")]);
    i.existing.push(Existing {
        item_id: 1,
        program: Program::Dibao,
        benefit_month: p("2026-10"),
        settled: Settled::Claimed,
    });
    assert_eq!(outcomes(&i), [(Program::Wubao, Outcome::Pay)]);
}

#[test]
fn disability_living_needs_a_payable_dibao_that_month() {
    let alone = person(vec![line(1, Program::DisabilityLiving, "150.00")]);
    assert_eq!(outcomes(&alone), [(Program::DisabilityLiving, Outcome::Hold(MissingPrerequisite))]);
    let with = person(vec![line(1, Program::DisabilityLiving, "150.00"), line(2, Program::Dibao, "780.00")]);
    assert_eq!(outcomes(&with), [(Program::Dibao, Outcome::Pay), (Program::DisabilityLiving, Outcome::Pay)]);
    // The dibao is held for its cap: not payable, so the prerequisite is missing.
    let capped = person(vec![line(1, Program::DisabilityLiving, "150.00"), line(2, Program::Dibao, "6000.00")]);
    assert_eq!(
        outcomes(&capped),
        [(Program::Dibao, Outcome::Hold(CapExceeded)), (Program::DisabilityLiving, Outcome::Hold(MissingPrerequisite))]
    );
    // A dibao paid earlier for the month counts.
    let mut paid = person(vec![line(1, Program::DisabilityLiving, "150.00")]);
    paid.existing.push(Existing {
        item_id: 1,
        program: Program::Dibao,
        benefit_month: p("2026-11"),
        settled: Settled::Claimed,
    });
    assert_eq!(outcomes(&paid), [(Program::DisabilityLiving, Outcome::Pay)]);
    // Without a card both are held for the card, not for the prerequisite.
    let mut no_card = with.clone();
    no_card.payee = Payee::None("never issued".into());
    assert_eq!(
        outcomes(&no_card),
        [(Program::Dibao, Outcome::Hold(NoActiveCard)), (Program::DisabilityLiving, Outcome::Hold(NoActiveCard))]
    );
}

#[test]
fn unemployment_stops_at_the_lifetime_limit() {
    let claimed = |m: u32| Existing {
        item_id: m as i64,
        program: Program::Unemployment,
        benefit_month: p(&format!("2024-{m:02}")),
        settled: Settled::Claimed,
    };
    let mut back = line(1, Program::Unemployment, "1800.00");
    back.benefit_month = p("2026-10");
    let now = line(2, Program::Unemployment, "1800.00");
    let mut i = person(vec![now, back]);
    i.existing = (1..=12).map(claimed).collect::<Vec<_>>();
    i.existing.extend((1..=11).map(|m| Existing { benefit_month: p(&format!("2025-{m:02}")), ..claimed(m) }));
    // 23 months paid: the earlier benefit month takes the 24th, the later one is held.
    let d = decide(&i, &config());
    let by_month: Vec<(Period, Outcome)> =
        d.keys.iter().map(|k| (i.candidates[k.candidate].benefit_month, k.outcome.clone())).collect();
    assert_eq!(by_month, [(p("2026-10"), Outcome::Pay), (p("2026-11"), Outcome::Hold(UnemploymentLimit))]);
}

#[test]
fn a_carried_over_item_is_an_input_and_a_new_line_for_it_is_a_duplicate() {
    let held = Candidate {
        origin: Origin::Item { item_id: 5, line_id: Some(1) },
        order: (0, 1),
        ..line(1, Program::Dibao, "780.00")
    };
    let again = line(9, Program::Dibao, "780.00");
    let i = person(vec![again, held]);
    let d = decide(&i, &config());
    assert_eq!(d.keys[0].candidate, 1, "the earlier line (the carried item) is kept");
    assert_eq!(d.keys[0].item_id, Some(5));
    assert_eq!(d.keys[0].outcome, Outcome::Pay);
    assert_eq!(d.duplicates[0].item_id, Some(5));
}

#[test]
fn remark_names_the_programs_once() {
    let c = config();
    let nov = p("2026-11");
    assert_eq!(remark(nov, &[(Program::Elderly, nov), (Program::Dibao, nov)], &c), "2026-11 低保金+高龄津贴");
    assert_eq!(remark(nov, &[(Program::Dibao, p("2026-10")), (Program::Dibao, nov)], &c), "2026-11 低保金(含补发)");
}

#[test]
fn elderly_tiers_by_age_on_the_last_day() {
    let c = config();
    let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
    let nov = p("2026-11");
    assert_eq!(elderly_amount(d(1946, 12, 1), None, nov, &c), None, "79 on 30 November");
    assert_eq!(elderly_amount(d(1946, 11, 30), None, nov, &c), Some(yuan("100.00")), "80 on the last day");
    assert_eq!(elderly_amount(d(1936, 11, 30), None, nov, &c), Some(yuan("200.00")));
    assert_eq!(elderly_amount(d(1926, 1, 1), None, nov, &c), Some(yuan("500.00")));
    assert_eq!(elderly_amount(d(1930, 1, 1), Some(d(2026, 11, 15)), nov, &c), None, "died during the month");
    assert_eq!(
        elderly_amount(d(1930, 1, 1), Some(d(2026, 11, 30)), nov, &c),
        Some(yuan("200.00")),
        "alive on the last day"
    );
}
