//! Mappings (design §13): the SQL that turns a store's own schema into §3's rows and back.
//!
//! §3's own table is a mapping too ([`Mapping::charts_table`]), so a SQL store reads, writes and
//! checks its rows through one code path whatever its schema: the statements differ, the steps do
//! not. Statements name their parameters (`:id`, `:slug`, `:config`, `:data`, `:metadata`,
//! `:updated_at`; `{ids}` for a list of ids) and [`Mapping::compile`] turns them into each engine's
//! placeholders: numbered ones (`?1` on SQLite, `$1` on PostgreSQL) bind a name once however
//! often it appears; MySQL's `?` binds it again at every appearance.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::db::Backend;

/// `[mappings.NAME]` as written in the configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// Every chart's id and change stamp (`… as id, … as updated_at`).
    pub stamps: String,
    /// The charts whose ids are in `{ids}`: `id, slug, config, data, metadata, updated_at`.
    pub read: String,
    /// Statements run in order to write an existing chart.
    #[serde(default)]
    pub update: Vec<String>,
    /// Statements run in order to write a new chart.
    #[serde(default)]
    pub insert: Vec<String>,
    /// Statements run in order to remove a chart.
    #[serde(default)]
    pub delete: Vec<String>,
    /// How configs are drawn (see [`RenderKeys`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub chart_types: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

impl MappingConfig {
    pub fn render(&self) -> RenderKeys {
        RenderKeys {
            chart_type: self.chart_type.clone(),
            chart_types: self.chart_types.clone(),
            default_type: self.default_type.clone(),
            title: self.title.clone(),
        }
    }
}

/// How to read a foreign config for drawing (a mapping's keys, or `[files]`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenderKeys {
    /// JSON pointer to the chart's type in its config (default `/type`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_type: Option<String>,
    /// The store's type names and the renderer's (`line`, `bar`, `scatter`, `table`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub chart_types: BTreeMap<String, String>,
    /// The type drawn when the pointer finds nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_type: Option<String>,
    /// JSON pointer to the title (default `/title`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// The renderer's own chart types.
pub const CHART_TYPES: [&str; 4] = ["line", "bar", "scatter", "table"];

impl RenderKeys {
    /// Checks the keys; the error names the key (`where_` says which table holds it).
    pub fn check(&self, where_: &str) -> Result<(), String> {
        for (key, pointer) in [("chart_type", &self.chart_type), ("title", &self.title)] {
            if let Some(p) = pointer.as_deref().filter(|p| !p.is_empty() && !p.starts_with('/')) {
                return Err(format!("{where_}.{key} = {p:?} is not a JSON pointer (it starts with /)"));
            }
        }
        for (theirs, ours) in &self.chart_types {
            if !CHART_TYPES.contains(&ours.as_str()) {
                return Err(format!("{where_}.chart_types.{theirs} = {ours:?}: use one of {}", CHART_TYPES.join(", ")));
            }
        }
        if let Some(t) = self.default_type.as_deref().filter(|t| !CHART_TYPES.contains(t)) {
            return Err(format!("{where_}.default_type = {t:?}: use one of {}", CHART_TYPES.join(", ")));
        }
        Ok(())
    }

    pub fn is_default(&self) -> bool {
        self == &RenderKeys::default()
    }

    /// The renderer's type of a config: the pointer's value, translated by `chart_types`, else
    /// `default_type`; `None` when nothing says (the config's own `type` is then read as today).
    pub fn chart_type_of(&self, config: &serde_json::Value) -> Option<String> {
        let found = config.pointer(self.chart_type.as_deref().unwrap_or("/type")).and_then(|v| v.as_str());
        let translated = found.map(|t| self.chart_types.get(t).cloned().unwrap_or_else(|| t.to_string()));
        translated.or_else(|| self.default_type.clone())
    }

    /// The title a config's text names through a configured `title` pointer; `None` without one
    /// (the config's own `title` is read then), so a store without keys parses nothing more.
    pub fn title_in(&self, config: &str) -> Option<String> {
        self.title.as_ref()?;
        self.title_of(&serde_json::from_str(config).ok()?)
    }

    /// The title a config names through the `title` pointer.
    pub fn title_of(&self, config: &serde_json::Value) -> Option<String> {
        config
            .pointer(self.title.as_deref().unwrap_or("/title"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .filter(|t| !t.trim().is_empty())
    }
}

/// A parameter a statement names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Param {
    Id,
    Slug,
    Config,
    Data,
    Metadata,
    UpdatedAt,
    /// The `i`th id of a `{ids}` list.
    Ids(usize),
}

impl Param {
    fn named(name: &str) -> Option<Param> {
        Some(match name {
            "id" => Param::Id,
            "slug" => Param::Slug,
            "config" => Param::Config,
            "data" => Param::Data,
            "metadata" => Param::Metadata,
            "updated_at" => Param::UpdatedAt,
            _ => return None,
        })
    }
}

/// The parameters a mapping may name.
pub const PARAMETERS: &str = ":id, :slug, :config, :data, :metadata, :updated_at and {ids}";

/// A statement of a mapping, parsed: text between parameters, and the parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// What the user wrote (for messages).
    pub source: String,
    pieces: Vec<Piece>,
}

#[derive(Clone, Debug, PartialEq)]
enum Piece {
    Text(String),
    Param(Param),
    Ids,
}

/// A statement in one engine's syntax, with the values to bind in order.
#[derive(Clone, Debug, PartialEq)]
pub struct Compiled {
    pub sql: String,
    pub binds: Vec<Param>,
}

impl Statement {
    /// Parses `:name` parameters and `{ids}`, leaving string literals, quoted names, comments
    /// and PostgreSQL's `::type` casts alone. An unknown name is an error naming it.
    pub fn parse(source: &str) -> Result<Statement, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let chars: Vec<char> = source.chars().collect();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match c {
                '\'' | '"' | '`' => {
                    // A quoted literal or name, to its closing quote (a doubled quote stays inside).
                    let start = i;
                    i += 1;
                    while i < chars.len() {
                        if chars[i] == c {
                            if chars.get(i + 1) == Some(&c) {
                                i += 2;
                                continue;
                            }
                            break;
                        }
                        i += 1;
                    }
                    let end = (i + 1).min(chars.len());
                    text.extend(&chars[start..end]);
                    i = end;
                }
                '-' if chars.get(i + 1) == Some(&'-') => {
                    while i < chars.len() && chars[i] != '\n' {
                        text.push(chars[i]);
                        i += 1;
                    }
                }
                ':' if chars.get(i + 1) == Some(&':') => {
                    text.push_str("::");
                    i += 2;
                }
                ':' if chars.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic() || *n == '_') => {
                    let start = i + 1;
                    let mut end = start;
                    while end < chars.len() && (chars[end].is_ascii_alphanumeric() || chars[end] == '_') {
                        end += 1;
                    }
                    let name: String = chars[start..end].iter().collect();
                    let param = Param::named(&name)
                        .ok_or_else(|| format!("unknown parameter :{name} (known: {PARAMETERS})"))?;
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                    pieces.push(Piece::Param(param));
                    i = end;
                }
                '{' => {
                    let rest: String = chars[i..].iter().take_while(|c| **c != '}').collect();
                    if rest == "{ids" && chars.get(i + 4) == Some(&'}') {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                        pieces.push(Piece::Ids);
                        i += 5;
                    } else {
                        let shown: String = chars[i..].iter().take(20).collect();
                        return Err(format!("unknown placeholder starting {shown:?} (known: {PARAMETERS})"));
                    }
                }
                '$' if chars.get(i + 1).is_some_and(char::is_ascii_digit) => {
                    return Err(format!("numbered placeholders are not for mappings: use named ones ({PARAMETERS})"));
                }
                _ => {
                    text.push(c);
                    i += 1;
                }
            }
        }
        pieces.push(Piece::Text(text));
        pieces.retain(|p| !matches!(p, Piece::Text(t) if t.is_empty()));
        Ok(Statement { source: source.to_string(), pieces })
    }

    /// The parameters the statement names (in order of first appearance).
    pub fn params(&self) -> Vec<Param> {
        let mut out = Vec::new();
        for p in &self.pieces {
            if let Piece::Param(p) = p {
                if !out.contains(p) {
                    out.push(*p);
                }
            }
        }
        out
    }

    pub fn has_ids(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p, Piece::Ids))
    }

    /// The statement in `engine`'s syntax with `ids` ids in its `{ids}` list.
    pub fn compile(&self, engine: Backend, ids: usize) -> Compiled {
        let mut sql = String::with_capacity(self.source.len() + ids * 4);
        let mut numbered: Vec<Param> = Vec::new();
        let mut binds = Vec::new();
        let mut place = |sql: &mut String, p: Param| match engine {
            Backend::Mysql => {
                sql.push('?');
                binds.push(p);
            }
            Backend::Sqlite | Backend::Postgres => {
                let n = match numbered.iter().position(|q| *q == p) {
                    Some(i) => i + 1,
                    None => {
                        numbered.push(p);
                        numbered.len()
                    }
                };
                sql.push(if engine == Backend::Sqlite { '?' } else { '$' });
                sql.push_str(&n.to_string());
            }
        };
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => sql.push_str(t),
                Piece::Param(p) => place(&mut sql, *p),
                Piece::Ids => {
                    for i in 0..ids {
                        if i > 0 {
                            sql.push_str(", ");
                        }
                        place(&mut sql, Param::Ids(i));
                    }
                }
            }
        }
        if engine != Backend::Mysql {
            binds = numbered;
        }
        Compiled { sql, binds }
    }
}

/// A mapping, parsed and checked for what can be checked without a database.
#[derive(Clone, Debug, PartialEq)]
pub struct Mapping {
    /// `charts` for §3's table, else the `[mappings.NAME]` name.
    pub name: String,
    pub stamps: Statement,
    pub read: Statement,
    pub update: Vec<Statement>,
    pub insert: Vec<Statement>,
    pub delete: Vec<Statement>,
    /// §3's own table: its rows can be locked (`for update`) and written in bulk.
    pub builtin: bool,
}

/// The columns `read` must return, and `stamps`.
pub const READ_COLUMNS: [&str; 6] = ["id", "slug", "config", "data", "metadata", "updated_at"];
pub const STAMP_COLUMNS: [&str; 2] = ["id", "updated_at"];

impl Mapping {
    /// §3's `charts` table as a mapping.
    pub fn charts_table() -> Mapping {
        let parse = |s: &str| Statement::parse(s).expect("the built-in statements parse");
        Mapping {
            name: "charts".into(),
            stamps: parse("select id, updated_at from charts"),
            read: parse("select id, slug, config, data, metadata, updated_at from charts where id in ({ids})"),
            update: vec![parse(
                "update charts set slug = :slug, config = :config, data = :data, metadata = :metadata, \
                 updated_at = :updated_at where id = :id",
            )],
            insert: vec![parse(
                "insert into charts (id, slug, config, data, metadata, updated_at) \
                 values (:id, :slug, :config, :data, :metadata, :updated_at)",
            )],
            delete: vec![parse("delete from charts where id = :id")],
            builtin: true,
        }
    }

    /// `[mappings.NAME]` parsed; the error names the mapping and the statement.
    pub fn from_config(name: &str, c: &MappingConfig) -> Result<Mapping, String> {
        let at = |key: &str, i: Option<usize>| match i {
            Some(i) => format!("[mappings.{name}] {key}[{i}]"),
            None => format!("[mappings.{name}] {key}"),
        };
        let one = |key: &str, i: Option<usize>, s: &str| -> Result<Statement, String> {
            if s.trim().is_empty() {
                return Err(format!("{} is empty", at(key, i)));
            }
            Statement::parse(s).map_err(|e| format!("{}: {e}", at(key, i)))
        };
        let many = |key: &str, list: &[String]| -> Result<Vec<Statement>, String> {
            if list.is_empty() {
                return Err(format!("{} needs at least one statement", at(key, None)));
            }
            list.iter().enumerate().map(|(i, s)| one(key, Some(i), s)).collect()
        };
        let stamps = one("stamps", None, &c.stamps)?;
        if !stamps.params().is_empty() || stamps.has_ids() {
            return Err(format!("{} takes no parameters", at("stamps", None)));
        }
        let read = one("read", None, &c.read)?;
        if !read.has_ids() || !read.params().is_empty() {
            return Err(format!(
                "{} must select the charts whose ids are in {{ids}}, and take no other parameter",
                at("read", None)
            ));
        }
        let update = many("update", &c.update)?;
        let insert = many("insert", &c.insert)?;
        let delete = many("delete", &c.delete)?;
        for (key, list) in [("update", &update), ("insert", &insert), ("delete", &delete)] {
            if let Some((i, _)) = list.iter().enumerate().find(|(_, s)| s.has_ids()) {
                return Err(format!("{}: {{ids}} belongs in read only", at(key, Some(i))));
            }
        }
        // The rendering keys are checked here; the pages read them from the settings by URL
        // (`StoreSettings::render_keys_for`), so the mapping does not carry a copy.
        c.render().check(&format!("[mappings.{name}]"))?;
        Ok(Mapping { name: name.to_string(), stamps, read, update, insert, delete, builtin: false })
    }

    /// Every statement with where it sits (`read`, `update[0]`, …), for validation.
    pub fn statements(&self) -> Vec<(String, &Statement)> {
        let mut out = vec![("stamps".to_string(), &self.stamps), ("read".to_string(), &self.read)];
        for (key, list) in [("update", &self.update), ("insert", &self.insert), ("delete", &self.delete)] {
            out.extend(list.iter().enumerate().map(|(i, s)| (format!("{key}[{i}]"), s)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_parameters_become_each_engines_placeholders() {
        let s = Statement::parse("update t set a = :config, b = :config::json, c = ':id' where id = :id").unwrap();
        let pg = s.compile(Backend::Postgres, 0);
        assert_eq!(pg.sql, "update t set a = $1, b = $1::json, c = ':id' where id = $2");
        assert_eq!(pg.binds, [Param::Config, Param::Id]);
        let lite = s.compile(Backend::Sqlite, 0);
        assert_eq!(lite.sql, "update t set a = ?1, b = ?1::json, c = ':id' where id = ?2");
        let my = s.compile(Backend::Mysql, 0);
        assert_eq!(my.sql, "update t set a = ?, b = ?::json, c = ':id' where id = ?");
        assert_eq!(my.binds, [Param::Config, Param::Config, Param::Id]);
    }

    #[test]
    fn ids_lists_expand_to_one_placeholder_each() {
        let s = Statement::parse("select x from t where id in ({ids}) and -- :nothing here\n y = 1").unwrap();
        assert_eq!(
            s.compile(Backend::Postgres, 3).sql,
            "select x from t where id in ($1, $2, $3) and -- :nothing here\n y = 1"
        );
        assert_eq!(s.compile(Backend::Mysql, 2).binds, [Param::Ids(0), Param::Ids(1)]);
    }

    #[test]
    fn unknown_parameters_are_named() {
        let e = Statement::parse("update t set a = :cofig where id = :id").unwrap_err();
        assert!(e.contains(":cofig"), "{e}");
        let e = Statement::parse("select * from t where id in ({id})").unwrap_err();
        assert!(e.contains("{id}"), "{e}");
        let c = MappingConfig {
            stamps: "select id, updated_at from t".into(),
            read: "select * from t where id = :id".into(),
            update: vec!["update t set x = :data where id = :id".into()],
            insert: vec!["insert into t values (:id)".into()],
            delete: vec!["delete from t where id = :id".into()],
            ..Default::default()
        };
        let e = Mapping::from_config("m", &c).unwrap_err();
        assert!(e.starts_with("[mappings.m] read"), "{e}");
    }

    #[test]
    fn render_keys_translate_foreign_types() {
        let keys = RenderKeys {
            chart_type: Some("/chartTypes/0".into()),
            chart_types: BTreeMap::from([("LineChart".into(), "line".into()), ("DiscreteBar".into(), "bar".into())]),
            default_type: Some("line".into()),
            title: Some("/title".into()),
        };
        assert_eq!(keys.chart_type_of(&serde_json::json!({"chartTypes": ["DiscreteBar"]})).as_deref(), Some("bar"));
        assert_eq!(keys.chart_type_of(&serde_json::json!({})).as_deref(), Some("line"));
        assert!(RenderKeys { default_type: Some("pie".into()), ..Default::default() }.check("[files]").is_err());
    }

    #[test]
    fn a_title_pointer_names_the_chart_in_lists() {
        let keys = RenderKeys { title: Some("/header/text".into()), ..Default::default() };
        let config = r#"{"header":{"text":"GDP per person"},"title":"internal name"}"#;
        assert_eq!(keys.title_in(config).as_deref(), Some("GDP per person"));
        assert_eq!(RenderKeys::default().title_in(config), None, "no pointer: the config's own title is read");
        assert_eq!(keys.title_in(r#"{"header":{}}"#), None);
    }
}
