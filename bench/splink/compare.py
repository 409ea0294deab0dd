"""Splink against parcours on the same contact records: pairwise precision, recall and F1 of
each against the generator's truth, and Splink's wall time.

    compare.py RAW_DIR WAREHOUSE_DIR [--threads N]   (bench/splink.sh installs and runs it)

RAW_DIR is a `parcours generate` output (crm_contacts and _truth/record_person); WAREHOUSE_DIR
is where `parcours run` published bridge_identity for it. Splink (DuckDB back-end) dedupes the
newest version of every crm_contacts record with the comparisons and blocking rules its own
documentation uses for people (names with term frequencies, date of birth, postcode, street,
exact e-mail, phone), trained without labels: λ from deterministic e-mail/phone rules, u by random
sampling, m by EM on two blocking sessions (same e-mail, same birth date). Both sides are scored on the same pairs: pairs of
contact records (identifiable, not bots) of one true person. parcours links contacts through
every source (an order's e-mail, a till's loyalty card); Splink sees the contact table only,
as a user with one customer table would. Prints one JSON object.
"""

import argparse
import json
import os
import time
import unicodedata
from collections import Counter

import pyarrow.compute as pc
import pyarrow.dataset as ds


def strip_accents(s):
    if s is None:
        return None
    s = unicodedata.normalize("NFKD", s)
    s = "".join(c for c in s if not unicodedata.combining(c)).lower().strip()
    return s or None


def clean_email(e):
    if e is None:
        return None
    e = e.strip().lower()
    if e.count("@") != 1:
        return None
    local, domain = e.split("@")
    local = local.split("+")[0]
    if domain in ("gmail.com", "googlemail.com"):
        local = local.replace(".", "")
    return f"{local}@{domain}" if local and "." in domain else None


def clean_phone(p):
    if p is None:
        return None
    digits = "".join(c for c in p if c.isdigit())
    # the national significant number: the last nine digits, whatever prefix was typed
    return digits[-9:] if len(digits) >= 9 else None


def contacts(raw):
    t = ds.dataset(os.path.join(raw, "crm_contacts")).to_table()
    t = t.sort_by([("contact_id", "ascending"), ("updated_at", "descending")])
    rows, seen = [], set()
    for r in t.to_pylist():
        if r["contact_id"] in seen:
            continue
        seen.add(r["contact_id"])
        rows.append(
            {
                "unique_id": r["contact_id"],
                "first_name": strip_accents(r["first_name"]),
                "last_name": strip_accents(r["last_name"]),
                "birth_date": r["birth_date"].isoformat() if r["birth_date"] else None,
                "postal_code": (r["postal_code"] or "").strip().upper() or None,
                "street": strip_accents(r["street_address"]),
                "email": clean_email(r["email"]),
                "phone": clean_phone(r["phone"]),
            }
        )
    return rows


def truth(raw):
    t = ds.dataset(os.path.join(raw, "_truth", "record_person")).to_table()
    t = t.filter(pc.equal(t["table"], "crm_contacts"))
    return {
        r["record_id"]: r["person_id"]
        for r in t.to_pylist()
        if r["identifiable"] and not r["person_id"].startswith("bot-")
    }


def pairs_in(groups):
    return sum(n * (n - 1) // 2 for n in groups.values())


def score(true_person, predicted):
    """Pairwise scores over the records of `true_person`; a record without a prediction is a
    cluster of its own."""
    pred = {r: predicted.get(r, "single:" + r) for r in true_person}
    tp = pairs_in(Counter((true_person[r], pred[r]) for r in true_person))
    true_pairs = pairs_in(Counter(true_person.values()))
    predicted_pairs = pairs_in(Counter(pred.values()))
    p = tp / predicted_pairs if predicted_pairs else 1.0
    r = tp / true_pairs if true_pairs else 1.0
    return {
        "precision": round(p, 4),
        "recall": round(r, 4),
        "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0,
        "true_pairs": true_pairs,
        "predicted_pairs": predicted_pairs,
    }


def splink_clusters(rows, threads):
    import duckdb
    import pandas as pd
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on
    from splink.internals.exceptions import EMTrainingException

    con = duckdb.connect()
    con.execute(f"set threads = {threads}")
    df = pd.DataFrame(rows)
    settings = SettingsCreator(
        link_type="dedupe_only",
        blocking_rules_to_generate_predictions=[
            block_on("first_name", "last_name"),
            "l.first_name = r.last_name and l.last_name = r.first_name",
            block_on("last_name", "birth_date"),
            block_on("first_name", "birth_date"),
            block_on("postal_code", "last_name"),
            block_on("postal_code", "first_name"),
            block_on("email"),
            block_on("phone"),
        ],
        comparisons=[
            cl.NameComparison("first_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("last_name").configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("birth_date", input_is_string=True),
            cl.ExactMatch("postal_code"),
            cl.JaroWinklerAtThresholds("street", [0.9]),
            # exact only: EmailComparison's fuzzy levels score stephane.legrand12 against
            # stephane.legrand34 as near-agreement (it repeats the names), which linked
            # thousands of namesakes in a trial
            cl.ExactMatch("email"),
            cl.ExactMatch("phone"),
        ],
        retain_intermediate_calculation_columns=False,
    )
    start = time.perf_counter()
    db_api = DuckDBAPI(connection=con)
    linker = Linker(db_api.register(df), settings, log_level="WARNING")
    linker.training.estimate_probability_two_random_records_match(
        [
            block_on("email"),
            block_on("phone"),
            block_on("first_name", "last_name", "birth_date"),
        ],
        recall=0.7,
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2e6, seed=1)
    # m of every comparison but e-mail from the pairs sharing an e-mail, then e-mail's (and
    # again the others') from those sharing a birth date. Blocking EM on the names instead
    # lets namesakes (common: the generator draws from a few hundred names) pass as matches,
    # and on the address, a household's members (tried: precision 0.25 without e-mails).
    for rule in (block_on("email"), block_on("birth_date")):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(rule)
        except EMTrainingException:
            pass  # no pair agrees on it (a world without e-mails)
    predictions = linker.inference.predict(threshold_match_probability=0.9)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=0.9
    ).as_pandas_dataframe()
    seconds = time.perf_counter() - start
    return dict(zip(clusters["unique_id"], clusters["cluster_id"].astype(str))), seconds


def parcours_clusters(warehouse):
    t = ds.dataset(os.path.join(warehouse, "bridge_identity")).to_table()
    t = t.filter(pc.equal(t["identifier_type"], "contact_id"))
    return dict(zip(t["identifier_value"].to_pylist(), t["person_id"].to_pylist()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("warehouse")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--run-results", help="the parcours run's target/run_results.json")
    a = ap.parse_args()
    parcours_seconds = None
    if a.run_results:
        with open(a.run_results) as f:
            parcours_seconds = round(json.load(f)["elapsed_s"], 2)
    rows = contacts(a.raw)
    true_person = truth(a.raw)
    splink, seconds = splink_clusters(rows, a.threads)
    print(
        json.dumps(
            {
                "contact_records": len(rows),
                "scored_records": len(true_person),
                "splink": {**score(true_person, splink), "seconds": round(seconds, 2)},
                # the whole pipeline's run: every source, identity, attribution and marts
                "parcours": {
                    **score(true_person, parcours_clusters(a.warehouse)),
                    "pipeline_seconds": parcours_seconds,
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
