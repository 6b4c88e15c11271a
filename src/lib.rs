//! onecard: the social-security one-card (社会保障卡 一卡通) benefit system.
//!
//! `domain` is the pure core; `store` is the only module that speaks SQL;
//! `formats` reads and writes files; `jobs` are the steps of the month; `gen`
//! makes a synthetic city; `cli` is the command-line edge.

pub mod cli;
pub mod config;
pub mod domain;
pub mod formats;
pub mod gen;
pub mod iso8583;
pub mod jobs;
pub mod scheduler;
pub mod sim;
pub mod store;
pub mod web;
