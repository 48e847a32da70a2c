//! Integration tests: the real gateway on port 0 against a recording downstream.

mod chatwoot;
mod contract;
mod dedupe;
mod docs;
mod forwarding;
mod helpers;
mod limits;
mod operations;
mod queue;
mod reload;
mod schemes;
