//! Chinese personal names for the synthetic city: surnames weighted by
//! frequency (Wuyi 五邑 natives and national migrants), given names by era and
//! gender, minority names with a middle dot, rare characters outside GBK, and
//! the misspellings a department's roster makes of a registered name.

use rand::Rng;

use super::sample::{pick, Weighted};

/// Surnames of Jiangmen natives, weights per ten thousand (Cantonese-area
/// distribution: 陈 first, many 梁 谭 关 伍 甄 司徒 邝 区).
#[rustfmt::skip]
pub const LOCAL_SURNAMES: &[(&str, u32)] = &[
    ("陈", 900), ("李", 700), ("黄", 620), ("梁", 500), ("张", 430), ("林", 360), ("刘", 350), ("吴", 300),
    ("谭", 260), ("何", 250), ("关", 200), ("伍", 200), ("余", 190), ("冯", 190), ("邓", 160), ("钟", 150),
    ("郑", 150), ("周", 150), ("叶", 150), ("王", 150), ("杨", 150), ("罗", 140), ("甄", 120), ("司徒", 120),
    ("麦", 100), ("邝", 100), ("莫", 100), ("苏", 100), ("卢", 100), ("许", 100), ("曾", 100), ("梅", 100),
    ("胡", 100), ("郭", 100), ("朱", 100), ("区", 80), ("赵", 90), ("潘", 90), ("蔡", 90), ("高", 80),
    ("雷", 80), ("彭", 80), ("廖", 80), ("唐", 70), ("袁", 70), ("温", 60), ("容", 50), ("岑", 50),
    ("欧阳", 30), ("源", 30), ("马", 60), ("徐", 60), ("孙", 40), ("谢", 80), ("汤", 40), ("崔", 30),
];

/// National surname frequencies, weights per ten thousand (migrants).
#[rustfmt::skip]
pub const NATIONAL_SURNAMES: &[(&str, u32)] = &[
    ("王", 710), ("李", 700), ("张", 640), ("刘", 530), ("陈", 450), ("杨", 310), ("黄", 250), ("赵", 240),
    ("吴", 200), ("周", 190), ("徐", 150), ("孙", 150), ("马", 140), ("朱", 130), ("胡", 130), ("郭", 120),
    ("何", 120), ("高", 110), ("林", 110), ("罗", 100), ("郑", 100), ("梁", 90), ("谢", 80), ("宋", 80),
    ("唐", 80), ("许", 70), ("韩", 70), ("冯", 70), ("邓", 70), ("曹", 60), ("彭", 60), ("曾", 60),
    ("肖", 60), ("田", 50), ("董", 50), ("袁", 50), ("潘", 50), ("于", 50), ("蒋", 50), ("蔡", 50),
    ("余", 50), ("杜", 40), ("叶", 40), ("程", 40), ("苏", 40), ("魏", 40), ("吕", 40), ("丁", 40),
    ("任", 40), ("沈", 40), ("姚", 40), ("卢", 40), ("姜", 40), ("崔", 30), ("钟", 30), ("谭", 30),
    ("陆", 30), ("汪", 30), ("范", 30), ("金", 30), ("石", 30), ("廖", 30), ("贾", 30), ("夏", 30),
    ("韦", 30), ("付", 30), ("方", 30), ("白", 20), ("邹", 20), ("孟", 20), ("熊", 20), ("秦", 20),
    ("邱", 20), ("江", 20), ("尹", 20), ("薛", 20), ("闫", 20), ("段", 20), ("雷", 20), ("侯", 20),
    ("龙", 20), ("史", 20), ("陶", 20), ("黎", 20), ("贺", 20), ("顾", 20), ("毛", 20), ("郝", 20),
    ("龚", 20), ("邵", 20), ("万", 20), ("钱", 20), ("覃", 20), ("武", 20), ("戴", 20), ("孔", 20),
];

/// Given names by era of birth (before 1950, 1950s–60s, 1970s–80s,
/// 1990s–2000s, 2010 and later); a name repeated in a list is more common.
const MALE_GIVEN: [&[&str]; 5] = [
    &[
        "德明", "福来", "炳坤", "耀祖", "锦华", "永昌", "国栋", "汉文", "兆基", "添福", "伯良", "瑞生", "金水", "润棠",
        "荣", "根", "泉", "达", "贵", "发", "财", "祥", "昌", "炳", "培", "有", "德", "福",
    ],
    &[
        "建国", "国强", "建华", "卫东", "志明", "伟强", "国华", "志强", "德华", "建军", "永强", "振华", "少华", "锦荣",
        "炳辉", "耀明", "国雄", "汉明", "强", "军", "明", "华", "勇", "平", "斌", "雄",
    ],
    &[
        "伟", "伟", "磊", "勇", "军", "涛", "斌", "强", "鹏", "杰", "浩", "超", "俊杰", "志伟", "伟文", "建文", "海波",
        "文杰", "家辉", "志华", "锦辉", "健", "峰", "国栋", "永健", "志坚",
    ],
    &[
        "子豪", "家豪", "俊杰", "浩", "宇", "浩然", "宇航", "文轩", "志豪", "晓东", "嘉俊", "子健", "俊宏", "博", "帅",
        "鑫", "伟豪", "锦涛", "嘉乐", "卓然", "嘉豪", "梓健",
    ],
    &[
        "子轩", "浩宇", "梓豪", "宇轩", "俊熙", "梓睿", "沐宸", "奕辰", "浩然", "睿", "宸", "梓轩", "锦程", "皓轩",
        "子墨", "一鸣", "晨阳", "铭泽",
    ],
];

const FEMALE_GIVEN: [&[&str]; 5] = [
    &[
        "秀英", "秀英", "桂英", "玉兰", "淑珍", "月娥", "凤英", "玉珍", "桂芳", "亚妹", "带娣", "彩霞", "瑞英", "金凤",
        "秀珍", "惠芳", "银好", "少芳", "亚好", "妹", "好", "英", "兰",
    ],
    &[
        "丽华", "秀兰", "美玲", "红梅", "桂兰", "淑芬", "爱华", "秀梅", "惠玲", "少玲", "丽萍", "玉梅", "卫红", "秀琼",
        "红", "英", "华", "萍", "梅", "芳", "琴", "珍",
    ],
    &[
        "丽", "敏", "静", "燕", "艳", "娟", "霞", "芳", "婷", "丹", "慧", "玲", "颖", "洁", "丽娟", "秀娟", "小红",
        "海燕", "晓燕", "美华", "嘉敏", "淑仪", "婉婷", "惠敏", "丽萍", "咏仪",
    ],
    &[
        "婷婷", "雨欣", "欣怡", "诗琪", "佳怡", "嘉欣", "思敏", "晓婷", "雪", "颖", "倩", "琳", "佩珊", "嘉琪", "梦琪",
        "静怡", "晓琳", "慧琳", "诗敏", "凯琳",
    ],
    &[
        "梓涵", "欣妍", "一诺", "雨桐", "可馨", "诗涵", "梓萱", "语桐", "子涵", "依诺", "若汐", "思彤", "芷晴", "梓琳",
        "悦", "沐瑶", "语嫣", "晴",
    ],
];

/// Uyghur given names (a minority name is given name · father's name).
const MINORITY_MALE: &[&str] =
    &["买买提", "阿不都热合曼", "艾力", "努尔艾力", "吐尔洪", "艾尔肯", "库尔班", "阿布来提"];
const MINORITY_FEMALE: &[&str] =
    &["古丽米拉", "热孜宛古丽", "迪丽拜尔", "阿依努尔", "帕提古丽", "努尔尼沙", "阿依古丽"];

/// Rare characters that GBK cannot encode (supplementary-plane CJK), as they
/// occur in real names: 𠮷 (a variant of 吉), 𫖯 (赵孟𫖯), 𬱖, 𬌗, 𡒄.
pub const RARE_CHARS: &[char] = &['𠮷', '𫖯', '𬱖', '𬌗', '𡒄'];

/// Traditional forms of surnames, as an overseas-Chinese family (华侨) may
/// write them: a real registry–roster mismatch, not a normalisation.
#[rustfmt::skip]
const TRADITIONAL: &[(&str, &str)] = &[
    ("陈", "陳"), ("黄", "黃"), ("刘", "劉"), ("张", "張"), ("吴", "吳"), ("杨", "楊"), ("赵", "趙"), ("郑", "鄭"),
    ("谭", "譚"), ("关", "關"), ("邓", "鄧"), ("冯", "馮"), ("钟", "鍾"), ("叶", "葉"), ("罗", "羅"), ("许", "許"),
    ("苏", "蘇"), ("卢", "盧"), ("邝", "鄺"), ("区", "區"), ("梅", "楳"),
];

/// Homophones and look-alikes a caseworker types for a given-name character.
#[rustfmt::skip]
const HOMOPHONES: &[(char, char)] = &[
    ('英', '瑛'), ('华', '桦'), ('伟', '玮'), ('丽', '莉'), ('明', '铭'), ('红', '虹'), ('芳', '芬'), ('玲', '琳'),
    ('敏', '民'), ('强', '祥'), ('军', '君'), ('杰', '洁'), ('燕', '艳'), ('娟', '鹃'), ('霞', '侠'), ('梅', '玫'),
    ('兰', '岚'), ('珍', '贞'), ('辉', '晖'), ('文', '雯'), ('平', '萍'), ('涛', '滔'), ('斌', '彬'), ('鹏', '朋'),
    ('勇', '永'), ('荣', '容'), ('豪', '浩'), ('轩', '萱'), ('涵', '含'), ('欣', '馨'), ('怡', '仪'), ('婷', '亭'),
    ('宇', '雨'), ('浩', '皓'), ('子', '梓'), ('佳', '嘉'), ('嘉', '佳'), ('俊', '骏'), ('秀', '琇'), ('桂', '贵'),
    ('玉', '钰'), ('凤', '风'), ('国', '帼'), ('建', '健'), ('志', '智'), ('静', '靖'), ('颖', '莹'), ('婉', '宛'),
];

/// Index of the era lists for a birth year.
fn era(birth_year: i32) -> usize {
    match birth_year {
        ..=1949 => 0,
        1950..=1969 => 1,
        1970..=1989 => 2,
        1990..=2009 => 3,
        _ => 4,
    }
}

/// A generated name: surname and given name kept apart for misspellings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    pub surname: String,
    pub given: String,
    /// A minority name `given·father`, written as one string in `given`.
    pub minority: bool,
}

impl Name {
    pub fn full(&self) -> String {
        format!("{}{}", self.surname, self.given)
    }
}

/// Surname tables, built once per generation.
pub struct NameTables {
    local: Weighted<&'static str>,
    national: Weighted<&'static str>,
}

impl NameTables {
    pub fn new() -> NameTables {
        NameTables { local: Weighted::new(LOCAL_SURNAMES), national: Weighted::new(NATIONAL_SURNAMES) }
    }

    /// A Han name for a person born in `birth_year`; `local` picks the Wuyi surname table.
    pub fn han<R: Rng>(&self, rng: &mut R, male: bool, birth_year: i32, local: bool) -> Name {
        let surname = if local { self.local.sample(rng) } else { self.national.sample(rng) };
        let lists = if male { &MALE_GIVEN } else { &FEMALE_GIVEN };
        // A fifth of people carry a name of the neighbouring era.
        let mut e = era(birth_year);
        if rng.gen_bool(0.2) {
            e = if rng.gen_bool(0.5) { e.saturating_sub(1) } else { (e + 1).min(4) };
        }
        Name { surname: (*surname).to_string(), given: (*pick(rng, lists[e])).to_string(), minority: false }
    }

    /// A Uyghur name `given·father's name`, with the standard middle dot U+00B7.
    pub fn minority<R: Rng>(&self, rng: &mut R, male: bool) -> Name {
        let given = if male { pick(rng, MINORITY_MALE) } else { pick(rng, MINORITY_FEMALE) };
        let father = pick(rng, MINORITY_MALE);
        Name { surname: String::new(), given: format!("{given}·{father}"), minority: true }
    }
}

/// Replaces the last character of the given name by a rare character outside GBK.
pub fn with_rare_char<R: Rng>(rng: &mut R, name: &Name) -> Name {
    let mut chars: Vec<char> = name.given.chars().collect();
    let rare = *pick(rng, RARE_CHARS);
    let replace_last = chars.len() > 1 || rng.gen_bool(0.5);
    match chars.last_mut() {
        Some(last) if replace_last => *last = rare,
        _ => chars.push(rare),
    }
    Name { surname: name.surname.clone(), given: chars.into_iter().collect(), minority: name.minority }
}

/// The name as a department might wrongly type it: different from the
/// registered name even after normalisation (dot dropped, a traditional
/// surname, a homophone in the given name).
pub fn misspelled<R: Rng>(rng: &mut R, name: &Name) -> String {
    if name.minority {
        return name.given.replace('·', "");
    }
    if rng.gen_bool(0.35) {
        if let Some((_, trad)) = TRADITIONAL.iter().find(|(s, _)| *s == name.surname) {
            return format!("{trad}{}", name.given);
        }
    }
    let mut given: Vec<char> = name.given.chars().collect();
    for c in given.iter_mut().rev() {
        if let Some((_, alt)) = HOMOPHONES.iter().find(|(from, _)| from == c) {
            *c = *alt;
            return format!("{}{}", name.surname, given.into_iter().collect::<String>());
        }
    }
    // No known look-alike: the caseworker typed a different last character.
    let last = given.last().copied().unwrap_or('明');
    let replacement = if last == '明' { '敏' } else { '明' };
    match given.last_mut() {
        Some(c) => *c = replacement,
        None => given.push(replacement),
    }
    format!("{}{}", name.surname, given.into_iter().collect::<String>())
}

/// Other middle dots that normalise to `·` (domain.md "name"), as typed in
/// UTF-8 files; of them only the full-width `．` exists in GBK.
pub const VARIANT_DOTS_UTF8: &[char] = &['•', '・', '‧', '．'];
pub const VARIANT_DOTS_GBK: &[char] = &['．'];

/// Every given name and surname in the tables, for tests.
#[cfg(test)]
pub fn all_table_strings() -> Vec<&'static str> {
    let mut out: Vec<&str> = LOCAL_SURNAMES.iter().chain(NATIONAL_SURNAMES).map(|(s, _)| *s).collect();
    for list in MALE_GIVEN.iter().chain(FEMALE_GIVEN.iter()) {
        out.extend_from_slice(list);
    }
    out.extend_from_slice(MINORITY_MALE);
    out.extend_from_slice(MINORITY_FEMALE);
    out.extend(TRADITIONAL.iter().map(|(_, t)| *t));
    out
}

#[cfg(test)]
pub fn homophone_targets() -> impl Iterator<Item = char> {
    HOMOPHONES.iter().map(|(_, to)| *to)
}
