//! Ready-made readiness judges for wire protocols that several engines share, so a plugin
//! for a compatible server (MariaDB, TiDB, KeyDB, ...) need not write its own.

pub mod mysql;
