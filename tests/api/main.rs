//! Integration tests: the real gateway in process on port 0 against a
//! recording downstream. The helpers are the `support` dev crate (tests/support).

mod breaker;
mod chatwoot;
mod client_address;
mod connections;
mod console;
mod contract;
mod dedupe;
mod destinations;
mod docs;
mod events;
mod events_on_redis;
mod forwarding;
mod limits;
mod operations;
mod outcome_records;
mod queue;
mod rate_limit;
mod redis_outage;
mod reload;
mod replay_by_filter;
mod schemes;
mod stalled_log;
mod token;
mod unverified;
