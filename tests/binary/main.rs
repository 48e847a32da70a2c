//! The built `hookgate` binary as an operator runs it: serve, signals,
//! check, sign, queue, openapi, under systemd (notifications, paths,
//! completions, man page); and a real browser on the docs page and the
//! console. The
//! shared helpers are the `support` dev crate (tests/support); spawning the
//! binary is [`process`], used only here.

mod cli;
mod connections;
mod console_browser;
mod docs_browser;
mod events;
mod full_disk;
mod install;
mod notify;
mod openapi_files;
mod priority;
mod process;
mod queue;
mod reload;
mod traces;
