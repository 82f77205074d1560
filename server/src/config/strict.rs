//! Strict configuration: finds the keys of a table that no setting reads, at any depth.
//!
//! The known keys come from the types themselves, not from a list kept beside them: a table is
//! deserialized into its type through [`Walk`], a deserializer over figment's [`Value`] that sees
//! each struct's field names (serde hands them to `deserialize_struct`), records the keys of the
//! table that are not among them, and passes the rest on. So a field added to `Config`,
//! `TargetConfig`, `MappingConfig`, … is known at once; maps whose keys are the user's names
//! (`[targets.NAME]`, `[mappings.NAME]`) are walked into, their values checked by their own type.
//!
//! A value of the wrong type stops a deserializer where it stands; the walk then sets that value
//! aside and walks again, so every unknown key is found in one go (the wrong value itself is for
//! the real extraction to report).

use std::cell::RefCell;

use figment::value::{Dict, Value};
use figment::Error;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, SeqAccess, Visitor,
};

/// One step of a key's path: a table's key, or an item of a list (`[[auto_approve]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// A key no setting reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unknown {
    /// The tables (and list items) above it, then the key itself.
    pub path: Vec<Step>,
    /// The keys its table does have.
    pub known: &'static [&'static str],
    /// Whether its value is a table: `[reviw]` is a section.
    pub table: bool,
}

impl Unknown {
    /// The key as written.
    pub fn key(&self) -> &str {
        match self.path.last() {
            Some(Step::Key(k)) => k,
            _ => "",
        }
    }

    /// The nearest known key of its table, when one is near enough to be a misspelling.
    pub fn nearest(&self) -> Option<&'static str> {
        nearest(self.key(), self.known)
    }
}

impl std::fmt::Display for Unknown {
    /// `unknown key `scan_intervall` (did you mean `scan_interval`?)`, `unknown section `[reviw]``,
    /// `unknown key `store_ur` in [targets.production] (did you mean `store_url`?)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parent = &self.path[..self.path.len().saturating_sub(1)];
        if self.table {
            write!(f, "unknown section `{}`", table_name(&self.path))?;
        } else {
            write!(f, "unknown key `{}`", self.key())?;
            if !parent.is_empty() {
                write!(f, " in {}", table_name(parent))?;
            }
        }
        match self.nearest() {
            Some(near) => write!(f, " (did you mean `{near}`?)"),
            // A small table's keys are worth listing; the top level's are too many.
            None if self.known.len() <= 8 => write!(f, " (its keys: {})", self.known.join(", ")),
            None => Ok(()),
        }
    }
}

/// The nearest of `known` to `key` (Jaro-Winkler, case and `-`/`_` aside), if it is near enough:
/// `scan_intervall` → `scan_interval`, `store-url` → `store_url`, `reviw` → nothing of Config's.
pub fn nearest(key: &str, known: &[&'static str]) -> Option<&'static str> {
    let key = key.to_ascii_lowercase().replace('-', "_");
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(&key, k), *k))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

/// How a table is written in TOML: `[targets.production]`, `[[auto_approve]] #2`.
pub fn table_name(path: &[Step]) -> String {
    match path.split_last() {
        Some((Step::Index(i), above)) => format!("[[{}]] #{}", dotted(above), i + 1),
        _ => format!("[{}]", dotted(path)),
    }
}

/// `targets.production`, `environments.dev.auto_approve[0]`; a key that is not bare is quoted.
pub fn dotted(path: &[Step]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
                    out.push_str(k);
                } else {
                    out.push_str(&format!("{k:?}"));
                }
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The keys of `table` (found at `at`) that `T` and the types of its fields do not read, in the
/// order of the table (sorted keys, as figment keeps them).
pub fn unknown_keys<T: DeserializeOwned>(table: &Value, at: Vec<Step>) -> Vec<Unknown> {
    let found = Found::default();
    // Each round either finishes or sets aside one more value: at most as many rounds as values.
    loop {
        let walk = Walk { value: table, path: at.clone(), found: &found };
        if T::deserialize(walk).is_ok() {
            break;
        }
        match found.failed_at.take() {
            Some(path) if path.len() > at.len() && !found.skipped.borrow().contains(&path) => {
                found.skipped.borrow_mut().push(path)
            }
            _ => break,
        }
    }
    found.unknown.into_inner()
}

#[derive(Default)]
struct Found {
    unknown: RefCell<Vec<Unknown>>,
    /// The innermost value the last round failed on.
    failed_at: RefCell<Option<Vec<Step>>>,
    /// Values set aside: walked past as if they were not there.
    skipped: RefCell<Vec<Vec<Step>>>,
}

impl Found {
    fn unknown(&self, u: Unknown) {
        let mut all = self.unknown.borrow_mut();
        if !all.contains(&u) {
            all.push(u);
        }
    }

    fn failed(&self, path: &[Step]) {
        self.failed_at.borrow_mut().get_or_insert_with(|| path.to_vec());
    }

    fn skips(&self, path: &[Step]) -> bool {
        self.skipped.borrow().iter().any(|p| p == path)
    }
}

/// A figment value being deserialized, and where it is.
struct Walk<'a> {
    value: &'a Value,
    path: Vec<Step>,
    found: &'a Found,
}

fn child(path: &[Step], step: Step) -> Vec<Step> {
    let mut path = path.to_vec();
    path.push(step);
    path
}

impl<'de> Deserializer<'de> for Walk<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::String(_, s) => visitor.visit_str(s),
            Value::Char(_, c) => visitor.visit_char(*c),
            Value::Bool(_, b) => visitor.visit_bool(*b),
            Value::Num(_, n) => n.deserialize_any(visitor),
            Value::Empty(_, e) => e.deserialize_any(visitor),
            Value::Dict(_, dict) => visitor.visit_map(Entries::new(&self, dict, None)),
            Value::Array(_, items) => {
                visitor.visit_seq(Items { path: self.path, found: self.found, items: items.iter().enumerate() })
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Empty(_, e) => e.deserialize_any(visitor),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let Value::Dict(_, dict) = self.value else { return self.deserialize_any(visitor) };
        for (key, value) in dict.iter().filter(|(k, _)| !fields.contains(&k.as_str())) {
            self.found.unknown(Unknown {
                path: child(&self.path, Step::Key(key.clone())),
                known: fields,
                table: matches!(value, Value::Dict(..)),
            });
        }
        visitor.visit_map(Entries::new(&self, dict, Some(fields)))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Value::String(_, s) => visitor.visit_enum(s.as_str().into_deserializer()),
            Value::Dict(_, dict) => {
                visitor.visit_enum(de::value::MapAccessDeserializer::new(Entries::new(&self, dict, None)))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _name: &'static str, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

/// A table's entries; a struct's only those it has fields for (the rest are recorded).
struct Entries<'a> {
    path: Vec<Step>,
    found: &'a Found,
    entries: std::collections::btree_map::Iter<'a, String, Value>,
    only: Option<&'static [&'static str]>,
    pending: Option<(&'a String, &'a Value)>,
}

impl<'a> Entries<'a> {
    fn new(walk: &Walk<'a>, dict: &'a Dict, only: Option<&'static [&'static str]>) -> Self {
        Entries { path: walk.path.clone(), found: walk.found, entries: dict.iter(), only, pending: None }
    }
}

impl<'de> MapAccess<'de> for Entries<'_> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        for (key, value) in self.entries.by_ref() {
            let known = self.only.is_none_or(|fields| fields.contains(&key.as_str()));
            if known && !self.found.skips(&child(&self.path, Step::Key(key.clone()))) {
                self.pending = Some((key, value));
                return seed.deserialize(key.as_str().into_deserializer()).map(Some);
            }
        }
        Ok(None)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let (key, value) = self.pending.take().expect("a value follows its key");
        let path = child(&self.path, Step::Key(key.clone()));
        let walk = Walk { value, path: path.clone(), found: self.found };
        seed.deserialize(walk).inspect_err(|_| self.found.failed(&path))
    }
}

/// A list's items.
struct Items<'a> {
    path: Vec<Step>,
    found: &'a Found,
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
}

impl<'de> SeqAccess<'de> for Items<'_> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        for (i, value) in self.items.by_ref() {
            let path = child(&self.path, Step::Index(i));
            if self.found.skips(&path) {
                continue;
            }
            let walk = Walk { value, path: path.clone(), found: self.found };
            return seed.deserialize(walk).inspect_err(|_| self.found.failed(&path)).map(Some);
        }
        Ok(None)
    }
}
