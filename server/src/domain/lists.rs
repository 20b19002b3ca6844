//! The organisation's managed lists: service regions and problem categories. Each entry is a
//! code, which is what a job's `site.region` or `problem.category` (and an engineer's home
//! region) holds, with a name in Chinese and one in English for the people who read it.
//!
//! A list with no entries is not managed yet and takes any value, so a new organisation can
//! work from its first call; once an office adds an entry, new values must be codes of entries
//! not retired. A retired entry stays on the jobs and engineers that carry it, and an entry in
//! use cannot be deleted, only retired, so that no stored value loses its name.

use serde::{Deserialize, Serialize};

use crate::domain::dispatch::{every_problem, required_text};
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
        if value.trim().is_empty() || self.admits(list, value) {
            return None;
        }
        let retired = self.entries(list).iter().any(|e| e.code == value);
        let (one, all) = match list {
            ListKind::Region => ("region", "regions"),
            ListKind::Category => ("problem category", "problem categories"),
        };
        let message = if retired {
            format!("the {one} `{value}` is retired; choose another from the list")
        } else {
            format!("`{value}` is not in the organisation's list of {all}")
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

/// Everything wrong with one text of an entry: what any required text must be (words, at most
/// `max` characters), and no control characters.
fn text_problems(field: &'static str, value: &str, max: usize) -> Vec<DomainError> {
    let mut problems = required_text(field, value, max);
    if value.chars().any(char::is_control) {
        problems.push(
            DomainError::invalid_field(
                field,
                Problem::InvalidValue,
                format!("`{field}` holds a control character"),
            )
            .with("value", value),
        );
    }
    problems
}

/// Creates or replaces the entry `code` of `list`, names trimmed, every problem named at once
/// and nothing stored on error. A new code is trimmed and checked; an existing one (exactly, or
/// once trimmed) is taken as it is stored, and so are its names when they are sent unchanged
/// (an upgrade made entries of the values already in use, whatever they were), so that every
/// entry can be renamed and retired. Returns the entry as stored.
pub fn put(
    storage: &dyn Storage,
    list: ListKind,
    code: &str,
    body: EntryBody,
) -> Result<ListEntry, DomainError> {
    write(storage, |tx| {
        let entries = tx.list_entries(list)?;
        let stored = entries
            .iter()
            .find(|e| e.code == code)
            .or_else(|| entries.iter().find(|e| e.code == code.trim()));
        let entry = ListEntry {
            code: stored.map_or(code.trim(), |e| e.code.as_str()).to_owned(),
            name_zh: body.name_zh.trim().to_owned(),
            name_en: body.name_en.trim().to_owned(),
            retired: body.retired,
        };
        // What is stored already stands (retiring an entry an upgrade named by a long value
        // resends that name); what is new is checked.
        let check = |field, value: &str, held: Option<&str>, max| {
            if held == Some(value) {
                Vec::new()
            } else {
                text_problems(field, value, max)
            }
        };
        every_problem(
            [
                check(
                    "code",
                    &entry.code,
                    stored.map(|e| e.code.as_str()),
                    MAX_CODE,
                ),
                check(
                    "name_zh",
                    &entry.name_zh,
                    stored.map(|e| e.name_zh.as_str()),
                    MAX_NAME,
                ),
                check(
                    "name_en",
                    &entry.name_en,
                    stored.map(|e| e.name_en.as_str()),
                    MAX_NAME,
                ),
            ]
            .into_iter()
            .flatten()
            .collect(),
        )?;
        if stored.is_none() && entries.len() >= MAX_ENTRIES {
            return Err(DomainError::invalid_field(
                "code",
                Problem::TooMany,
                format!(
                    "a list keeps at most {MAX_ENTRIES} entries, retired ones included; \
                     delete one nothing carries"
                ),
            )
            .with("max", MAX_ENTRIES));
        }
        tx.put_list_entry(list, &entry)?;
        Ok(entry)
    })
}

/// Deletes the entry `code` of `list`: `not_found` when there is none, refused with `in_use`
/// while a job or an engineer carries it (retire it instead).
pub fn delete(storage: &dyn Storage, list: ListKind, code: &str) -> Result<(), DomainError> {
    write(storage, |tx| {
        if !tx.list_entries(list)?.iter().any(|e| e.code == code) {
            return Err(DomainError::not_found(Thing::ListEntry, code));
        }
        if tx.list_code_in_use(list, code)? {
            return Err(DomainError::conflict(
                Problem::InUse,
                format!("`{code}` is in use on jobs or engineers; retire it instead"),
            )
            .with("list", list.as_str())
            .with("code", code));
        }
        tx.delete_list_entry(list, code)?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::{EntryBody, ManagedLists, put};
    use crate::domain::error::Problem;
    use crate::storage::sqlite::SqliteStorage;
    use crate::storage::{ListEntry, ListKind, read, write};

    fn entry(code: &str, retired: bool) -> ListEntry {
        ListEntry {
            code: code.into(),
            name_zh: code.into(),
            name_en: code.into(),
            retired,
        }
    }

    /// An entry an upgrade made of a value in use (spaces, any length) is renamed and retired
    /// as it is stored; a new code is trimmed and held to the rules.
    #[test]
    fn entries_from_an_upgrade_are_kept_by_their_stored_code() {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = SqliteStorage::open(dir.path().join("lists.db")).expect("open");
        let long = "x".repeat(super::MAX_NAME + 10);
        write(&storage, |tx| {
            tx.put_list_entry(ListKind::Region, &entry("north ", false))?;
            tx.put_list_entry(ListKind::Region, &entry(&long, false))
        })
        .expect("seeded");
        let body = |retired| EntryBody {
            name_zh: " 北区 ".into(),
            name_en: "North".into(),
            retired,
        };
        let stored = put(&storage, ListKind::Region, "north ", body(true)).expect("retired");
        assert_eq!(
            (stored.code.as_str(), stored.name_zh.as_str()),
            ("north ", "北区")
        );
        let unchanged = EntryBody {
            name_zh: long.clone(),
            name_en: long.clone(),
            retired: true,
        };
        put(&storage, ListKind::Region, &long, unchanged).expect("retired, names as stored");
        put(&storage, ListKind::Region, &long, body(false)).expect("renamed");
        let refused = put(
            &storage,
            ListKind::Region,
            &long,
            EntryBody {
                name_en: format!("{long}y"),
                ..body(false)
            },
        )
        .expect_err("a new name that long");
        assert_eq!(
            serde_json::Value::Object(refused.params())["problem"],
            Problem::TooLong.as_str()
        );
        // A stored code sent with a space too many is the same entry.
        put(&storage, ListKind::Region, &format!("{long} "), body(false)).expect("the same entry");
        let refused = put(&storage, ListKind::Region, &format!("{long}y"), body(false))
            .expect_err("a new code that long");
        assert_eq!(
            serde_json::Value::Object(refused.params())["problem"],
            Problem::TooLong.as_str()
        );
        let codes: Vec<String> = read(&storage, |tx| tx.list_entries(ListKind::Region))
            .expect("read")
            .into_iter()
            .map(|e| e.code)
            .collect();
        assert_eq!(codes, ["north ".to_owned(), long]);
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
        assert!(
            lists
                .problem(ListKind::Region, "site.region", " ")
                .is_none()
        );
        let unknown = lists
            .problem(ListKind::Region, "site.region", "north")
            .expect("not listed");
        assert_eq!(
            unknown.to_string(),
            "`north` is not in the organisation's list of regions"
        );
    }
}
