#!/usr/bin/env python3
"""Reads every table of a parcours warehouse the way BI tools do, and lists what would trip them.

A warehouse folder holds one folder per published table, each with the commit record
`_parcours_commit.json` that names the table's live files (Hive `key=value` subfolders for
partitioned tables). Every table is read in full twice, with pyarrow (a dataset with Hive
partitioning) and with DuckDB (`read_parquet(..., hive_partitioning = true)`), the two readers
most BI set-ups sit on (pandas and notebooks on pyarrow, dashboards on DuckDB). Then:

* rows: the commit record, pyarrow and DuckDB count the same rows; every listed file exists with
  its recorded size and row count, and no unlisted Parquet file lies in the folder (a reader that
  globs the folder would read it);
* types: timestamps carry a time zone (UTC); money columns are decimals; date columns (and
  date partition folders) are dates; no unsigned integers, no Utf8View/LargeUtf8 encodings, no
  nested or exotic types; every file of a table has the same schema;
* statistics: every column chunk of every row group has min/max statistics (or is all null),
  which is what lets DuckDB, Spark and Trino skip row groups;
* file sizes: no empty files, no swarms of small files (thresholds below).

A Delta Lake table (a folder with `_delta_log/`, from `format: delta`) has no commit record:
its log says which files are live, and the folder also holds the files of earlier versions
kept for their readers. It is read with the `deltalake` package (delta-rs), whose snapshot
gives the live files, their row counts and the table's schema; pyarrow reads the package's
dataset and DuckDB reads exactly the files the snapshot lists. The same type, statistics and
file-size rules apply to those files, and the rows of the log, the footers, deltalake and
DuckDB must agree.

Usage: check_readers.py WAREHOUSE [--allow RULE:TABLE.COLUMN ...]. Exits 0 when every table
passes, 1 with the list of violations, 2 when the warehouse holds no published table. An
`--allow` entry turns a matching violation into a reported, known exception.
"""

import argparse
import json
import os
import re
import sys

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

COMMIT = "_parcours_commit.json"
DELTA_LOG = "_delta_log"

# Money is summed by every dashboard: binary floats drift (0.1 + 0.2) and BI tools then show
# totals that differ from the source by a cent. Ratios are not summed, so they may stay floats:
# roas, share, *_rate, and the cost-per KPIs (cpc, cpl, cpa), which a dashboard recomputes
# from spend and its denominator at every level of aggregation (and which a tiny fractional
# denominator would push past any decimal precision).
MONEY = re.compile(r"(^|_)(revenue|spend|amount|price|cost)(_|$)")
DATE = re.compile(r"(^|_)(date|week|month)$")
TIMESTAMP = re.compile(r"(^|_)ts$|_at$")

# Small-file thresholds. Every file costs a reader one open and one footer read before it can
# plan (a round trip of 10-50 ms on S3/GCS/Azure), and Spark, Trino and Athena schedule at
# least one task per file. A folder (table or partition) holding several files that average
# under 8 MiB could have been one file: a Parquet reader already parallelises over the row
# groups of one file, so the split buys nothing. A table of more than 1,000 files averaging
# under 1 MiB spends more time opening files than reading them (AWS advises Athena files of
# 128 MiB or more); daily partitions stay under it for almost three years of history.
FOLDER_SPLIT_AVG_BYTES = 8 * 1024 * 1024
TABLE_MAX_FILES = 1000
TABLE_SMALL_AVG_BYTES = 1024 * 1024

UNSUPPORTED = (
    (pa.types.is_unsigned_integer, "unsigned",
     "unsigned integer: Spark, Power BI and Java readers have no unsigned types"),
    (lambda t: pa.types.is_string_view(t) or pa.types.is_binary_view(t), "string_encoding",
     "Utf8View/BinaryView in the file's Arrow schema: pyarrow 14 and older refuse the whole "
     "file (ArrowInvalid: Unrecognized type: 24)"),
    (lambda t: pa.types.is_large_string(t) or pa.types.is_large_binary(t), "string_encoding",
     "LargeUtf8/LargeBinary: 64-bit offsets that readers of the embedded Arrow schema must "
     "support"),
    (pa.types.is_decimal256, "unsupported_type",
     "decimal256: DuckDB, Spark and Trino stop at 38 digits"),
    (lambda t: pa.types.is_nested(t) or pa.types.is_dictionary(t), "unsupported_type",
     "nested or dictionary column: BI tools expect flat scalar columns"),
    (lambda t: pa.types.is_duration(t) or pa.types.is_interval(t) or pa.types.is_time(t)
     or pa.types.is_float16(t), "unsupported_type",
     "duration, interval, time of day or float16: no portable Parquet mapping for BI readers"),
)


class Report:
    def __init__(self, allow):
        self.allow = allow
        self.violations = []
        self.allowed = []

    def add(self, rule, table, column, message):
        where = f"{table}.{column}" if column else table
        line = f"[{rule}] {where}: {message}"
        if f"{rule}:{where}" in self.allow:
            self.allowed.append(line)
        else:
            self.violations.append(line)


def sql_string(s):
    return "'" + s.replace("'", "''") + "'"


def parquet_files_in(folder):
    """Every Parquet file a reader globbing `folder/**/*.parquet` would see, hidden ones aside."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        for f in filenames:
            if f.endswith(".parquet") and not f.startswith((".", "_")):
                out.append(os.path.relpath(os.path.join(dirpath, f), folder))
    return sorted(out)


def check_table(name, folder, report):
    if os.path.isdir(os.path.join(folder, DELTA_LOG)):
        return check_delta_table(name, folder, report)
    with open(os.path.join(folder, COMMIT)) as f:
        record = json.load(f)
    files = record["files"]
    paths = [os.path.join(folder, f["path"]) for f in files]
    part_col = record.get("partition_by")
    part_type = record.get("partition_type")

    # The commit record against the folder.
    listed = sorted(f["path"] for f in files)
    for stray in sorted(set(parquet_files_in(folder)) - set(listed)):
        report.add("commit", name, None,
                   f"{stray} is in the folder but not in the commit record: a globbing reader "
                   f"reads it")
    return check_files(name, folder, record, files, paths, part_col, part_type, report)


def check_files(name, folder, record, files, paths, part_col, part_type, report):
    """The rules every published table's live files answer to, whoever listed them."""
    said_by = record.get("listed_by", "the commit record")
    for f, path in zip(files, paths):
        if not os.path.exists(path):
            report.add("commit", name, None, f"{f['path']} is listed but missing")
            continue
        size = os.path.getsize(path)
        if size != f["bytes"]:
            report.add("commit", name, None,
                       f"{f['path']} has {size} bytes, {said_by} says {f['bytes']}")
    paths = [p for p in paths if os.path.exists(p)]
    if not paths:
        report.add("file_size", name, None,
                   "no data file: DuckDB's read_parquet fails (no files found) and no reader "
                   "can see the columns")
        return {"rows": record["rows"], "files": 0}

    # Footers: schema, row groups and statistics, file sizes.
    file_schema = None
    footer_rows = 0
    for f, path in zip(files, paths):
        meta = pq.ParquetFile(path).metadata
        schema = meta.schema.to_arrow_schema()
        if file_schema is None:
            file_schema = schema
        elif not schema.equals(file_schema):
            report.add("schema_consistency", name, None,
                       f"{f['path']} has schema {schema} but {files[0]['path']} has "
                       f"{file_schema}")
        footer_rows += meta.num_rows
        if meta.num_rows != f["rows"]:
            report.add("commit", name, None,
                       f"{f['path']} holds {meta.num_rows} rows, {said_by} says {f['rows']}")
        check_statistics(name, f["path"], meta, report)
        check_file_size(name, f["path"], os.path.getsize(path), meta.num_rows,
                        record["rows"], report)
    check_file_counts(name, files, report)

    for field in file_schema:
        check_type(name, field.name, field.type, report)
    if part_col and part_col in file_schema.names:
        report.add("schema_consistency", name, part_col,
                   "the partition column is also stored in the files")
    if part_col and DATE.search(part_col) and part_type != "date":
        report.add("date", name, part_col,
                   f"partition column typed {part_type} in the commit record, expected date")

    # pyarrow: the listed files as one dataset, the partition column typed from the record.
    partitioning = None
    if part_col:
        ptype = {"date": pa.date32(), "int32": pa.int32(), "int64": pa.int64()}.get(
            part_type, pa.string())
        partitioning = ds.partitioning(pa.schema([(part_col, ptype)]), flavor="hive")
    try:
        dataset = ds.dataset(paths, format="parquet", partitioning=partitioning,
                             partition_base_dir=folder)
        arrow_rows = dataset.to_table().num_rows
    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
        report.add("reader_error", name, None, f"pyarrow cannot read the table: {e}")
        arrow_rows = None

    # DuckDB: the listed files, partition types detected from folder names as a BI user gets.
    duck_rows = None
    try:
        con = duckdb.connect()
        source = ("read_parquet([" + ", ".join(sql_string(p) for p in paths)
                  + "], hive_partitioning = true)")
        described = con.execute(f"describe select * from {source}").fetchall()
        for column, duck_type, *_ in described:
            check_duckdb_type(name, column, duck_type, column == part_col, report)
        reader = con.sql(f"select * from {source}").to_arrow_reader(64 * 1024)
        duck_rows = sum(batch.num_rows for batch in reader)
        con.close()
    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
        report.add("reader_error", name, None, f"DuckDB cannot read the table: {e}")

    counts = {said_by.removeprefix("the "): record["rows"], "footers": footer_rows,
              "pyarrow": arrow_rows, "duckdb": duck_rows}
    if len({v for v in counts.values() if v is not None}) > 1:
        report.add("rows", name, None,
                   "row counts disagree: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return {"rows": record["rows"], "files": len(paths), "pyarrow": arrow_rows,
            "duckdb": duck_rows}


def check_delta_table(name, folder, report):
    """A Delta table as Delta readers see it: the files of its current snapshot."""
    from deltalake import DeltaTable

    try:
        dt = DeltaTable(folder)
        actions = pa.table(dt.get_add_actions(flatten=True))
        arrow = dt.to_pyarrow_dataset().to_table()
    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
        report.add("reader_error", name, None, f"deltalake cannot read the table: {e}")
        return {"rows": None, "files": 0, "format": "delta"}
    part_cols = dt.metadata().partition_columns
    if len(part_cols) > 1:
        report.add("schema_consistency", name, None,
                   f"partitioned by {part_cols}: parcours writes one partition column")
    part_col = part_cols[0] if part_cols else None
    part_type = None
    if part_col:
        t = arrow.schema.field(part_col).type
        part_type = "date" if pa.types.is_date32(t) else str(t)
    rels = actions.column("path").to_pylist()
    counts = actions.column("num_records").to_pylist()
    sizes = actions.column("size_bytes").to_pylist()
    if any(c is None for c in counts):
        report.add("commit", name, None, "an add action has no numRecords statistic")
    files = [{"path": p, "rows": c or 0, "bytes": s} for p, c, s in zip(rels, counts, sizes)]
    record = {"rows": sum(f["rows"] for f in files), "listed_by": "the Delta log"}
    paths = [os.path.join(folder, p) for p in rels]
    facts = check_files(name, folder, record, files, paths, part_col, part_type, report)
    facts["format"] = f"delta v{dt.version()}"

    # What deltalake itself reads, typed from the Delta schema (the partition column too).
    for field in arrow.schema:
        if field.name != part_col:
            check_type(name, field.name, logical(field.type), report)
        elif DATE.search(part_col) and not pa.types.is_date32(field.type):
            report.add("date", name, part_col, f"{field.type}: the partition column is not a date")
    if arrow.num_rows != record["rows"]:
        report.add("rows", name, None,
                   f"deltalake reads {arrow.num_rows} rows, the log's add actions say "
                   f"{record['rows']}")
    facts["deltalake"] = arrow.num_rows
    return facts


def logical(t):
    """The type a reader means by `t`, whatever string encoding the reader chose."""
    if pa.types.is_string_view(t) or pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_binary_view(t) or pa.types.is_large_binary(t):
        return pa.binary()
    return t


def check_type(table, column, t, report):
    for test, rule, message in UNSUPPORTED:
        if test(t):
            report.add(rule, table, column, f"{t}: {message}")
    if pa.types.is_timestamp(t) and t.tz not in ("UTC", "+00:00", "Etc/UTC"):
        report.add("timestamp_tz", table, column,
                   f"{t}: a timestamp without a UTC time zone is read as local wall-clock "
                   f"time, shifted by each user's zone")
    if TIMESTAMP.search(column) and not pa.types.is_timestamp(t):
        report.add("timestamp_tz", table, column, f"{t}: named as a timestamp but is not one")
    if MONEY.search(column) and not pa.types.is_decimal(t):
        report.add("money_decimal", table, column,
                   f"{t}: money should be a decimal, floats make BI totals drift by cents")
    if DATE.search(column) and not pa.types.is_date32(t):
        report.add("date", table, column, f"{t}: named as a date but is not a date")


def check_duckdb_type(table, column, duck_type, is_partition, report):
    """What a BI user querying through DuckDB sees, partition columns included."""
    if duck_type.startswith("U") and duck_type[1:] in ("TINYINT", "SMALLINT", "INTEGER",
                                                       "BIGINT", "HUGEINT"):
        report.add("unsigned", table, column, f"DuckDB reads it as {duck_type}")
    if duck_type.startswith("TIMESTAMP") and duck_type != "TIMESTAMP WITH TIME ZONE":
        report.add("timestamp_tz", table, column, f"DuckDB reads it as {duck_type}")
    if is_partition and DATE.search(column) and duck_type != "DATE":
        report.add("date", table, column,
                   f"DuckDB reads the partition folders as {duck_type}, not DATE")


def check_statistics(table, path, meta, report):
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        for c in range(group.num_columns):
            chunk = group.column(c)
            stats = chunk.statistics
            if stats is None:
                report.add("statistics", table, chunk.path_in_schema,
                           f"{path} row group {rg}: no statistics")
            elif not stats.has_min_max and not (
                    stats.has_null_count and stats.null_count == chunk.num_values):
                # An all-null chunk has no min/max to give; its null count is what prunes it.
                report.add("statistics", table, chunk.path_in_schema,
                           f"{path} row group {rg}: no min/max statistics")


def check_file_size(table, path, size, rows, table_rows, report):
    if size == 0:
        report.add("file_size", table, None, f"{path} is empty (0 bytes), not Parquet")
    elif rows == 0 and table_rows > 0:
        # A lone zero-row file is how an empty table keeps its columns; beside data it is waste.
        report.add("file_size", table, None, f"{path} holds no row beside files that do")


def check_file_counts(table, files, report):
    folders = {}
    for f in files:
        folders.setdefault(os.path.dirname(f["path"]), []).append(f["bytes"])
    for folder, sizes in sorted(folders.items()):
        if len(sizes) > 1 and sum(sizes) / len(sizes) < FOLDER_SPLIT_AVG_BYTES:
            report.add("file_size", table, None,
                       f"{folder or 'the table folder'} holds {len(sizes)} files averaging "
                       f"{sum(sizes) // len(sizes)} bytes: one file would do")
    total = sum(f["bytes"] for f in files)
    if len(files) > TABLE_MAX_FILES and total / len(files) < TABLE_SMALL_AVG_BYTES:
        report.add("file_size", table, None,
                   f"{len(files)} files averaging {total // len(files)} bytes: readers spend "
                   f"their time opening files")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse")
    parser.add_argument("--allow", action="append", default=[], metavar="RULE:TABLE.COLUMN")
    args = parser.parse_args()

    report = Report(set(args.allow))
    tables = sorted(
        e.name for e in os.scandir(args.warehouse)
        if e.is_dir() and not e.name.startswith(("_", "."))
        and (os.path.exists(os.path.join(e.path, COMMIT))
             or os.path.isdir(os.path.join(e.path, DELTA_LOG))))
    if not tables:
        print(f"no published table (no */{COMMIT} nor */{DELTA_LOG}) under {args.warehouse}",
              file=sys.stderr)
        return 2
    if any(os.path.isdir(os.path.join(args.warehouse, t, DELTA_LOG)) for t in tables):
        import deltalake
        print(f"deltalake {deltalake.__version__}")
    print(f"pyarrow {pa.__version__}, duckdb {duckdb.__version__}: {len(tables)} tables")
    for name in tables:
        before = len(report.violations)
        facts = check_table(name, os.path.join(args.warehouse, name), report)
        status = "ok" if len(report.violations) == before else "FAIL"
        extra = ""
        if "format" in facts:
            extra = f"  deltalake {facts.get('deltalake')}  ({facts['format']})"
        print(f"{status:4}  {name:32} rows {facts['rows']!s:>9}  files {facts['files']:>4}  "
              f"pyarrow {facts.get('pyarrow')}  duckdb {facts.get('duckdb')}{extra}")
    for line in report.allowed:
        print(f"allowed: {line}")
    if report.violations:
        print(f"{len(report.violations)} violations:")
        for line in report.violations:
            print(f"  {line}")
        return 1
    print("every table passes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
