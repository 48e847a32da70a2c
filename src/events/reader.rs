//! One way to read the log, whichever the backend: what the admin API, the
//! CLI and replay use.

use std::path::PathBuf;

use secrecy::ExposeSecret;

use super::path_beside;
use super::query::{self, Filter, Record, Summary};
use super::redis_log::{RedisLogError, RedisReader};
use crate::config::{StoreBackend, StoreSettings};

/// Where the log is read from.
#[derive(Debug)]
pub enum Reader {
    /// The SQLite file; each read on a connection of its own.
    Sqlite(PathBuf),
    /// Redis, shared by every instance.
    Redis(Box<RedisReader>),
}

/// Why the log could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The SQLite file.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// Redis.
    #[error(transparent)]
    Redis(#[from] RedisLogError),
}

impl Reader {
    /// A reader of the log where `store` keeps it.
    pub fn for_store(store: &StoreSettings) -> Result<Self, redis::RedisError> {
        Ok(match &store.backend {
            StoreBackend::Embedded => Self::Sqlite(path_beside(&store.path)),
            StoreBackend::Redis { url, prefix } => {
                Self::Redis(Box::new(RedisReader::new(url.expose_secret(), prefix)?))
            }
        })
    }

    /// The SQLite file, when the log is one and it does not exist (yet).
    pub fn missing_file(&self) -> Option<&PathBuf> {
        match self {
            Self::Sqlite(path) if !path.exists() => Some(path),
            _ => None,
        }
    }

    /// The records `filter` selects, newest first; none when there is no
    /// log yet.
    pub async fn list(&self, filter: &Filter) -> Result<Vec<Summary>, ReadError> {
        match self {
            Self::Sqlite(path) => match query::open(path)? {
                Some(connection) => Ok(query::list(&connection, filter)?),
                None => Ok(Vec::new()),
            },
            Self::Redis(reader) => Ok(reader.list(filter).await?),
        }
    }

    /// The record `id` with its headers, body and attempts.
    pub async fn get(&self, id: &str) -> Result<Option<Record>, ReadError> {
        match self {
            Self::Sqlite(path) => match query::open(path)? {
                Some(connection) => Ok(query::get(&connection, id)?),
                None => Ok(None),
            },
            Self::Redis(reader) => Ok(reader.get(id).await?),
        }
    }
}
