//! The commands that look at a project without publishing anything: `compile`, `validate`
//! (with the PII audit and the unit tests' own checks), `list`, `show`, `lineage` (the model
//! graph, one column's lineage, or the PII audit) and `functions`.

use std::path::Path;
use std::sync::Arc;

use super::{
    FunctionsArgs, FunctionsFormat, LineageArgs, LineageFormat, ListArgs, OutputFormat,
    ProjectArgs, SelectCmd, ShowArgs, open, open_at_last_run, selection,
};
use std::collections::BTreeSet;

use crate::error::{Error, Result, exit};
use crate::lineage::{self, pii};
use crate::report::render;
use crate::run::{self as runner, Mode};

/// `parcours compile`: each selected model's resolved SQL and output schema.
pub(super) async fn compile(dir: &Path, a: &SelectCmd) -> Result<u8> {
    let project = open(dir, &a.project)?;
    let selected = selection(&project, &a.select)?;
    let prepared = runner::prepare(&project, &selected, Mode::Plan).await?;
    for name in project.graph.order.iter().filter(|n| selected.contains(*n)) {
        let m = &project.graph.models[name];
        println!(
            "-- {name} ({}, {})",
            m.path,
            m.settings.materialization.as_str()
        );
        println!("{}", m.sql.trim_end());
        if let Some(schema) = prepared.schemas.get(name) {
            println!("-- output schema:");
            for f in schema.fields() {
                println!(
                    "--   {} {}{}",
                    f.name(),
                    crate::config::datatype::display(f.data_type()),
                    if f.is_nullable() { "" } else { " not null" }
                );
            }
        }
        println!();
    }
    crate::report::artifacts::write_manifest(&project, &prepared)?;
    Ok(exit::SUCCESS)
}

/// `parcours validate`: configuration, SQL, references and schemas, checked against the sources;
/// the PII audit of the selected published models; the selected models' unit tests checked
/// (inputs, columns, types) without running them.
pub(super) async fn validate(dir: &Path, a: &SelectCmd) -> Result<u8> {
    let project = open(dir, &a.project)?;
    let selected = selection(&project, &a.select)?;
    let prepared = runner::prepare(&project, &selected, Mode::Plan).await?;
    let lineage = lineage::compute(&project, &prepared.plans)?;
    let audit = pii::audit(&project, &lineage, &published(&project, &selected))?;
    audit.check(&project)?;
    let unit = crate::unit_test::prepare(&project, &selected).await?;
    println!(
        "ok: {} models, {} sources, {} singular tests, {} unit tests checked in {}; PII audit: {} declared columns reach {} published columns, all protected",
        selected.len(),
        prepared.sources.len(),
        runner::singular_tests_for(&project, &selected).len(),
        unit.len(),
        project.config.file.display(),
        audit.declared.len(),
        audit
            .findings
            .iter()
            .map(|f| f.column.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    );
    Ok(exit::SUCCESS)
}

/// The selected models that are published (tables and partitioned tables).
fn published(project: &crate::project::Project, selected: &BTreeSet<String>) -> BTreeSet<String> {
    selected
        .iter()
        .filter(|n| project.graph.models[*n].settings.is_published())
        .cloned()
        .collect()
}

/// `parcours list`: models, materializations, paths and dependencies.
pub(super) fn list(dir: &Path, a: &ListArgs) -> Result<u8> {
    let project = open(dir, &ProjectArgs::default())?;
    let selected = selection(&project, &a.select)?;
    match a.output {
        OutputFormat::Text => print!("{}", render::list_text(&project.graph, &selected)),
        OutputFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&render::list_json(&project.graph, &selected))
                .map_err(|e| Error::Internal(e.to_string()))?
        ),
    }
    Ok(exit::SUCCESS)
}

/// `parcours show`: a model's first rows, computed from its SQL over the published upstream
/// tables; nothing is written. Without `--date`, at the last published run's date.
pub(super) async fn show(dir: &Path, a: &ShowArgs) -> Result<u8> {
    let project = open_at_last_run(dir, &a.project).await?;
    let selected = project.graph.select(std::slice::from_ref(&a.model), &[])?;
    let prepared = runner::prepare(&project, &selected, Mode::Run).await?;
    let chain: Vec<String> = project
        .graph
        .order
        .iter()
        .filter(|n| selected.contains(*n))
        .cloned()
        .collect();
    runner::register_views(&prepared.ctx, &project, &chain).await?;
    let df = prepared
        .ctx
        .table(a.model.as_str())
        .await?
        .limit(0, Some(a.limit))?;
    let schema: arrow::datatypes::SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let model = &project.graph.models[&a.model];
    let batches = df
        .collect()
        .await
        .map_err(|e| runner::execution_error(&e, model))?;
    let table =
        render::rows_table(&schema, &batches).map_err(|e| Error::Internal(e.to_string()))?;
    print!("{table}");
    Ok(exit::SUCCESS)
}

/// `parcours lineage`: the model graph as Mermaid or DOT; with `--column`, one column's
/// upstream and downstream; with `--pii`, the PII audit. Column lineage is planned from the
/// declared source schemas, without storage.
pub(super) async fn lineage(dir: &Path, a: &LineageArgs) -> Result<u8> {
    let project = open(dir, &a.project)?;
    let selected = selection(&project, &a.select)?;
    if a.column.is_none() && !a.pii {
        match a.format.unwrap_or(LineageFormat::Mermaid) {
            LineageFormat::Mermaid => print!("{}", render::mermaid(&project.graph, &selected)),
            LineageFormat::Dot => print!("{}", render::dot(&project.graph, &selected)),
            LineageFormat::Text => print!("{}", render::edges_text(&project.graph, &selected)),
        }
        return Ok(exit::SUCCESS);
    }
    let offline = runner::offline::plan(&project, &selected).await?;
    let columns = lineage::compute(&project, &offline.plans)?;
    if a.pii {
        let audit = pii::audit(&project, &columns, &published(&project, &selected))?;
        match a.format.unwrap_or(LineageFormat::Text) {
            LineageFormat::Text => print!("{}", pii::render(&audit)),
            other => {
                return Err(Error::Usage(format!(
                    "--pii prints text only, not {}",
                    if other == LineageFormat::Dot {
                        "dot"
                    } else {
                        "mermaid"
                    }
                )));
            }
        }
        return Ok(if audit.violations().next().is_some() {
            exit::CONFIG
        } else {
            exit::SUCCESS
        });
    }
    let text = a.column.as_deref().unwrap_or_default();
    let id = lineage::parse_column(text)?;
    check_column(&project, &offline.schemas, &id)?;
    match a.format.unwrap_or(LineageFormat::Text) {
        LineageFormat::Text => print!("{}", lineage::render::text(&columns, &id)),
        LineageFormat::Mermaid => print!("{}", lineage::render::mermaid(&columns, &id)),
        LineageFormat::Dot => print!("{}", lineage::render::dot(&columns, &id)),
    }
    Ok(exit::SUCCESS)
}

/// `--column` must name a column of a planned model or of a source a model reads.
fn check_column(
    project: &crate::project::Project,
    schemas: &std::collections::BTreeMap<String, arrow::datatypes::SchemaRef>,
    id: &lineage::ColumnId,
) -> Result<()> {
    let known_tables = || {
        project
            .graph
            .models
            .keys()
            .chain(project.config.sources.keys())
    };
    let Some(schema) = schemas.get(&id.table) else {
        return Err(Error::Usage(format!(
            "--column {id}: no model or source `{}` in the selection{}",
            id.table,
            crate::graph::suggest(&id.table, known_tables())
        )));
    };
    let names: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    if !names.contains(&id.column) {
        return Err(Error::Usage(format!(
            "--column {id}: `{}` has no column `{}`{} (columns: {})",
            id.table,
            id.column,
            crate::graph::suggest(&id.column, names.iter()),
            names.join(", ")
        )));
    }
    Ok(())
}

/// `parcours functions`: the SQL functions parcours adds, from their one documentation source.
pub(super) fn functions(a: &FunctionsArgs) -> Result<u8> {
    use crate::functions::docs;
    let known: Vec<String> = docs::FUNCTIONS.iter().map(|f| f.name.to_string()).collect();
    let docs: Vec<&docs::FunctionDoc> = match &a.name {
        Some(name) => vec![docs::find(name).ok_or_else(|| {
            Error::Usage(format!(
                "no function `{name}`{}",
                crate::graph::suggest(name, known.iter())
            ))
        })?],
        None => docs::FUNCTIONS.iter().collect(),
    };
    match a.format {
        FunctionsFormat::Text => print!("{}", docs::text(&docs)),
        FunctionsFormat::Markdown => print!("{}", docs::markdown(&docs)),
        FunctionsFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&docs).map_err(|e| Error::Internal(e.to_string()))?
        ),
    }
    Ok(exit::SUCCESS)
}
