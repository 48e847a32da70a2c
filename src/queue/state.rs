//! Where a stored event stands: pending, delivered (kept for `retention`) or
//! dead. The names are the ones stored (the SQLite `state` column, the Redis
//! event hash's `state` field) and printed (`hookgate queue ls`).

use std::fmt;
use std::str::FromStr;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

/// The state of a stored event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventState {
    /// Waiting for a (first or further) attempt.
    Pending,
    /// Failed every attempt: a dead letter, waiting for a replay or a purge.
    Dead,
    /// Delivered, kept for the route's `retention`.
    Delivered,
}

/// A state name this hookgate does not know: a store written by another
/// version, or by hand. Refused rather than guessed, so that counts and
/// listings never show an event as something it is not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown event state `{0}` in the store")]
pub struct UnknownState(pub String);

impl EventState {
    /// Every state, in the order listings show them.
    pub const ALL: [EventState; 3] = [EventState::Pending, EventState::Dead, EventState::Delivered];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Pending => "pending",
            EventState::Dead => "dead",
            EventState::Delivered => "delivered",
        }
    }
}

impl fmt::Display for EventState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, not `write_str`: the listing aligns the column with `{:<9}`.
        f.pad(self.as_str())
    }
}

impl FromStr for EventState {
    type Err = UnknownState;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        EventState::ALL
            .into_iter()
            .find(|state| state.as_str() == name)
            .ok_or_else(|| UnknownState(name.to_string()))
    }
}

impl ToSql for EventState {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::from(self.as_str()))
    }
}

impl FromSql for EventState {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value
            .as_str()?
            .parse()
            .map_err(|unknown| FromSqlError::Other(Box::new(unknown)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_state_reads_back_from_the_name_it_is_stored_under() {
        for state in EventState::ALL {
            assert_eq!(state.as_str().parse(), Ok(state));
        }
        assert_eq!(EventState::Pending.as_str(), "pending");
        assert_eq!(EventState::Dead.as_str(), "dead");
        assert_eq!(EventState::Delivered.as_str(), "delivered");
    }

    #[test]
    fn an_unknown_state_name_is_refused_not_taken_for_delivered() {
        assert_eq!(
            "archived".parse::<EventState>(),
            Err(UnknownState("archived".into()))
        );
    }

    #[test]
    fn a_state_pads_to_the_listing_column_width() {
        assert_eq!(format!("[{:<9}]", EventState::Dead), "[dead     ]");
    }
}
