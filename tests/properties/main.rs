//! Property tests: arbitrary headers, bodies and config text never panic
//! the signature schemes or the config loader, and never forge a signature.
//!
//! Each property runs proptest's default 256 cases; `PROPTEST_CASES=20000
//! cargo test --test properties` digs deeper.

mod config_text;
mod schemes;
