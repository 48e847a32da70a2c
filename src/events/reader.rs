//! One way to read the log, whichever the backend: what the admin API, the
//! CLI and replay use.

use std::path::PathBuf;

use secrecy::ExposeSecret;

use super::path_beside;
use super::query::{self, Filter, Page, Record, Summary};
use super::redis_log::{RedisLogError, RedisReader};
use crate::config::{StoreBackend, StoreSettings};

/// Records per page of a [`Reader::walk`].
const WALK_PAGE: usize = 500;

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

    /// A page of the records `filter` selects, newest first; none when
    /// there is no log yet.
    pub async fn list(&self, filter: &Filter) -> Result<Page, ReadError> {
        match self {
            Self::Sqlite(path) => {
                let filter = filter.clone();
                off_the_runtime(path, move |connection| query::list(connection, &filter)).await
            }
            Self::Redis(reader) => Ok(reader.list(filter).await?),
        }
    }

    /// The records `filter` selects, newest first (or oldest first), page after page until
    /// `filter.limit` of them or the end of the log.
    pub async fn walk(&self, filter: &Filter) -> Result<Vec<Summary>, ReadError> {
        let mut filter = filter.clone();
        let wanted = filter.limit;
        let mut found = Vec::new();
        while found.len() < wanted {
            filter.limit = (wanted - found.len()).min(WALK_PAGE);
            let page = self.list(&filter).await?;
            found.extend(page.records);
            match page.next {
                Some(next) if filter.oldest_first => filter.after = Some(next),
                Some(next) => filter.before = Some(next),
                None => break,
            }
        }
        Ok(found)
    }

    /// The record `id` with its headers, body and attempts.
    pub async fn get(&self, id: &str) -> Result<Option<Record>, ReadError> {
        match self {
            Self::Sqlite(path) => {
                let id = id.to_string();
                off_the_runtime(path, move |connection| query::get(connection, &id)).await
            }
            Self::Redis(reader) => Ok(reader.get(id).await?),
        }
    }
}

/// `read` on a connection to the log at `path` (nothing found, `T`'s
/// default, when there is no log yet), on a blocking thread: a text search
/// reads every kept body of its range, which would hold up whatever else
/// the runtime serves (the admin API, reloads; the webhooks too with the
/// admin API on the public listener).
async fn off_the_runtime<T: Default + Send + 'static>(
    path: &std::path::Path,
    read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
) -> Result<T, ReadError> {
    let path = path.to_path_buf();
    let blocking = tokio::task::spawn_blocking(move || match query::open(&path)? {
        Some(connection) => Ok(read(&connection)?),
        None => Ok(T::default()),
    });
    blocking.await.expect("a read of the log does not panic")
}
