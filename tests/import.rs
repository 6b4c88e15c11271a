//! Registry and roster import through the command line, on every engine.

mod common;

use std::path::Path;

use common::{databases, json, ok, onecard, scalar, TestDb};

const HEADER: &str = "program,period,person_id,name,amount,region_code,for_period,source_ref\n";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn registry_csv() -> String {
    [
        "person_id,name,region_code,phone,death_date,card_no,bank_code,account_no",
        "11010519491231002X,陈秀英,440703001001,13800138000,,A10000001,105,6217000000000000004",
        "440703195212035611,李志强,440703001002,,,A10000002,102,6222020000000000000",
        "440703194001150025,阿依古丽•买买提,440703001001,,,,,",
    ]
    .join("\n")
        + "\n"
}

#[tokio::test]
async fn registry_import_records_persons_and_cards_and_is_idempotent() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "cardholders.csv", &registry_csv());
        let s = json(&db, dir.path(), &["import", "registry", &file]);
        let s = &s[0];
        assert_eq!((s["rows"].as_u64(), s["accepted"].as_u64(), s["rejected"].as_u64()), (Some(3), Some(3), Some(0)));
        assert_eq!(s["persons_added"], 3, "{s}");
        assert_eq!(s["cards_added"], 2, "{s}");
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM cards WHERE state = 'active'").await, 2);
        // Gender and birth date come from the id; the name's dot is normalised.
        let st = json(&db, dir.path(), &["status", "440703194001150025"]);
        assert_eq!(st["name"], "阿依古丽·买买提", "{st}");
        assert_eq!(st["gender"], "female");
        assert_eq!(st["birth_date"], "1940-01-15");
        assert_eq!(st["person_id"], "440703********0025", "ids leave the database masked");

        let again = json(&db, dir.path(), &["import", "registry", &file]);
        assert_eq!(again[0]["already_imported"], true, "[{}] {again}", db.engine);
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM source_files").await, 1);
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM card_events").await, 2);
    }
}

#[tokio::test]
async fn registry_updates_change_accounts_cancel_the_dead_and_refuse_stolen_cards() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let first = write(dir.path(), "r1.csv", &registry_csv());
        ok(&db, dir.path(), &["import", "registry", &first]);
        let second = [
            "person_id,name,region_code,death_date,card_no,bank_code,account_no",
            // New account for the same card: the account changes and must be verified again.
            "11010519491231002X,陈秀英,440703001001,,A10000001,105,6217000000000000012",
            // Death recorded: the person's cards are cancelled.
            "440703195212035611,李志强,440703001002,2026-10-03,,,",
            // A card number already held by someone else is refused.
            "440703194001150025,王·芳,440703001001,,A10000002,105,6217000000000000020",
        ]
        .join("\n");
        let second = write(dir.path(), "r2.csv", &second);
        let s = &json(&db, dir.path(), &["import", "registry", &second])[0];
        assert_eq!((s["accepted"].as_u64(), s["rejected"].as_u64()), (Some(2), Some(1)), "[{}] {s}", db.engine);
        assert_eq!(s["accounts_changed"], 1);
        assert_eq!(s["cards_cancelled"], 1);
        let rejects = std::fs::read_to_string(dir.path().join("r2.csv.rejects.csv")).unwrap();
        assert!(rejects.contains("card_no A10000002 is already held by another person"), "{rejects}");
        assert!(rejects.starts_with("\u{feff}line,person_id"), "{rejects}");
        assert!(rejects.contains("\n4,"), "the rejected row keeps its line number: {rejects}");
        // The phone column was absent: the stored phone is kept.
        let st = json(&db, dir.path(), &["status", "11010519491231002X"]);
        assert_eq!(st["phone"], "138****8000");
        assert_eq!(st["cards"][0]["account_no"], "***************0012");
        assert_eq!(st["cards"][0]["verification"], "unverified");
        let dead = json(&db, dir.path(), &["status", "440703195212035611"]);
        assert_eq!(dead["death_date"], "2026-10-03");
        assert_eq!(dead["cards"][0]["state"], "cancelled");
    }
}

fn bad_roster() -> String {
    let rows = [
        // good
        "dibao,2026-11,11010519491231002X,陈秀英,780.00,440703001001,,MZ1",
        "dibao,2026-11,440703195212035611,李志强,780.5,440703001002,2026-10,MZ2",
        // bad: spreadsheet-mangled id and an amount with a thousands separator (two reasons)
        "dibao,2026-11,4.40703E+17,王芳,\"1,780.00\",440703001001,,MZ3",
        // bad: wrong check character
        "dibao,2026-11,110105194912310021,赵六,780.00,440703001001,,MZ4",
        // bad: three decimals
        "dibao,2026-11,440703194001150025,王芳,780.001,440703001001,,MZ5",
        // bad: back pay for a month after the period
        "dibao,2026-11,440703194001150025,王芳,780.00,440703001001,2026-12,MZ6",
        // bad: empty name
        "dibao,2026-11,440703194001150025,,780.00,440703001001,,MZ7",
        // bad: another program in a dibao file
        "wubao,2026-11,440703194001150025,王芳,1500.00,440703001001,,MZ8",
        // bad: elderly has no roster
        "elderly,2026-11,440703194001150025,王芳,100.00,440703001001,,MZ9",
        // bad: too few fields
        "dibao,2026-11,440703194001150025",
    ];
    format!("{HEADER}{}\n", rows.join("\n"))
}

#[tokio::test]
async fn roster_with_bad_rows_imports_the_good_and_rejects_each_bad_with_its_reasons() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let file = write(dir.path(), "dibao.csv", &bad_roster());
        let s = &json(&db, dir.path(), &["import", "roster", &file])[0];
        assert_eq!((s["rows"].as_u64(), s["accepted"].as_u64(), s["rejected"].as_u64()), (Some(10), Some(2), Some(8)));
        assert_eq!(s["amount"], "1560.50");
        assert_eq!(s["program"], "dibao");
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM roster_lines").await, 2);
        assert_eq!(scalar(&db, "SELECT CAST(SUM(amount_fen) AS BIGINT) FROM roster_lines").await, 156050);
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM roster_lines WHERE benefit_month = '2026-10'").await, 1);

        let rejects = std::fs::read_to_string(dir.path().join("dibao.csv.rejects.csv")).unwrap();
        let by_line: Vec<(String, String)> = rejects
            .lines()
            .skip(1)
            .map(|l| {
                let (line, rest) = l.split_once(',').unwrap();
                (line.to_string(), rest.to_string())
            })
            .collect();
        let expect = [
            ("4", vec!["spreadsheet", "thousands separator"]),
            ("5", vec!["check character 1, expected"]),
            ("6", vec!["more than two decimals"]),
            ("7", vec!["for_period 2026-12 is after period 2026-11"]),
            ("8", vec!["name is empty"]),
            ("9", vec!["differs from the file's program dibao"]),
            ("10", vec!["elderly is computed"]),
            ("11", vec!["row has 3 fields, the header has 8"]),
        ];
        assert_eq!(by_line.len(), expect.len(), "{rejects}");
        for ((line, text), (want_line, needles)) in by_line.iter().zip(expect) {
            assert_eq!(line, want_line, "{rejects}");
            for n in needles {
                assert!(text.contains(n), "line {line} should say '{n}': {text}");
            }
        }

        // Importing the same bytes again changes nothing.
        let again = &json(&db, dir.path(), &["import", "roster", &file])[0];
        assert_eq!(again["already_imported"], true);
        assert_eq!(again["accepted"], 2);
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM roster_lines").await, 2);
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM source_files").await, 1);
    }
}

#[tokio::test]
async fn gbk_roster_with_chinese_headers_and_crlf_imports() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let text = "项目,发放年月,身份证号,姓名,金额,区划代码,所属年月,业务流水号\r\n\
                    disability_care,2026-11,11010519491231002X,陈秀英,200.00,440703001001,,CL1\r\n";
        let (bytes, _, _) = encoding_rs::GBK.encode(text);
        let path = dir.path().join("cl.csv");
        std::fs::write(&path, &bytes).unwrap();
        let s = &json(&db, dir.path(), &["import", "roster", path.to_str().unwrap()])[0];
        assert_eq!(s["encoding"], "gbk");
        assert_eq!(s["accepted"], 1, "{s}");
        let st = json(&db, dir.path(), &["status", "11010519491231002X"]);
        assert_eq!(st["roster_lines"][0]["name"], "陈秀英");
        assert_eq!(st["roster_lines"][0]["program"], "disability_care");
    }
}

#[tokio::test]
async fn a_file_missing_a_required_column_is_rejected_whole() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let file = write(
            dir.path(),
            "r.csv",
            "program,period,person_id,name,region_code\ndibao,2026-11,11010519491231002X,陈秀英,440703001001\n",
        );
        let out = onecard(&db, dir.path(), &["import", "roster", &file]);
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("missing required column amount") && err.contains("r.csv"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "one line saying what and where: {err}");
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM source_files").await, 0);
    }
}

#[tokio::test]
async fn usage_errors_exit_2() {
    let db = TestDb::sqlite_only().await;
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(onecard(&db, dir.path(), &["import", "nonsense"]).status.code(), Some(2));
    assert_eq!(onecard(&db, dir.path(), &["status"]).status.code(), Some(2));
    let out = onecard(&db, dir.path(), &["status", "4.40703E+17"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("spreadsheet"));
}

#[tokio::test]
async fn the_same_file_imported_by_two_processes_at_once_is_applied_once() {
    for db in databases().await {
        let dir = tempfile::tempdir().unwrap();
        let city = common::generate(&db, dir.path(), 3000, "2026-11", 5);
        // Make sure the schema exists before the race, as it would in production.
        ok(&db, dir.path(), &["import", "registry", city.join("cardholders.csv").to_str().unwrap()]);
        let roster = common::rosters(&city).into_iter().find(|p| p.to_string_lossy().contains("dibao")).unwrap();
        let spawn = || {
            std::process::Command::new(env!("CARGO_BIN_EXE_onecard"))
                .args(["--db", &db.url, "--json", "import", "roster", roster.to_str().unwrap()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
        let mut applied = 0;
        for out in &outs {
            assert!(out.status.success(), "[{}] {}", db.engine, String::from_utf8_lossy(&out.stderr));
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            if v[0]["applied"] == true {
                applied += 1;
            } else {
                assert_eq!(v[0]["already_imported"], true);
            }
        }
        assert_eq!(applied, 1, "[{}] exactly one process applies the file", db.engine);
        assert_eq!(scalar(&db, "SELECT COUNT(*) FROM source_files WHERE kind = 'roster'").await, 1);
        let lines = scalar(&db, "SELECT COUNT(*) FROM roster_lines").await;
        let accepted = scalar(&db, "SELECT rows_accepted FROM source_files WHERE kind = 'roster'").await;
        assert_eq!(lines, accepted);
    }
}
