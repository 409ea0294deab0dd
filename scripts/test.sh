#!/usr/bin/env bash
# The project's test command (README, "Tests"): installs the S3 test server once, then runs
# every test. Needs only the Rust toolchain and Python 3.
set -euo pipefail
cd "$(dirname "$0")/.."

# A real S3-compatible server for the storage tests, in a project-local venv.
if [ ! -x .venv-s3/bin/moto_server ]; then
    python3 -m venv .venv-s3
    .venv-s3/bin/pip install --quiet --disable-pip-version-check "moto[server]==5.2.5"
fi
export PARCOURS_MOTO_SERVER="$PWD/.venv-s3/bin/moto_server"

cargo test --locked "$@"
