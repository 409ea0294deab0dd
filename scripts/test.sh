#!/usr/bin/env bash
# The project's test command (README, "Tests"): installs the S3 test server and the BI readers
# (DuckDB, pyarrow) once, then runs every test. Needs only the Rust toolchain and Python 3.
set -euo pipefail
cd "$(dirname "$0")/.."

# A real S3-compatible server for the storage tests, in a project-local venv.
if [ ! -x .venv-s3/bin/moto_server ]; then
    python3 -m venv .venv-s3
    .venv-s3/bin/pip install --quiet --disable-pip-version-check "moto[server]==5.2.5"
fi
export PARCOURS_MOTO_SERVER="$PWD/.venv-s3/bin/moto_server"

# DuckDB and pyarrow for the BI readers test (tests/bi_readers.rs), in their own venv so the
# readers' versions move independently of the S3 server's.
if ! .venv-bi/bin/python -c "import duckdb, pyarrow" 2>/dev/null; then
    python3 -m venv .venv-bi
    .venv-bi/bin/pip install --quiet --disable-pip-version-check "duckdb==2.0.0" "pyarrow==26.0.1"
fi
export PARCOURS_BI_PYTHON="$PWD/.venv-bi/bin/python"

cargo test --locked "$@"
