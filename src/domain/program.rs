//! The eight benefit programs of domain.md and their policy parameters.

use std::fmt;

use crate::domain::money::Money;

/// A benefit program paid through the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Program {
    /// Minimum living allowance (低保).
    Dibao,
    /// Support for persons in extreme poverty (特困供养, formerly 五保).
    Wubao,
    /// Temporary relief (临时救助).
    TempRelief,
    /// Veterans' pensions and preferential treatment (抚恤优待).
    Veteran,
    /// Old-age allowance (高龄津贴), computed from the registry.
    Elderly,
    /// Unemployment insurance benefit (失业保险金).
    Unemployment,
    /// Care subsidy for the severely disabled (重度残疾人护理补贴).
    DisabilityCare,
    /// Living subsidy for disabled persons in hardship (困难残疾人生活补贴).
    DisabilityLiving,
}

impl Program {
    pub const ALL: [Program; 8] = [
        Program::Dibao,
        Program::Wubao,
        Program::TempRelief,
        Program::Veteran,
        Program::Elderly,
        Program::Unemployment,
        Program::DisabilityCare,
        Program::DisabilityLiving,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Program::Dibao => "dibao",
            Program::Wubao => "wubao",
            Program::TempRelief => "temp_relief",
            Program::Veteran => "veteran",
            Program::Elderly => "elderly",
            Program::Unemployment => "unemployment",
            Program::DisabilityCare => "disability_care",
            Program::DisabilityLiving => "disability_living",
        }
    }

    pub fn parse(code: &str) -> Option<Program> {
        Program::ALL.into_iter().find(|p| p.as_str() == code.trim())
    }

    /// Name on statements and in remarks.
    pub fn default_name(self) -> &'static str {
        match self {
            Program::Dibao => "低保金",
            Program::Wubao => "特困供养金",
            Program::TempRelief => "临时救助金",
            Program::Veteran => "抚恤优待金",
            Program::Elderly => "高龄津贴",
            Program::Unemployment => "失业保险金",
            Program::DisabilityCare => "重度残疾人护理补贴",
            Program::DisabilityLiving => "困难残疾人生活补贴",
        }
    }

    pub fn default_owner(self) -> &'static str {
        match self {
            Program::Dibao | Program::Wubao | Program::TempRelief | Program::Elderly => "民政",
            Program::Veteran => "退役军人事务",
            Program::Unemployment => "人社",
            Program::DisabilityCare | Program::DisabilityLiving => "残联",
        }
    }

    pub fn default_cap(self) -> Money {
        match self {
            Program::TempRelief => Money::yuan(20_000),
            _ => Money::yuan(5_000),
        }
    }

    /// Departments deliver rosters for every program but `elderly`.
    pub fn has_roster(self) -> bool {
        self != Program::Elderly
    }
}

impl fmt::Display for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
