//! What every resource shares: the listing envelope, levels, sort directions, and the
//! optional-nullable field of PATCH bodies.

use berth_core::Level;
use berth_service::{Direction, Listed, Page};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// One page of a listing: `total` counts every item that matches (of those the caller may
/// see), `limit` and `offset` are the page asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct Listing<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

impl<T> Listing<T> {
    /// A page of a service listing, mapped to DTOs.
    pub fn of<R>(listed: Listed<R>, page: Page, f: impl FnMut(R) -> T) -> Listing<T> {
        Listing {
            items: listed.items.into_iter().map(f).collect(),
            total: listed.total,
            limit: page.limit,
            offset: page.offset,
        }
    }

    /// A page cut from a whole (small) list that the service returns at once.
    pub fn slice<R>(all: Vec<R>, page: Page, f: impl FnMut(R) -> T) -> Listing<T> {
        let total = all.len() as u64;
        let items = all
            .into_iter()
            .skip(usize::try_from(page.offset).unwrap_or(usize::MAX))
            .take(page.limit as usize)
            .map(f)
            .collect();
        Listing {
            items,
            total,
            limit: page.limit,
            offset: page.offset,
        }
    }
}

/// A level in a namespace: `read` (pull, browse), `write` (and push), `manage` (and
/// delete, settings, members, robots).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LevelName {
    Read,
    Write,
    Manage,
}

impl From<Level> for LevelName {
    fn from(l: Level) -> Self {
        match l {
            Level::Read => LevelName::Read,
            Level::Write => LevelName::Write,
            Level::Manage => LevelName::Manage,
        }
    }
}

impl From<LevelName> for Level {
    fn from(l: LevelName) -> Self {
        match l {
            LevelName::Read => Level::Read,
            LevelName::Write => Level::Write,
            LevelName::Manage => Level::Manage,
        }
    }
}

/// Sort direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

impl From<Order> for Direction {
    fn from(o: Order) -> Self {
        match o {
            Order::Asc => Direction::Asc,
            Order::Desc => Direction::Desc,
        }
    }
}

/// A time as RFC 3339.
pub fn time(ms: i64) -> String {
    berth_core::time::rfc3339(ms)
}

pub fn time_opt(ms: Option<i64>) -> Option<String> {
    ms.map(time)
}

/// For PATCH fields where `null` means something (go back to the default) and leaving the
/// field out keeps it: `None` absent, `Some(None)` null, `Some(Some(v))` a value. Use with
/// `#[serde(default, deserialize_with = "nullable")]`.
pub fn nullable<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}
