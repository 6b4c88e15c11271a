//! The desk's Chinese for what the system writes in English: states, codes
//! and programs (`word`), card notes (`note`), and the details of anomalies
//! and held items (`detail`). The English stays in the database, on the
//! command line and in the API, where scripts read it; a caseworker reads
//! Chinese. A text of no known form is shown as written.

/// The Chinese word for a state, code, program or action.
pub fn word(s: &str) -> Option<&'static str> {
    Some(match s {
        // Item, payment, run and card states.
        "paid" => "已到账",
        "failed" => "失败",
        "unconfirmed" => "未确认",
        "sent" => "已送银行",
        "approved" => "已审核",
        "scheduled" => "待审核",
        "held" => "暂缓",
        "pending" => "待发",
        "cancelled" => "已取消",
        "not_payable" => "不予发放",
        "discarded" => "已作废",
        "draft" => "草稿",
        "exported" => "已出盘",
        "closed" => "已结束",
        "active" => "正常",
        "lost" => "挂失",
        "made" => "已制卡",
        "applied" => "已申领",
        "in_production" => "制卡中",
        "rejected" => "制卡失败",
        "open" => "未处理",
        "resolved" => "已处理",
        // Programs.
        "dibao" => "低保",
        "wubao" => "特困供养",
        "temp_relief" => "临时救助",
        "veteran" => "抚恤优待",
        "elderly" => "高龄津贴",
        "unemployment" => "失业金",
        "disability_care" => "重度残疾人护理补贴",
        "disability_living" => "困难残疾人生活补贴",
        // The bank's reasons for a failure.
        "account_not_found" => "账户不存在",
        "name_mismatch" => "户名不符",
        "account_closed" => "账户已销户",
        "account_frozen" => "账户冻结",
        "card_lost" => "卡已挂失",
        "id_mismatch" => "证件号不符",
        "other" => "其他",
        // Anomalies (domain.md).
        "unknown_person" => "查无此人",
        "deceased" => "已故",
        "duplicate_line" => "名册重复",
        "already_paid" => "已发放过",
        "exclusive_conflict" => "互斥待遇",
        "missing_prerequisite" => "缺少前提待遇",
        "cap_exceeded" => "超过上限",
        "unemployment_limit" => "失业金期满",
        "no_active_card" => "无有效卡",
        "bank_failed" => "银行退回",
        "duplicate_in_return" => "回盘重复",
        "conflicting_return" => "回盘矛盾",
        "unknown_serial" => "未知流水号",
        "amount_mismatch" => "金额不符",
        "account_mismatch" => "账号不符",
        "missing_in_return" => "回盘缺失",
        "double_paid" => "重复到账",
        "missed_payment" => "遗漏",
        "card_unknown_application" => "制卡回盘：未知申领",
        "card_person_mismatch" => "制卡回盘：人员不符",
        "card_number_taken" => "制卡回盘：卡号已被占用",
        "card_duplicate_return" => "制卡回盘重复",
        "card_conflicting_return" => "制卡回盘矛盾",
        // A caseworker's resolutions.
        "confirm_paid" => "确认已到账",
        "confirm_failed" => "确认失败",
        "retry" => "重新发放",
        "cancel" => "取消该笔",
        "settle_conflict" => "裁定互斥",
        "acknowledge" => "已知悉",
        "无" => "无",
        _ => return None,
    })
}

/// `s` in Chinese if it is a known word, else as it is.
pub fn word_or(s: &str) -> &str {
    word(s).unwrap_or(s)
}

/// The notes the card jobs write (see `jobs::cards` and `store::persons`);
/// a caseworker's own note is shown as written.
pub fn note(note: &str) -> String {
    const CANCELLED: &str = ", after the application was cancelled: not to be handed over";
    if let Some(first) = note.strip_suffix(CANCELLED) {
        return format!("{}（申领已撤销，不予发卡）", self::note(first));
    }
    let fixed = match note {
        "migrated from the registry" => Some("随参保登记导入"),
        "account changed in the registry" => Some("登记的银行账号已变更"),
        "activate by a caseworker" => Some("经办人启用"),
        "report lost by a caseworker" => Some("经办人挂失"),
        "cancel by a caseworker" => Some("经办人注销"),
        _ => None,
    };
    if let Some(zh) = fixed {
        return zh.to_string();
    }
    let prefixed = [
        ("made by the bank: card ", "银行已制卡，卡号 "),
        ("refused by the bank: ", "银行拒绝制卡："),
        ("handed over with batch ", "随批次发卡："),
        ("sent in card-making batch ", "已送制卡批次 "),
    ];
    for (en, zh) in prefixed {
        if let Some(rest) = note.strip_prefix(en) {
            return format!("{zh}{rest}");
        }
    }
    note.to_string()
}

/// The detail of an anomaly or a held item, as the runs, reconciliation,
/// the 遗漏 report and the card jobs write it.
pub fn detail(text: &str) -> String {
    if let Some(zh) = word(text) {
        return zh.to_string();
    }
    // "code: more", as a held item's reason or a bank failure's mapped reason.
    if let Some((head, rest)) = text.split_once(": ") {
        if let Some(zh) = word(head) {
            return if rest.trim().is_empty() { zh.to_string() } else { format!("{zh}：{}", detail(rest)) };
        }
    }
    if let Some(zh) = sentence(text) {
        return zh.to_string();
    }
    patterned(text).unwrap_or_else(|| text.to_string())
}

/// The details that are one fixed sentence.
fn sentence(text: &str) -> Option<&'static str> {
    Some(match text {
        "the item has two paid payments: an overpayment to recover" => "该笔待遇有两笔付款均已到账：属多付，需追回",
        "the item is not payable" => "该笔待遇不予发放",
        "the person is not in the registry" => "参保登记中查无此人",
        "no active card" => "无有效社保卡",
        "the active card has no account" => "有效社保卡未关联银行账户",
        "the card's account failed verification" => "社保卡银行账户核验未通过",
        "run discarded" => "所在发放已作废",
        _ => return None,
    })
}

/// The details with values in them.
fn patterned(text: &str) -> Option<String> {
    // Reconciliation and closing a batch.
    if let Some(rest) = text.strip_prefix("serial ") {
        if let Some(serial) = rest.strip_suffix(" absent from every return when the batch was closed") {
            return Some(format!("流水号 {serial}：批次结束时，所有回盘中均无此笔"));
        }
        let (serial, line) = rest.split_once(" at line ")?;
        return Some(format!("流水号 {serial}（回盘第 {line} 行）"));
    }
    if let Some((returned, sent)) = text.strip_prefix("returned ").and_then(|r| r.split_once(", sent ")) {
        return Some(format!("回盘为 {returned}，送出为 {sent}"));
    }
    // The 遗漏 report: "due in P and not paid by D: state (reason)".
    if let Some((period, rest)) = text.strip_prefix("due in ").and_then(|r| r.split_once(" and not paid by ")) {
        let (date, why) = rest.split_once(": ")?;
        let why = match why.strip_suffix(')').and_then(|w| w.split_once(" (")) {
            Some((state, reason)) => format!("{}（{}）", word_or(state), detail(reason)),
            None => word_or(why).to_string(),
        };
        return Some(format!("{period} 应发，截至 {date} 仍未到账：{why}"));
    }
    // The rules of a run.
    if let Some(key) = text.strip_prefix("another line for ").and_then(|r| r.strip_suffix(" is kept")) {
        return Some(format!("{} 已保留名册中的另一行", key_zh(key)));
    }
    if let Some(key) = text.strip_suffix(" is already paid or in a payment") {
        return Some(format!("{} 已发放或已在付款中", key_zh(key)));
    }
    if let Some((pair, month)) = text.split_once(" both for ") {
        let (a, b) = pair.split_once(" and ")?;
        return Some(format!("{month} 同时有{}和{}，二者互斥", word_or(a), word_or(b)));
    }
    if let Some((required, month)) = text.strip_prefix("no payable ").and_then(|r| r.split_once(" item for ")) {
        return Some(format!("{month} 没有可发放的{}（前提待遇）", word_or(required)));
    }
    if let Some((amount, rest)) = text.split_once(" is above the ") {
        let (program, cap) = rest.split_once(" cap of ")?;
        return Some(format!("{amount} 超过{}上限 {cap}", word_or(program)));
    }
    if let Some((months, limit)) = text.split_once(" months paid, limit ") {
        return Some(format!("已发 {months} 个月，上限 {limit} 个月"));
    }
    if let Some((roster, registry)) = text.strip_prefix("roster name ").and_then(|r| r.split_once(", registry name ")) {
        return Some(format!("名册姓名 {roster}，登记姓名 {registry}"));
    }
    if let Some(rest) = text.strip_prefix("character '") {
        let (ch, bank) = rest.split_once("' of the registered name cannot be encoded in GBK for bank ")?;
        return Some(format!("登记姓名中的“{ch}”无法按 GBK 编码送银行 {bank}"));
    }
    if let Some(date) = text.strip_prefix("died ") {
        return Some(format!("已于 {date} 去世"));
    }
    if let Some(bank) = text.strip_prefix("bank ").and_then(|r| r.strip_suffix(" is not configured")) {
        return Some(format!("银行 {bank} 未配置"));
    }
    if let Some(why) = text.strip_prefix("the card's account failed verification: ") {
        return Some(format!("社保卡银行账户核验未通过：{why}"));
    }
    resolution(text).or_else(|| card(text))
}

/// How an anomaly was resolved, when a job or a command resolved it.
fn resolution(text: &str) -> Option<String> {
    if let Some(file) = text.strip_prefix("settled by return file ") {
        return Some(format!("已由回盘文件 #{file} 了结"));
    }
    if let Some(by) = text.strip_prefix("retry ordered by ") {
        return Some(format!("{by} 已安排重新发放"));
    }
    if let Some((by, reason)) = text.strip_prefix("item cancelled by ").and_then(|r| r.split_once(": ")) {
        return Some(format!("{by} 取消该笔：{reason}"));
    }
    let rest = text.strip_prefix("confirmed ")?;
    let (outcome, rest) = rest.split_once(" by ")?;
    let (by, note) = rest.split_once(": ")?;
    Some(format!("{by} 确认{}：{note}", word_or(outcome)))
}

/// The card-making return's findings: "FILE line N: what", where what is about an application.
fn card(text: &str) -> Option<String> {
    if let Some((place, what)) = text.split_once(": ") {
        let (file, line) = place.rsplit_once(" line ")?;
        return Some(format!("{file} 第 {line} 行：{}", detail(what)));
    }
    if let Some((number, rest)) = text.strip_prefix("card number ").and_then(|r| r.split_once(" for application ")) {
        let (app, other) = rest.split_once(" is already held by card ")?;
        return Some(format!("申领 {app} 的卡号 {number} 已被卡 {other} 使用"));
    }
    let rest = text.strip_prefix("application ")?;
    if let Some(app) = rest.strip_suffix(" was answered before with the same outcome") {
        return Some(format!("申领 {app} 已有相同结果的回盘"));
    }
    if let Some(app) = rest.strip_suffix(" was answered before otherwise; left for a caseworker") {
        return Some(format!("申领 {app} 此前的回盘结果不同，交经办人处理"));
    }
    if let Some((app, batch)) = rest.split_once(" is not in batch ") {
        return Some(format!("申领 {app} 不在制卡批次 {batch} 中"));
    }
    if let Some((app, rest)) = rest.split_once(" is for ") {
        let (person, named) = rest.split_once(", the return names ")?;
        return Some(format!("申领 {app} 属于 {person}，回盘写的是 {named}"));
    }
    let (app, state) = rest.split_once(" is ")?;
    let state = state.strip_suffix(" and waits for no answer")?;
    Some(format!("申领 {app} 状态为“{}”，不再等待回盘", word_or(state)))
}

/// "program month" as "低保 2026-11".
fn key_zh(key: &str) -> String {
    match key.split_once(' ') {
        Some((program, month)) => format!("{} {month}", word_or(program)),
        None => key.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{detail, note, word};

    #[test]
    fn card_notes_the_system_writes_are_shown_in_chinese() {
        assert_eq!(note("migrated from the registry"), "随参保登记导入");
        assert_eq!(note("made by the bank: card M00000001"), "银行已制卡，卡号 M00000001");
        assert_eq!(
            note("made by the bank: card M00000001, after the application was cancelled: not to be handed over"),
            "银行已制卡，卡号 M00000001（申领已撤销，不予发卡）"
        );
        assert_eq!(note("report lost by a caseworker"), "经办人挂失");
        assert_eq!(note("本人来电挂失"), "本人来电挂失");
    }

    #[test]
    fn every_anomaly_code_and_program_has_its_chinese_name() {
        use crate::domain::program::Program;
        use crate::domain::AnomalyCode;
        for code in AnomalyCode::ALL {
            assert!(word(code.as_str()).is_some(), "{} has no Chinese name", code.as_str());
        }
        for program in Program::ALL {
            assert!(word(program.as_str()).is_some(), "{} has no Chinese name", program.as_str());
        }
    }

    #[test]
    fn details_the_system_writes_are_shown_in_chinese() {
        let cases = [
            ("account_not_found: R03 账户不存在", "账户不存在：R03 账户不存在"),
            ("other:  ", "其他"),
            ("serial 2026112310200100000007 at line 9", "流水号 2026112310200100000007（回盘第 9 行）"),
            (
                "serial 2026112310200100000007 absent from every return when the batch was closed",
                "流水号 2026112310200100000007：批次结束时，所有回盘中均无此笔",
            ),
            ("returned 300.00, sent 298.00", "回盘为 300.00，送出为 298.00"),
            ("returned 6228****1234, sent 6228****5678", "回盘为 6228****1234，送出为 6228****5678"),
            ("the item has two paid payments: an overpayment to recover", "该笔待遇有两笔付款均已到账：属多付，需追回"),
            ("due in 2026-09 and not paid by 2026-11-23: failed", "2026-09 应发，截至 2026-11-23 仍未到账：失败"),
            (
                "due in 2026-09 and not paid by 2026-11-23: held (no_active_card)",
                "2026-09 应发，截至 2026-11-23 仍未到账：暂缓（无有效卡）",
            ),
            ("another line for dibao 2026-11 is kept", "低保 2026-11 已保留名册中的另一行"),
            ("elderly 2026-10 is already paid or in a payment", "高龄津贴 2026-10 已发放或已在付款中"),
            ("dibao and wubao both for 2026-11", "2026-11 同时有低保和特困供养，二者互斥"),
            ("no payable dibao item for 2026-11", "2026-11 没有可发放的低保（前提待遇）"),
            ("5000.00 is above the temp_relief cap of 3000.00", "5000.00 超过临时救助上限 3000.00"),
            ("24 months paid, limit 24", "已发 24 个月，上限 24 个月"),
            ("roster name 张伟, registry name 张玮", "名册姓名 张伟，登记姓名 张玮"),
            (
                "character '㵘' of the registered name cannot be encoded in GBK for bank 102",
                "登记姓名中的“㵘”无法按 GBK 编码送银行 102",
            ),
            ("died 2026-08-14", "已于 2026-08-14 去世"),
            ("no_active_card: the active card has no account", "无有效卡：有效社保卡未关联银行账户"),
            ("no_active_card: bank 999 is not configured", "无有效卡：银行 999 未配置"),
            (
                "card_ret_102.txt line 4: application A0000009 is not in batch C102-0001",
                "card_ret_102.txt 第 4 行：申领 A0000009 不在制卡批次 C102-0001 中",
            ),
            (
                "card number 6217****0001 for application A1 is already held by card #7",
                "申领 A1 的卡号 6217****0001 已被卡 #7 使用",
            ),
            ("application A1 is active and waits for no answer", "申领 A1 状态为“正常”，不再等待回盘"),
            ("settled by return file 12", "已由回盘文件 #12 了结"),
            ("confirmed paid by sup: 银行来函确认", "sup 确认已到账：银行来函确认"),
            ("retry ordered by sup", "sup 已安排重新发放"),
            ("item cancelled by sup: 重复申报", "sup 取消该笔：重复申报"),
            ("run discarded", "所在发放已作废"),
            ("本人来电说明", "本人来电说明"),
            ("something new: with a colon", "something new: with a colon"),
        ];
        for (en, zh) in cases {
            assert_eq!(detail(en), zh, "{en}");
        }
    }
}
