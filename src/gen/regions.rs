//! The regions of Jiangmen, Guangdong (江门市, 4407) as data: its seven
//! districts and county-level cities with their streets (街道, codes 0xx) and
//! towns (镇, 1xx), and the birthplace codes of migrants. Region codes are the
//! 12-digit statistical division codes: district 6, street/town 3,
//! community (居委会, 001..) or village (村委会, 201..) 3.
//!
//! District codes and street/town names are real; street/town and community
//! numbers follow the national coding rule but are not copied from the official list.

use rand::Rng;

use super::sample::Weighted;

pub const CITY_CODE: &str = "4407";
pub const CITY_NAME: &str = "江门市";

/// A street or town of a district, with how many residents' committees and
/// village committees it has and its share of the district's population.
pub struct Street {
    pub code: &'static str,
    pub name: &'static str,
    pub weight: u32,
    pub communities: u16,
    pub villages: u16,
}

/// A district or county-level city. `weight` is its population in ten
/// thousands (2020 census, rounded): the urban districts are the largest.
pub struct District {
    pub code: &'static str,
    pub name: &'static str,
    pub weight: u32,
    /// Dibao standard (低保标准) in yuan per month: urban districts pay more.
    pub dibao_standard: i64,
    pub streets: &'static [Street],
}

const fn st(code: &'static str, name: &'static str, weight: u32, communities: u16, villages: u16) -> Street {
    Street { code, name, weight, communities, villages }
}

pub const DISTRICTS: &[District] = &[
    District {
        code: "440703",
        name: "蓬江区",
        weight: 109,
        dibao_standard: 1100,
        streets: &[
            st("001", "环市街道", 30, 14, 12),
            st("002", "白沙街道", 28, 30, 0),
            st("003", "潮连街道", 6, 2, 9),
            st("100", "杜阮镇", 12, 3, 14),
            st("101", "棠下镇", 14, 3, 18),
            st("102", "荷塘镇", 9, 2, 13),
        ],
    },
    District {
        code: "440704",
        name: "江海区",
        weight: 39,
        dibao_standard: 1100,
        streets: &[
            st("001", "江南街道", 14, 12, 4),
            st("002", "外海街道", 13, 6, 10),
            st("003", "礼乐街道", 12, 5, 11),
        ],
    },
    District {
        code: "440705",
        name: "新会区",
        weight: 92,
        dibao_standard: 1050,
        streets: &[
            st("001", "会城街道", 40, 30, 28),
            st("100", "大泽镇", 6, 2, 14),
            st("101", "司前镇", 5, 2, 12),
            st("102", "罗坑镇", 4, 1, 10),
            st("103", "双水镇", 8, 2, 20),
            st("104", "崖门镇", 5, 2, 12),
            st("105", "沙堆镇", 5, 1, 12),
            st("106", "古井镇", 5, 1, 13),
            st("107", "三江镇", 5, 1, 10),
            st("108", "睦洲镇", 5, 1, 12),
            st("109", "大鳌镇", 3, 1, 8),
        ],
    },
    District {
        code: "440781",
        name: "台山市",
        weight: 91,
        dibao_standard: 1000,
        streets: &[
            st("001", "台城街道", 30, 16, 26),
            st("100", "大江镇", 5, 1, 16),
            st("101", "水步镇", 4, 1, 13),
            st("102", "四九镇", 4, 1, 12),
            st("103", "白沙镇", 4, 1, 16),
            st("104", "三合镇", 3, 1, 12),
            st("105", "冲蒌镇", 3, 1, 10),
            st("106", "斗山镇", 4, 1, 15),
            st("107", "都斛镇", 4, 1, 14),
            st("108", "赤溪镇", 2, 1, 8),
            st("109", "端芬镇", 4, 1, 16),
            st("110", "广海镇", 4, 1, 15),
            st("111", "海宴镇", 4, 1, 14),
            st("112", "汶村镇", 3, 1, 12),
            st("113", "深井镇", 3, 1, 10),
            st("114", "北陡镇", 2, 1, 8),
            st("115", "川岛镇", 2, 1, 8),
        ],
    },
    District {
        code: "440783",
        name: "开平市",
        weight: 75,
        dibao_standard: 1000,
        streets: &[
            st("001", "长沙街道", 18, 12, 8),
            st("002", "三埠街道", 16, 10, 12),
            st("100", "月山镇", 4, 1, 12),
            st("101", "水口镇", 6, 2, 14),
            st("102", "沙塘镇", 3, 1, 10),
            st("103", "苍城镇", 4, 1, 12),
            st("104", "龙胜镇", 3, 1, 11),
            st("105", "大沙镇", 2, 1, 8),
            st("106", "马冈镇", 3, 1, 10),
            st("107", "塘口镇", 3, 1, 12),
            st("108", "赤坎镇", 4, 1, 15),
            st("109", "百合镇", 3, 1, 10),
            st("110", "蚬冈镇", 3, 1, 10),
            st("111", "金鸡镇", 2, 1, 8),
            st("112", "赤水镇", 3, 1, 12),
        ],
    },
    District {
        code: "440784",
        name: "鹤山市",
        weight: 53,
        dibao_standard: 1000,
        streets: &[
            st("001", "沙坪街道", 20, 14, 18),
            st("100", "龙口镇", 4, 1, 12),
            st("101", "雅瑶镇", 4, 1, 10),
            st("102", "古劳镇", 3, 1, 10),
            st("103", "桃源镇", 4, 1, 12),
            st("104", "鹤城镇", 4, 1, 14),
            st("105", "共和镇", 5, 1, 12),
            st("106", "址山镇", 4, 1, 12),
            st("107", "宅梧镇", 3, 1, 10),
            st("108", "双合镇", 2, 1, 6),
        ],
    },
    District {
        code: "440785",
        name: "恩平市",
        weight: 49,
        dibao_standard: 1000,
        streets: &[
            st("001", "恩城街道", 18, 14, 20),
            st("002", "平石街道", 4, 3, 8),
            st("100", "横陂镇", 3, 1, 12),
            st("101", "圣堂镇", 3, 1, 12),
            st("102", "良西镇", 2, 1, 9),
            st("103", "东成镇", 3, 1, 12),
            st("104", "君堂镇", 3, 1, 12),
            st("105", "大槐镇", 3, 1, 10),
            st("106", "沙湖镇", 3, 1, 12),
            st("107", "牛江镇", 2, 1, 10),
            st("108", "那吉镇", 2, 1, 8),
            st("109", "大田镇", 2, 1, 8),
        ],
    },
];

/// Birthplace codes (county level) of migrants to Jiangmen: neighbouring
/// Guangdong counties, Guangxi, Hunan, Sichuan, Jiangxi, Henan, Guizhou.
/// Weights are relative shares.
pub const MIGRANT_BIRTHPLACES: &[(&str, u32)] = &[
    ("441781", 12), // 阳春市
    ("441721", 8),  // 阳西县
    ("440981", 8),  // 高州市
    ("440823", 6),  // 遂溪县
    ("441581", 5),  // 陆丰市
    ("445222", 4),  // 揭西县
    ("450881", 10), // 桂平市
    ("450821", 7),  // 平南县
    ("450921", 6),  // 容县
    ("430524", 7),  // 隆回县
    ("430525", 5),  // 洞口县
    ("431021", 4),  // 桂阳县
    ("510623", 5),  // 中江县
    ("511321", 4),  // 南部县
    ("360731", 4),  // 于都县
    ("411323", 3),  // 淅川县
    ("522427", 2),  // 威宁县 (old code, still on ids issued then)
];

/// Birthplaces of Uyghur migrants (Xinjiang).
pub const MINORITY_BIRTHPLACES: &[(&str, u32)] = &[
    ("650102", 3), // 乌鲁木齐市天山区
    ("653101", 4), // 喀什市
    ("652801", 2), // 库尔勒市
];

/// Every birthplace code an id may carry: the districts, then migrants'.
pub fn all_birthplaces() -> Vec<&'static str> {
    DISTRICTS
        .iter()
        .map(|d| d.code)
        .chain(MIGRANT_BIRTHPLACES.iter().map(|(c, _)| *c))
        .chain(MINORITY_BIRTHPLACES.iter().map(|(c, _)| *c))
        .collect()
}

/// Where a person lives: a 12-digit code and the district it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    pub district: usize,
    pub street: usize,
    pub code: String,
}

/// Samples homes by population.
pub struct RegionPicker {
    streets: Weighted<(usize, usize)>,
}

impl RegionPicker {
    pub fn new() -> RegionPicker {
        let mut entries = Vec::new();
        for (d, district) in DISTRICTS.iter().enumerate() {
            let total: u32 = district.streets.iter().map(|s| s.weight).sum();
            for (s, street) in district.streets.iter().enumerate() {
                entries.push(((d, s), district.weight * 1000 * street.weight / total.max(1)));
            }
        }
        RegionPicker { streets: Weighted::new(&entries) }
    }

    pub fn home<R: Rng>(&self, rng: &mut R) -> Home {
        let (d, s) = *self.streets.sample(rng);
        home_in(rng, d, s)
    }

    /// Another community of the same street (an office that listed the person
    /// before a move, or a neighbouring office); the same one if the street has only one.
    pub fn neighbour<R: Rng>(&self, rng: &mut R, home: &Home) -> Home {
        for _ in 0..8 {
            let other = home_in(rng, home.district, home.street);
            if other.code != home.code {
                return other;
            }
        }
        // A street with a single community: an office of another street.
        loop {
            let other = self.home(rng);
            if other.code != home.code {
                return other;
            }
        }
    }
}

fn home_in<R: Rng>(rng: &mut R, d: usize, s: usize) -> Home {
    let district = &DISTRICTS[d];
    let street = &district.streets[s];
    let n = u32::from(street.communities) + u32::from(street.villages);
    let k = rng.gen_range(0..n.max(1));
    // Residents' committees are 001.., village committees 201..
    let community = if k < u32::from(street.communities) { k + 1 } else { 201 + (k - u32::from(street.communities)) };
    Home { district: d, street: s, code: format!("{}{}{community:03}", district.code, street.code) }
}

/// Display name of a region code or prefix: `江门市蓬江区环市街道 社区 003`.
pub fn region_name(code: &str) -> Option<String> {
    if !code.starts_with(CITY_CODE) {
        return None;
    }
    let mut name = CITY_NAME.to_string();
    if code.len() < 6 {
        return Some(name);
    }
    let district = DISTRICTS.iter().find(|d| code.starts_with(d.code))?;
    name.push_str(district.name);
    if code.len() < 9 {
        return Some(name);
    }
    let street = district.streets.iter().find(|s| code[6..9] == *s.code)?;
    name.push_str(street.name);
    if code.len() >= 12 {
        let kind = if code[9..].starts_with(['2', '3']) { "村委会" } else { "居委会" };
        name.push_str(&format!(" {kind} {}", &code[9..12]));
    }
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_well_formed_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for d in DISTRICTS {
            assert!(d.code.starts_with(CITY_CODE) && d.code.len() == 6);
            for s in d.streets {
                assert_eq!(s.code.len(), 3);
                assert!(s.communities + s.villages > 0);
                assert!(seen.insert(format!("{}{}", d.code, s.code)));
            }
        }
        for code in all_birthplaces() {
            assert!(code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()), "{code}");
        }
    }

    #[test]
    fn names_regions_for_display() {
        assert_eq!(region_name("440703001003").as_deref(), Some("江门市蓬江区环市街道 居委会 003"));
        assert_eq!(region_name("440781100"), Some("江门市台山市大江镇".to_string()));
        assert_eq!(region_name("110101"), None);
    }
}
