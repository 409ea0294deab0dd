//! The model graph: SQL files found under the model folders, their dependencies (read from the
//! SQL itself with DataFusion's `resolve_table_references`, no `ref()` needed), the execution
//! order, which models need all history (`full_history`, inherited downstream), and the
//! selectors that pick a part of it.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use datafusion::sql::parser::{DFParser, Statement};
use datafusion::sql::sqlparser::dialect::GenericDialect;

use crate::config::{Config, Materialization, ModelSettings};
use crate::error::{Error, Result};
use crate::template::{self, TemplateContext};

/// One SQL model: `sql/<layer>/<name>.sql`.
#[derive(Debug, Clone)]
pub struct Model {
    pub name: String,
    /// Relative to the project folder, `/`-separated.
    pub path: String,
    /// The SQL with placeholders resolved: what a nightly run executes.
    pub sql: String,
    /// For a model that reads `{{ window_start }}` (a windowed partitioned model): its SQL with
    /// the window opened to the start of history, which a first build or `--full-refresh` runs.
    pub sql_full: Option<String>,
    /// Why every run recomputes this model whole: the model declaring `full_history: true`,
    /// itself or an ancestor it reads from; `None` for an incremental model.
    pub full_history_from: Option<String>,
    /// Models this one reads.
    pub models: Vec<String>,
    /// Sources this one reads.
    pub sources: Vec<String>,
    pub settings: ModelSettings,
}

impl Model {
    pub fn depends_on(&self) -> impl Iterator<Item = &String> {
        self.models.iter().chain(self.sources.iter())
    }

    /// A windowed model rewrites `window_start ..= run_date` each night (see `runner`).
    pub fn is_windowed(&self) -> bool {
        self.sql_full.is_some()
    }

    pub fn full_history(&self) -> bool {
        self.full_history_from.is_some()
    }
}

/// A singular data test: a `.sql` file whose rows are failures.
#[derive(Debug, Clone)]
pub struct SingularTest {
    pub name: String,
    pub path: String,
    pub sql: String,
    pub models: Vec<String>,
    pub sources: Vec<String>,
}

/// All models of a project, in a valid execution order.
#[derive(Debug, Clone)]
pub struct Graph {
    pub models: BTreeMap<String, Model>,
    /// Topological order (dependencies first; ties broken by name for reproducible runs).
    pub order: Vec<String>,
    pub children: BTreeMap<String, BTreeSet<String>>,
    pub tests: Vec<SingularTest>,
}

impl Graph {
    pub fn load(config: &Config, ctx: &TemplateContext) -> Result<Graph> {
        let mut files: BTreeMap<String, String> = BTreeMap::new();
        let mut models = BTreeMap::new();
        let mut full_ctx = ctx.clone();
        full_ctx
            .builtins
            .insert("window_start".into(), template::HISTORY_START.into());
        for dir in &config.model_paths {
            for path in sql_files(&config.project_dir, dir)? {
                let rel = relative(&config.project_dir, &path);
                let name = stem(&path)?;
                if name == "defaults" {
                    return Err(Error::config(
                        &path,
                        None,
                        "`defaults` is reserved for model defaults in pipelines.yaml; rename this file",
                    ));
                }
                if let Some(first) = files.insert(name.clone(), rel.clone()) {
                    return Err(Error::config(
                        &path,
                        None,
                        format!(
                            "two models are named `{name}`: {first} and {rel}; model names are file stems and must be unique"
                        ),
                    ));
                }
                if config.sources.contains_key(&name) {
                    return Err(Error::config(
                        &path,
                        None,
                        format!(
                            "model `{name}` has the name of a source in {}; rename one of them",
                            config.file.display()
                        ),
                    ));
                }
                let (sql, refs) = parse_sql_file(&path, &rel, ctx)?;
                let sql_full = match std::fs::read_to_string(&path) {
                    Ok(text) if template::uses(&text, "window_start") => {
                        Some(parse_sql_file(&path, &rel, &full_ctx)?.0)
                    }
                    _ => None,
                };
                models.insert(name.clone(), (rel, sql, refs, sql_full));
            }
        }
        for name in config.models.keys() {
            if !files.contains_key(name) {
                return Err(config.error(
                    &["models", name],
                    format!(
                        "settings for model `{name}`, but no file `{name}.sql` under {}{}",
                        config.model_paths.join(", "),
                        suggest(name, files.keys())
                    ),
                ));
            }
        }

        let mut out = BTreeMap::new();
        for (name, (rel, sql, refs, sql_full)) in models {
            let mut deps = Vec::new();
            let mut sources = Vec::new();
            for r in refs {
                if files.contains_key(&r) {
                    if r == name {
                        return Err(Error::config(
                            &rel,
                            None,
                            format!("model `{name}` reads itself"),
                        ));
                    }
                    deps.push(r);
                } else if config.sources.contains_key(&r) {
                    sources.push(r);
                } else {
                    return Err(unknown_table(&rel, &name, &r, config, &files));
                }
            }
            let settings = config.model_settings(&name);
            out.insert(
                name.clone(),
                Model {
                    name,
                    path: rel,
                    sql,
                    sql_full,
                    full_history_from: None,
                    models: deps,
                    sources,
                    settings,
                },
            );
        }

        let order = topo_order(&out)?;
        // Full history flows downstream: a model reading rows that any night may rewrite (a
        // person merged, a Markov chain re-estimated) cannot keep its own past either, unless
        // it says so with `full_history: false`.
        for name in &order {
            let m = &out[name];
            let from = match m.settings.full_history {
                Some(true) => Some(name.clone()),
                Some(false) => None,
                None => m
                    .models
                    .iter()
                    .find_map(|d| out.get(d).and_then(|p| p.full_history_from.clone())),
            };
            if let Some(m) = out.get_mut(name) {
                if from.is_some()
                    && let Some(full) = &m.sql_full
                {
                    m.sql = full.clone();
                }
                m.full_history_from = from;
            }
        }
        let mut children: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for m in out.values() {
            for d in &m.models {
                children
                    .entry(d.clone())
                    .or_default()
                    .insert(m.name.clone());
            }
        }

        let mut tests = Vec::new();
        for dir in &config.test_paths {
            for path in sql_files(&config.project_dir, dir)? {
                let rel = relative(&config.project_dir, &path);
                let name = stem(&path)?;
                let (sql, refs) = parse_sql_file(&path, &rel, ctx)?;
                let (mut m, mut s) = (Vec::new(), Vec::new());
                for r in refs {
                    if out.contains_key(&r) {
                        m.push(r);
                    } else if config.sources.contains_key(&r) {
                        s.push(r);
                    } else {
                        return Err(unknown_table(&rel, &name, &r, config, &files));
                    }
                }
                tests.push(SingularTest {
                    name,
                    path: rel,
                    sql,
                    models: m,
                    sources: s,
                });
            }
        }
        Ok(Graph {
            models: out,
            order,
            children,
            tests,
        })
    }

    /// Names of `name`'s ancestors (models only), nearest first.
    pub fn ancestors(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<&str> = VecDeque::from([name]);
        while let Some(n) = queue.pop_front() {
            if let Some(m) = self.models.get(n) {
                for d in &m.models {
                    if seen.insert(d.clone()) {
                        queue.push_back(d);
                    }
                }
            }
        }
        seen
    }

    /// `selected` with the ephemeral models it reads, directly or through views and other
    /// ephemeral models. An ephemeral model is never published, so a run that reads one must
    /// compute it; registered as a view instead, it would put its whole upstream graph into
    /// the reader's plan (the over-merge guard alone ran out of memory that way at scale 1).
    pub fn with_ephemeral_upstream(&self, selected: &BTreeSet<String>) -> BTreeSet<String> {
        let mut out = selected.clone();
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut queue: VecDeque<&str> = selected.iter().map(String::as_str).collect();
        while let Some(n) = queue.pop_front() {
            let Some(m) = self.models.get(n) else {
                continue;
            };
            for d in &m.models {
                let Some(parent) = self.models.get(d) else {
                    continue;
                };
                match parent.settings.materialization {
                    Materialization::Ephemeral => {
                        out.insert(d.clone());
                    }
                    Materialization::View => {}
                    _ => continue,
                }
                if seen.insert(d) {
                    queue.push_back(d);
                }
            }
        }
        out
    }

    pub fn descendants(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue: VecDeque<String> = VecDeque::from([name.to_string()]);
        while let Some(n) = queue.pop_front() {
            for c in self.children.get(&n).into_iter().flatten() {
                if seen.insert(c.clone()) {
                    queue.push_back(c.clone());
                }
            }
        }
        seen
    }

    /// Applies `--select` / `--exclude` selectors. No selector selects every enabled model.
    ///
    /// Grammar: `name`, `name+` (with descendants), `+name` (with ancestors), `+name+`,
    /// `tag:x`, `path:sql/identity` (a file or folder prefix); `+`/`+` modifiers work on any of
    /// them. Several selectors are a union; each may also be a comma- or space-separated list.
    pub fn select(&self, select: &[String], exclude: &[String]) -> Result<BTreeSet<String>> {
        let mut chosen = if select.iter().all(|s| s.trim().is_empty()) {
            self.models
                .values()
                .filter(|m| m.settings.enabled)
                .map(|m| m.name.clone())
                .collect()
        } else {
            self.resolve_selectors(select)?
        };
        for x in self.resolve_selectors(exclude)? {
            chosen.remove(&x);
        }
        Ok(chosen)
    }

    fn resolve_selectors(&self, selectors: &[String]) -> Result<BTreeSet<String>> {
        let mut out = BTreeSet::new();
        for sel in selectors
            .iter()
            .flat_map(|s| s.split([',', ' ']))
            .filter(|s| !s.is_empty())
        {
            let ancestors = sel.starts_with('+');
            let descendants = sel.ends_with('+') && sel.len() > 1;
            let core = sel.trim_start_matches('+').trim_end_matches('+');
            let base: BTreeSet<String> = if let Some(tag) = core.strip_prefix("tag:") {
                self.models
                    .values()
                    .filter(|m| m.settings.tags.iter().any(|t| t == tag))
                    .map(|m| m.name.clone())
                    .collect()
            } else if let Some(p) = core.strip_prefix("path:") {
                let p = p.trim_start_matches("./").trim_end_matches('/');
                self.models
                    .values()
                    .filter(|m| m.path == p || m.path.starts_with(&format!("{p}/")))
                    .map(|m| m.name.clone())
                    .collect()
            } else if self.models.contains_key(core) {
                BTreeSet::from([core.to_string()])
            } else {
                return Err(Error::Usage(format!(
                    "selector `{sel}` matches no model{}",
                    suggest(core, self.models.keys())
                )));
            };
            if base.is_empty() {
                return Err(Error::Usage(format!("selector `{sel}` matches no model")));
            }
            for b in &base {
                if ancestors {
                    out.extend(self.ancestors(b));
                }
                if descendants {
                    out.extend(self.descendants(b));
                }
            }
            out.extend(base);
        }
        Ok(out)
    }
}

/// Reads, renders and parses one SQL file; returns the SQL and the tables it reads.
/// A model's SQL rendered with another template context (a unit test's vars and dates).
pub fn render_model(config: &Config, model: &Model, ctx: &TemplateContext) -> Result<String> {
    let path = config.project_dir.join(&model.path);
    Ok(parse_sql_file(&path, &model.path, ctx)?.0)
}

fn parse_sql_file(path: &Path, rel: &str, ctx: &TemplateContext) -> Result<(String, Vec<String>)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::config(path, None, format!("cannot read: {e}")))?;
    let sql = template::render(&text, ctx).map_err(|e| {
        Error::config(
            rel,
            Some(e.line),
            format!("column {}: {}", e.column, e.message),
        )
    })?;
    let refs = table_references(&sql).map_err(|(line, col, msg)| {
        let msg = match col {
            Some(c) => format!("column {c}: {msg}"),
            None => msg,
        };
        Error::config(rel, line, msg)
    })?;
    Ok((sql, refs))
}

/// The tables a single `SELECT` statement reads (CTE names excluded), lower-cased as DataFusion
/// normalises unquoted identifiers.
pub fn table_references(
    sql: &str,
) -> std::result::Result<Vec<String>, (Option<usize>, Option<usize>, String)> {
    let mut statements =
        DFParser::parse_sql_with_dialect(sql, &GenericDialect {}).map_err(|e| {
            let msg = e.to_string();
            let (line, col) = parser_position(&msg);
            (
                line,
                col,
                format!("SQL syntax error: {}", clean_parser_message(&msg)),
            )
        })?;
    if statements.len() != 1 {
        return Err((
            None,
            None,
            format!(
                "a model is exactly one SELECT statement, found {} statements",
                statements.len()
            ),
        ));
    }
    let statement = statements
        .pop_front()
        .ok_or((None, None, "empty SQL".to_string()))?;
    let is_query = matches!(&statement, Statement::Statement(s) if matches!(**s, datafusion::sql::sqlparser::ast::Statement::Query(_)));
    if !is_query {
        return Err((
            None,
            None,
            "a model is a SELECT (or WITH … SELECT) query; DDL and DML are not allowed".into(),
        ));
    }
    let (refs, _ctes) = datafusion::sql::resolve::resolve_table_references(&statement, true)
        .map_err(|e| (None, None, e.to_string()))?;
    let mut names: Vec<String> = refs.iter().map(|r| r.table().to_string()).collect();
    names.sort();
    names.dedup();
    Ok(names)
}

/// sqlparser reports positions as "at Line: 3, Column: 7".
fn parser_position(msg: &str) -> (Option<usize>, Option<usize>) {
    let num_after = |key: &str| -> Option<usize> {
        let i = msg.rfind(key)? + key.len();
        msg[i..]
            .trim_start()
            .chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse()
            .ok()
    };
    (num_after("Line:"), num_after("Column:"))
}

fn clean_parser_message(msg: &str) -> String {
    let m = msg
        .trim_start_matches("SQL error: ")
        .trim_start_matches("ParserError(\"")
        .trim_end_matches("\")");
    match m.rfind(" at Line:") {
        Some(i) => m[..i].to_string(),
        None => m.to_string(),
    }
}

fn unknown_table(
    rel: &str,
    model: &str,
    table: &str,
    config: &Config,
    files: &BTreeMap<String, String>,
) -> Error {
    let known = files.keys().chain(config.sources.keys());
    Error::config(
        rel,
        None,
        format!(
            "`{model}` reads `{table}`, which is neither a model (a .sql file under {}) nor a source in {}{}",
            config.model_paths.join(", "),
            config
                .file
                .file_name()
                .map(|f| f.to_string_lossy().to_string())
                .unwrap_or_default(),
            suggest(table, known)
        ),
    )
}

/// Kahn's algorithm; on a cycle, reports one cycle with its files.
fn topo_order(models: &BTreeMap<String, Model>) -> Result<Vec<String>> {
    let mut indegree: BTreeMap<&str, usize> = models.keys().map(|k| (k.as_str(), 0)).collect();
    for m in models.values() {
        indegree.insert(&m.name, m.models.len());
    }
    let mut ready: BTreeSet<&str> = indegree
        .iter()
        .filter(|(_, d)| **d == 0)
        .map(|(k, _)| *k)
        .collect();
    let mut order = Vec::new();
    while let Some(n) = ready.pop_first() {
        order.push(n.to_string());
        for m in models.values() {
            if m.models.iter().any(|d| d == n)
                && let Some(d) = indegree.get_mut(m.name.as_str())
            {
                *d -= 1;
                if *d == 0 {
                    ready.insert(&m.name);
                }
            }
        }
    }
    if order.len() == models.len() {
        return Ok(order);
    }
    // Walk dependencies among the unordered models until a name repeats: that is a cycle.
    let done: BTreeSet<&str> = order.iter().map(String::as_str).collect();
    let start = models
        .keys()
        .find(|k| !done.contains(k.as_str()))
        .map(String::as_str)
        .unwrap_or_default();
    let mut path = vec![start];
    let mut cur = start;
    loop {
        let next = models[cur]
            .models
            .iter()
            .map(String::as_str)
            .find(|d| !done.contains(d));
        let Some(next) = next else { break };
        if let Some(pos) = path.iter().position(|p| *p == next) {
            let cycle: Vec<String> = path[pos..]
                .iter()
                .chain(std::iter::once(&next))
                .map(|n| format!("{n} ({})", models[*n].path))
                .collect();
            return Err(Error::config(
                &models[next].path,
                None,
                format!("dependency cycle: {}", cycle.join(" -> ")),
            ));
        }
        path.push(next);
        cur = next;
    }
    Err(Error::config(&models[start].path, None, "dependency cycle"))
}

fn sql_files(project: &Path, dir: &str) -> Result<Vec<PathBuf>> {
    let root = project.join(dir);
    let mut out = Vec::new();
    if !root.exists() {
        return Ok(out);
    }
    let mut stack = vec![root];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| Error::config(&d, None, format!("cannot list folder: {e}")))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::config(&d, None, e.to_string()))?;
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "sql") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}

fn stem(path: &Path) -> Result<String> {
    let s = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| Error::config(path, None, "file name is not UTF-8"))?;
    if !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        || s.starts_with(|c: char| c.is_ascii_digit())
    {
        return Err(Error::config(
            path,
            None,
            format!(
                "model name `{s}` must be a SQL identifier (letters, digits, `_`, not starting with a digit)"
            ),
        ));
    }
    Ok(s.to_ascii_lowercase())
}

fn relative(project: &Path, p: &Path) -> String {
    p.strip_prefix(project)
        .unwrap_or(p)
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// ", did you mean `x`?" when a known name is within edit distance 2.
pub fn suggest<'a>(name: &str, known: impl Iterator<Item = &'a String>) -> String {
    let best = known
        .map(|k| (levenshtein(name, k), k))
        .filter(|(d, _)| *d <= 2)
        .min();
    match best {
        Some((_, k)) => format!("; did you mean `{k}`?"),
        None => String::new(),
    }
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn references_exclude_ctes_and_dedupe() {
        let refs = table_references(
            "with a as (select * from x) select * from a join y on true join X on true",
        )
        .unwrap();
        assert_eq!(refs, vec!["x", "y"]);
    }

    #[test]
    fn syntax_errors_have_positions() {
        let (line, col, msg) = table_references("select a\nfrom t where and x").unwrap_err();
        assert_eq!(line, Some(2));
        assert!(col.is_some());
        assert!(msg.contains("SQL syntax error"), "{msg}");
        assert!(table_references("drop table t").is_err());
        assert!(table_references("select 1; select 2").is_err());
    }

    #[test]
    fn suggestions() {
        let known = ["dim_person".to_string(), "orders".to_string()];
        assert_eq!(
            suggest("dim_persn", known.iter()),
            "; did you mean `dim_person`?"
        );
        assert_eq!(suggest("zzz", known.iter()), "");
    }
}
