//! `parcours test`: the data tests of the selected models against their published tables, or,
//! with `--unit`, their unit tests in memory (no storage is read or written).

use std::path::Path;

use super::{TestArgs, open, selection};
use crate::error::Result;
use crate::run as runner;

pub(super) async fn test(dir: &Path, a: &TestArgs) -> Result<u8> {
    let project = open(dir, &a.project)?;
    let selected = selection(&project, &a.select)?;
    if a.unit {
        let report = crate::unit_test::run(&project, &selected).await?;
        print!("{}", report.render());
        return Ok(report.exit_code());
    }
    let report = runner::test(&project, &selected).await?;
    print!("{}", crate::report::render::run_summary(&report));
    Ok(report.exit_code())
}
