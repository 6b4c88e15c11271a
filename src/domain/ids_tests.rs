use super::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 23).unwrap()
}

fn pid(s: &str) -> Result<PersonId, IdError> {
    PersonId::parse_as_of(s, today())
}

#[test]
fn published_example_is_valid() {
    let p = pid("11010519491231002X").unwrap();
    assert_eq!(p.as_str(), "11010519491231002X");
    assert_eq!(p.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
    assert_eq!(p.gender(), Gender::Female);
    assert_eq!(p.masked(), "110105********002X");
}

#[test]
fn spec_examples_are_valid() {
    for s in ["440703194001150025", "440703195212035611"] {
        assert!(pid(s).is_ok(), "{s}");
    }
    assert_eq!(pid("440703195212035611").unwrap().gender(), Gender::Male);
}

#[test]
fn normalises_case_width_and_spaces() {
    for raw in
        ["11010519491231002x", " 11010519491231002X ", "１１０１０５１９４９１２３１００２Ｘ", "110105 19491231 002X"]
    {
        assert_eq!(pid(raw).unwrap().as_str(), "11010519491231002X", "{raw}");
    }
}

#[test]
fn upgrades_legacy_15_digit_numbers() {
    // 110105 491231 002 -> 110105 19491231 002 + check
    assert_eq!(pid("110105491231002").unwrap().as_str(), "11010519491231002X");
}

#[test]
fn every_check_remainder_maps_as_published() {
    // For each possible remainder, build a body and check the mapped character.
    let map = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    let mut seen = [false; 11];
    for seq in 0..200u16 {
        let body = format!("44070319800101{seq:03}");
        let sum: u32 = body.bytes().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
        let r = (sum % 11) as usize;
        assert_eq!(check_char(body.as_bytes()), Some(map[r]));
        seen[r] = true;
        let full = format!("{body}{}", map[r]);
        assert!(pid(&full).is_ok(), "{full}");
    }
    assert!(seen.iter().all(|s| *s), "all remainders exercised");
}

#[test]
fn rejects_bad_person_ids_with_the_reason() {
    assert!(matches!(pid("11010519491231002Y"), Err(IdError::PersonIdChars(_))));
    assert!(matches!(pid("110105194912310020"), Err(IdError::PersonIdCheck { want: 'X', got: '0', .. })));
    assert!(matches!(pid("1101051949123100"), Err(IdError::PersonIdLength(_))));
    assert!(matches!(pid(""), Err(IdError::Empty { .. })));
    // 1949-02-30 is not a date: build a body with a right check char so only the date fails.
    let body = "11010519490230002";
    let bad_date = format!("{body}{}", check_char(body.as_bytes()).unwrap());
    assert!(matches!(pid(&bad_date), Err(IdError::PersonIdBirthDate { .. })));
    let future = PersonId::from_parts("110105", NaiveDate::from_ymd_opt(2027, 1, 1).unwrap(), 2).unwrap();
    assert!(matches!(pid(future.as_str()), Err(IdError::PersonIdBirthRange { .. })));
    let ancient = PersonId::from_parts("110105", NaiveDate::from_ymd_opt(1889, 12, 31).unwrap(), 2).unwrap();
    assert!(matches!(pid(ancient.as_str()), Err(IdError::PersonIdBirthRange { .. })));
}

#[test]
fn rejects_spreadsheet_mangled_values_and_says_so() {
    for raw in ["4.40703E+17", "4.40703194001150E+17", "440703194001150025.0", "'440703194001150025"] {
        let e = pid(raw).unwrap_err();
        assert!(matches!(e, IdError::Spreadsheet { .. }), "{raw}: {e:?}");
        assert!(e.to_string().contains("spreadsheet"), "{e}");
    }
    assert!(matches!(AccountNo::parse("6.22202E+18"), Err(IdError::Spreadsheet { .. })));
    assert!(matches!(RegionCode::parse("440703001001.0"), Err(IdError::Spreadsheet { .. })));
}

#[test]
fn from_parts_round_trips() {
    let birth = NaiveDate::from_ymd_opt(1936, 2, 29).unwrap();
    let p = PersonId::from_parts("440703", birth, 123).unwrap();
    assert_eq!(pid(p.as_str()).unwrap(), p);
    assert_eq!(p.birth_date(), birth);
    assert_eq!(p.gender(), Gender::Male);
    assert_eq!(p.age_on(NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()), 89);
    assert_eq!(p.age_on(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap()), 90);
}

#[test]
fn names_are_normalised() {
    assert_eq!(PersonName::parse("  陈秀英 ").unwrap().as_str(), "陈秀英");
    for raw in ["阿依古丽・买买提", "阿依古丽•买买提", "阿依古丽‧买买提", "阿依古丽．买买提", "阿依古丽·买买提"]
    {
        assert_eq!(PersonName::parse(raw).unwrap().as_str(), "阿依古丽·买买提", "{raw}");
    }
    assert_eq!(PersonName::parse("Li   Wei").unwrap().as_str(), "Li Wei");
    assert!(matches!(PersonName::parse("   "), Err(IdError::Empty { .. })));
    assert!(matches!(PersonName::parse("李2"), Err(IdError::NameDigit(_))));
    assert!(matches!(PersonName::parse("李\u{7}"), Err(IdError::NameControl(_))));
    assert!(matches!(PersonName::parse(&"李".repeat(31)), Err(IdError::NameLength(_))));
    assert!(PersonName::parse(&"李".repeat(30)).is_ok());
}

#[test]
fn card_numbers() {
    assert_eq!(CardNo::parse("a12345678").unwrap().as_str(), "A12345678");
    for bad in ["A1234567", "112345678", "AB2345678", "A123456789"] {
        assert!(matches!(CardNo::parse(bad), Err(IdError::CardNo(_))), "{bad}");
    }
}

#[test]
fn account_numbers_pass_luhn() {
    let a = AccountNo::with_check_digit("622202100000000001").unwrap();
    assert_eq!(a.as_str().len(), 19);
    assert_eq!(AccountNo::parse(a.as_str()).unwrap(), a);
    assert_eq!(AccountNo::parse("4111 1111 1111 1111").unwrap().as_str(), "4111111111111111");
    assert!(matches!(AccountNo::parse("4111111111111112"), Err(IdError::AccountNoLuhn(_))));
    assert!(matches!(AccountNo::parse("411111111111111"), Err(IdError::AccountNoForm(_))));
    assert!(matches!(AccountNo::parse("41111111111111111111"), Err(IdError::AccountNoForm(_))));
    assert_eq!(mask_account("6222021000000000012"), "***************0012");
}

#[test]
fn bank_and_region_codes() {
    assert!(BankCode::parse("105").is_ok());
    assert!(BankCode::parse("10").is_err());
    assert!(RegionCode::parse("440703001001").is_ok());
    assert!(RegionCode::parse("44070300100").is_err());
    let r = RegionCode::parse("440703001001").unwrap();
    for scope in ["4407", "440703", "440703001", "440703001001"] {
        assert!(r.within(&RegionScope::parse(scope).unwrap()), "{scope}");
    }
    assert!(!r.within(&RegionScope::parse("440703001002").unwrap()));
    for bad in ["44", "44070", "4407030010"] {
        assert!(RegionScope::parse(bad).is_err(), "{bad}");
    }
}

#[test]
fn periods_dates_and_phones() {
    let p = Period::parse("period", "2026-12").unwrap();
    assert_eq!(p.to_string(), "2026-12");
    assert_eq!(p.next().to_string(), "2027-01");
    assert_eq!(p.prev().to_string(), "2026-11");
    assert_eq!(Period::parse("period", "2024-02").unwrap().last_day(), NaiveDate::from_ymd_opt(2024, 2, 29).unwrap());
    for bad in ["2026-13", "2026-1", "202611", "2026/11", "2026-00"] {
        assert!(Period::parse("period", bad).is_err(), "{bad}");
    }
    assert!(parse_date("death_date", "2026-02-29").is_err());
    assert!(parse_date("death_date", "2024-02-29").is_ok());
    assert_eq!(parse_phone("138-0013-8000").unwrap(), "13800138000");
    assert!(parse_phone("23800138000").is_err());
    assert!(matches!(parse_phone("1.38001E+10"), Err(IdError::Spreadsheet { .. })));
    assert_eq!(mask_phone("13800138000"), "138****8000");
}

#[test]
fn serial_numbers_give_back_their_sequence() {
    let serial = serial_no("20261105102001", 42);
    assert_eq!(serial, "2026110510200100000042");
    assert_eq!(serial_seq(&serial, "20261105102001"), Some(42));
    // Another batch's serial, a short or non-digit tail: not of this batch's form.
    assert_eq!(serial_seq(&serial, "20261105103001"), None);
    assert_eq!(serial_seq("202611051020010000042", "20261105102001"), None);
    assert_eq!(serial_seq("2026110510200100000A42", "20261105102001"), None);
    assert_eq!(serial_seq("20261105102001+0000042", "20261105102001"), None);
}
