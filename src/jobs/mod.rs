//! The steps of the month, each composing domain, store and formats. The
//! command line (and later the scheduler and the web desk) call these.

pub mod batch;
pub mod cards;
pub mod casework;
pub mod import;
pub mod missed;
pub mod reconcile;
pub mod relief;
pub mod run;
pub mod status;
pub mod verify;
