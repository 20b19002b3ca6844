//! The organisation's managed lists: service regions and problem categories. Each entry is a
//! code, which is what a job's `site.region` or `problem.category` (and an engineer's home
//! region) holds, with a name in Chinese and one in English for the people who read it.
//!
//! A list with no entries is not managed yet and takes any value, so a new organisation can
//! work from its first call; once an office adds an entry, new values must be codes of entries
//! not retired. A retired entry stays on the jobs and engineers that carry it, and an entry in
//! use cannot be deleted, only retired, so that no stored value loses its name.

use serde::{Deserialize, Serialize};

use crate::domain::dispatch::every_problem;
use crate::domain::error::{DomainError, Problem, Thing};
use crate::storage::{ListEntry, ListKind, ReadTx, Storage, read, write};

/// The longest code, in characters.
pub const MAX_CODE: usize = 40;

/// The longest name, in characters.
pub const MAX_NAME: usize = 100;

/// The most entries one list keeps.
pub const MAX_ENTRIES: usize = 500;

/// Both lists, each by code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ManagedLists {
    /// Service regions.
    pub regions: Vec<ListEntry>,
    /// Problem categories.
    pub categories: Vec<ListEntry>,
}

impl ManagedLists {
    /// Both lists as stored.
    pub fn load(tx: &dyn ReadTx) -> Result<Self, DomainError> {
        Ok(ManagedLists {
            regions: tx.list_entries(ListKind::Region)?,
            categories: tx.list_entries(ListKind::Category)?,
        })
    }

    /// The entries of `list`.
    pub fn entries(&self, list: ListKind) -> &[ListEntry] {
        match list {
            ListKind::Region => &self.regions,
            ListKind::Category => &self.categories,
        }
    }

    /// Whether a job or an engineer may be given `code` from `list`: any value while the list
    /// has no entries, else the code of an entry that is not retired.
    pub fn admits(&self, list: ListKind, code: &str) -> bool {
        let entries = self.entries(list);
        entries.is_empty() || entries.iter().any(|e| e.code == code && !e.retired)
    }

    /// What is wrong with writing `value` into `field` (`site.region`, `problem.category`,
    /// `region`): `not_in_list` with the `value`, the `list` and whether its entry is
    /// `retired`. Nothing for an empty value (whether one is required is checked elsewhere).
    pub(crate) fn problem(
        &self,
        list: ListKind,
        field: &'static str,
        value: &str,
    ) -> Option<DomainError> {
        if value.is_empty() || self.admits(list, value) {
            return None;
        }
        let retired = self.entries(list).iter().any(|e| e.code == value);
        let what = match list {
            ListKind::Region => "region",
            ListKind::Category => "problem category",
        };
        let message = if retired {
            format!("the {what} `{value}` is retired; choose another from the list")
        } else {
            format!("`{value}` is not in the organisation's list of the {what}s")
        };
        Some(
            DomainError::invalid_field(field, Problem::NotInList, message)
                .with("value", value)
                .with("list", list.as_str())
                .with("retired", retired),
        )
    }
}

/// An entry as the office sends it: the code is in the address.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct EntryBody {
    /// The name Chinese readers see (1 to [`MAX_NAME`] characters).
    pub name_zh: String,
    /// The name English readers see (1 to [`MAX_NAME`] characters).
    pub name_en: String,
    /// Whether it is retired: kept on what carries it, no longer offered or accepted.
    #[serde(default)]
    pub retired: bool,
}

/// Both lists.
pub fn lists(storage: &dyn Storage) -> Result<ManagedLists, DomainError> {
    read(storage, |tx| ManagedLists::load(tx))
}

/// Everything wrong with one text of an entry: required, at most `max` characters, no control
/// characters.
fn text_problems(field: &'static str, value: &str, max: usize) -> Option<DomainError> {
    if value.is_empty() {
        Some(DomainError::invalid_field(
            field,
            Problem::Required,
            format!("`{field}` is required"),
        ))
    } else if value.chars().count() > max {
        Some(
            DomainError::invalid_field(
                field,
                Problem::TooLong,
                format!("`{field}` is longer than {max} characters"),
            )
            .with("max", max),
        )
    } else if value.chars().any(char::is_control) {
        Some(
            DomainError::invalid_field(
                field,
                Problem::InvalidValue,
                format!("`{field}` holds a control character"),
            )
            .with("value", value),
        )
    } else {
        None
    }
}

/// Creates or replaces the entry `code` of `list` (codes, names trimmed; every problem named at
/// once and nothing stored on error). Returns the entry as stored.
pub fn put(
    storage: &dyn Storage,
    list: ListKind,
    code: &str,
    body: EntryBody,
) -> Result<ListEntry, DomainError> {
    let entry = ListEntry {
        code: code.trim().to_owned(),
        name_zh: body.name_zh.trim().to_owned(),
        name_en: body.name_en.trim().to_owned(),
        retired: body.retired,
    };
    every_problem(
        [
            text_problems("code", &entry.code, MAX_CODE),
            text_problems("name_zh", &entry.name_zh, MAX_NAME),
            text_problems("name_en", &entry.name_en, MAX_NAME),
        ]
        .into_iter()
        .flatten()
        .collect(),
    )?;
    write(storage, |tx| {
        let entries = tx.list_entries(list)?;
        if entries.len() >= MAX_ENTRIES && !entries.iter().any(|e| e.code == entry.code) {
            return Err(DomainError::invalid_field(
                "code",
                Problem::TooMany,
                format!("a list keeps at most {MAX_ENTRIES} entries; retire or delete one"),
            )
            .with("max", MAX_ENTRIES));
        }
        tx.put_list_entry(list, &entry)?;
        Ok(entry.clone())
    })
}

/// Deletes the entry `code` of `list`: refused with `in_use` while a job or an engineer carries
/// it (retire it instead), `not_found` when there is none.
pub fn delete(storage: &dyn Storage, list: ListKind, code: &str) -> Result<(), DomainError> {
    write(storage, |tx| {
        if tx.list_code_in_use(list, code)? {
            return Err(DomainError::conflict(
                Problem::InUse,
                format!("`{code}` is in use on jobs or engineers; retire it instead"),
            )
            .with("list", list.as_str())
            .with("code", code));
        }
        if !tx.delete_list_entry(list, code)? {
            return Err(DomainError::not_found(Thing::ListEntry, code));
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::ManagedLists;
    use crate::domain::error::Problem;
    use crate::storage::{ListEntry, ListKind};

    fn entry(code: &str, retired: bool) -> ListEntry {
        ListEntry {
            code: code.into(),
            name_zh: code.into(),
            name_en: code.into(),
            retired,
        }
    }

    /// An empty list takes anything; a managed one its codes that are not retired, exactly.
    #[test]
    fn a_list_admits_its_codes_once_it_has_entries() {
        let mut lists = ManagedLists::default();
        assert!(lists.admits(ListKind::Region, "anywhere"));
        lists.regions = vec![entry("华东", false), entry("west", true)];
        assert!(lists.admits(ListKind::Region, "华东"));
        assert!(!lists.admits(ListKind::Region, "华东 "));
        assert!(!lists.admits(ListKind::Region, "west"), "retired");
        assert!(!lists.admits(ListKind::Region, "north"));
        assert!(
            lists.admits(ListKind::Category, "leak"),
            "the other list is empty"
        );
        let problem = lists
            .problem(ListKind::Region, "site.region", "west")
            .expect("retired");
        let params = serde_json::Value::Object(problem.params());
        assert_eq!(params["problem"], Problem::NotInList.as_str());
        assert_eq!(params["retired"], true);
        assert_eq!(params["list"], "region");
        assert!(lists.problem(ListKind::Region, "site.region", "").is_none());
    }
}
