//! Files in and out: the roster CSV reader and the bank layouts.

pub mod bank;
pub mod csv_input;
pub mod gbk;
