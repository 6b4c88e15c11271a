//! The pure core: identifiers, money, programs, states and the payout rules.
//! No I/O, no async, no database.

pub mod cards;
pub mod codes;
pub mod ids;
pub mod money;
pub mod payout;
pub mod program;

pub use codes::{AnomalyCode, CardState, ItemState, RunState};
pub use ids::{AccountNo, BankCode, CardNo, Gender, IdError, Period, PersonId, PersonName, RegionCode, RegionScope};
pub use money::{Money, MoneyError};
pub use program::Program;
