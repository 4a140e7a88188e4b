//! Ready-made, authenticated readiness handshakes for wire protocols that several engines
//! share, so a plugin for a compatible server (MariaDB, TiDB, ...) need not write its own.

pub mod mysql;
pub mod scram;
