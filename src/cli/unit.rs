//! `parcours test`: the data tests of the selected models against their published tables, or,
//! with `--unit`, their unit tests in memory (no storage is read or written).

use std::path::Path;

use super::{TestArgs, open, open_at_last_run, selection};
use crate::error::Result;
use crate::run as runner;

pub(super) async fn test(dir: &Path, a: &TestArgs) -> Result<u8> {
    if a.unit {
        let project = open(dir, &a.project)?;
        let selected = selection(&project, &a.select)?;
        let report = crate::unit_test::run(&project, &selected).await?;
        print!("{}", report.render());
        return Ok(report.exit_code());
    }
    // Data tests read what was published: without --date, the last published run's date.
    let project = open_at_last_run(dir, &a.project).await?;
    let selected = selection(&project, &a.select)?;
    let report = runner::test(&project, &selected).await?;
    print!("{}", crate::report::render::run_summary(&report));
    Ok(report.exit_code())
}
