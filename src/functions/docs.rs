//! The one source of truth for what each parcours SQL function does: its signature, arguments
//! (with their ranges), output, definition and a worked example with the exact output the
//! example gives.
//!
//! The README's "Functions available in every model" section and `parcours functions` are both
//! generated from [`FUNCTIONS`]. Tests below fail when a registered function has no entry (or an
//! entry names no function), when the README section differs from [`markdown`], and when an
//! example no longer prints its documented output: a function cannot be added or changed
//! without its documentation.

use std::fmt::Write as _;

use serde::Serialize;

/// Scalar (one value per row) or aggregate (one value per group).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FunctionKind {
    Scalar,
    Aggregate,
}

/// One argument of a function.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Argument {
    pub name: &'static str,
    /// SQL type accepted, e.g. `Utf8`, `List<Utf8>`, `integer literal`.
    pub sql_type: &'static str,
    /// What it means, its range and its default when optional.
    pub description: &'static str,
}

/// The documentation of one SQL function.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct FunctionDoc {
    pub name: &'static str,
    pub kind: FunctionKind,
    /// How it is called, optional arguments in brackets.
    pub signature: &'static str,
    pub arguments: &'static [Argument],
    /// The output type and what a row of it holds.
    pub returns: &'static str,
    /// What it computes, precisely enough to reimplement it.
    pub definition: &'static str,
    /// A self-contained query (over `VALUES`) showing a typical use.
    pub example: &'static str,
    /// What `example` prints, as `parcours functions` and the README show it (pretty table).
    pub example_output: &'static str,
}

const fn arg(name: &'static str, sql_type: &'static str, description: &'static str) -> Argument {
    Argument {
        name,
        sql_type,
        description,
    }
}

/// Every function parcours adds to DataFusion's SQL, in the order the README lists them.
pub const FUNCTIONS: &[FunctionDoc] = &[
    FunctionDoc {
        name: "normalize_email",
        kind: FunctionKind::Scalar,
        signature: "normalize_email(email)",
        arguments: &[arg("email", "Utf8", "an e-mail as typed; any dirt")],
        returns: "Utf8: the matching key of the address, or NULL when it is not a valid address",
        definition: "In order: removes every whitespace character, around the address or \
            inside it (a space is never part of an unquoted address), and lower-cases; returns \
            NULL for anything that is not `local@domain` (zero or several `@`, control \
            characters, an empty local part, a character never valid unquoted such as \
            `, ; < > ( ) [ ] \\ \"`, a local part starting or ending with `.` or holding `..`, a \
            domain without a dot, with an empty label or with characters other than letters, \
            digits, `-` and `.`); drops the sub-address from the first `+` of the local part; for \
            gmail.com and googlemail.com removes every `.` of the local part and writes the domain \
            gmail.com. `sha256_hex(normalize_email(e))` is the `email_sha256` of the raw-exports \
            contract.",
        example: "select normalize_email(e) as key from (values (' Jean.Dupont+promo@GMail.com '), \
            ('not an email')) as t(e)",
        example_output: "\
+----------------------+
| key                  |
+----------------------+
| jeandupont@gmail.com |
|                      |
+----------------------+",
    },
    FunctionDoc {
        name: "meta_email",
        kind: FunctionKind::Scalar,
        signature: "meta_email(email)",
        arguments: &[arg("email", "Utf8", "an e-mail as typed")],
        returns: "Utf8: the address in Meta's customer-list format, or NULL when invalid",
        definition: "Removes whitespace and lower-cases only (Meta keeps `+tags` and dots); NULL for an \
            address `normalize_email` would reject. Hash it with `sha256_hex` for a Meta audience.",
        example: "select meta_email(' Jean.Dupont+promo@GMail.com ') as meta",
        example_output: "\
+-----------------------------+
| meta                        |
+-----------------------------+
| jean.dupont+promo@gmail.com |
+-----------------------------+",
    },
    FunctionDoc {
        name: "correct_email_domain",
        kind: FunctionKind::Scalar,
        signature: "correct_email_domain(email)",
        arguments: &[arg("email", "Utf8", "an e-mail as typed")],
        returns: "Utf8: the matching key with its mailbox domain corrected, or NULL when there is \
            nothing to correct",
        definition: "Normalises like `normalize_email`, then, when the domain is one keystroke \
            (one letter inserted, dropped or replaced, or two neighbours swapped) away from exactly \
            one of 23 big mailbox providers' domains (gmail.com, googlemail.com, hotmail.com/.fr, \
            outlook.com/.fr, live.com/.fr, msn.com, yahoo.com/.fr, icloud.com, aol.com, orange.fr, \
            wanadoo.fr, free.fr, sfr.fr, neuf.fr, laposte.net, bbox.fr, gmx.fr/.com, \
            protonmail.com), returns the matching key with that provider's domain (gmail's dot \
            rule applied). NULL when the address is invalid, its domain is a provider's, is near \
            none or near two; a country variant such as gmail.fr is three keystrokes away and is \
            left alone, as some are real mailboxes.",
        example: "select e, correct_email_domain(e) as corrected from (values ('kim@gmial.com'), \
            ('kim@ornage.fr'), ('kim@gmail.fr')) as t(e)",
        example_output: "\
+---------------+---------------+
| e             | corrected     |
+---------------+---------------+
| kim@gmial.com | kim@gmail.com |
| kim@ornage.fr | kim@orange.fr |
| kim@gmail.fr  |               |
+---------------+---------------+",
    },
    FunctionDoc {
        name: "normalize_phone",
        kind: FunctionKind::Scalar,
        signature: "normalize_phone(phone [, country])",
        arguments: &[
            arg(
                "phone",
                "Utf8",
                "a phone number as typed, national or international",
            ),
            arg(
                "country",
                "Utf8",
                "ISO 3166-1 alpha-2 country used to read national numbers (FR, BE, CH, DE, ES, IT, \
                 GB or UK, US/CA; case-insensitive); optional: without it, or with another country, \
                 only international forms are read",
            ),
        ],
        returns: "Utf8: the number in E.164 (`+33612345678`), or NULL when it cannot be read",
        definition: "Ignores separators (spaces, `.`, `-`, `/`, parentheses); a `+` only as the \
            first character; any other character makes the number invalid. International input is \
            `+CC…`, `00CC…`, or `011CC…` with US/CA; a stray trunk `0` after the country code is \
            dropped (not for Italy). National input is read with `country`: its trunk `0` (or `1` \
            for US/CA) is removed, a missing trunk zero is tolerated, and digits already starting \
            with the country code are accepted. Lengths checked: FR/CH 9 digits, BE 8 (9 for 4xx \
            mobiles), DE 6–11, ES 9 starting 6–9, IT 6–11 starting 0 or 9–10 starting 3, GB 9–10, \
            US/CA 10 (`NXX NXX XXXX`); other country codes need 8 to 15 digits. It checks the shape \
            of a number, not whether its range is allocated. `sha256_hex(normalize_phone(p, c))` is \
            the `phone_sha256` of the contract.",
        example: "select normalize_phone(p, 'FR') as e164 from (values ('06 12 34 56 78'), \
            ('0033612345678'), ('12')) as t(p)",
        example_output: "\
+--------------+
| e164         |
+--------------+
| +33612345678 |
| +33612345678 |
|              |
+--------------+",
    },
    FunctionDoc {
        name: "meta_phone",
        kind: FunctionKind::Scalar,
        signature: "meta_phone(e164)",
        arguments: &[arg(
            "e164",
            "Utf8",
            "a number in E.164, as `normalize_phone` returns it",
        )],
        returns: "Utf8: the digits with the country code and no `+` (Meta's format)",
        definition: "Removes the leading `+` of an E.164 number; NULL when the input is not E.164.",
        example: "select meta_phone(normalize_phone('06 12 34 56 78', 'FR')) as meta",
        example_output: "\
+-------------+
| meta        |
+-------------+
| 33612345678 |
+-------------+",
    },
    FunctionDoc {
        name: "sha256_hex",
        kind: FunctionKind::Scalar,
        signature: "sha256_hex(text)",
        arguments: &[arg("text", "Utf8", "any text; NULL gives NULL")],
        returns: "Utf8: the lowercase hexadecimal SHA-256 of the text's UTF-8 bytes (64 characters)",
        definition: "SHA-256 (FIPS 180-4) of the UTF-8 bytes, as 64 lowercase hex digits. Hash the \
            normalised value, never the raw one, so equal identifiers give equal hashes.",
        example: "select sha256_hex('abc') as h",
        example_output: "\
+------------------------------------------------------------------+
| h                                                                |
+------------------------------------------------------------------+
| ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad |
+------------------------------------------------------------------+",
    },
    FunctionDoc {
        name: "normalize_name",
        kind: FunctionKind::Scalar,
        signature: "normalize_name(name)",
        arguments: &[arg("name", "Utf8", "a person's name as typed")],
        returns: "Utf8: the name lower-cased, without accents, words separated by one space; NULL \
            when nothing is left",
        definition: "Lower-cases (Unicode); folds accents and ligatures of Latin letters to ASCII \
            (é→e, ç→c, ß→ss, ø→o, æ→ae, œ→oe, ł→l, þ→th, …) and drops combining marks; every \
            character that is not a letter or digit becomes a space; whitespace runs collapse to \
            one space; trims. Letters of other scripts (Greek, Cyrillic, CJK, …) are kept, \
            lower-cased.",
        example: "select normalize_name('  Hélène-MARIE  d''Ornano ') as n",
        example_output: "\
+-----------------------+
| n                     |
+-----------------------+
| helene marie d ornano |
+-----------------------+",
    },
    FunctionDoc {
        name: "jaro_winkler",
        kind: FunctionKind::Scalar,
        signature: "jaro_winkler(a, b)",
        arguments: &[
            arg("a", "Utf8", "first string (compare normalised names)"),
            arg("b", "Utf8", "second string"),
        ],
        returns: "Float64 in [0, 1]: 1 for identical strings; NULL when either is NULL",
        definition: "Jaro similarity (matches within half the longer length, transpositions \
            halved), boosted by Winkler's prefix bonus (scale 0.1, up to 4 common leading \
            characters) when the Jaro similarity is at least 0.7. Case-sensitive, on Unicode \
            scalar values.",
        example: "select round(jaro_winkler('martha', 'marhta'), 4) as jw",
        example_output: "\
+--------+
| jw     |
+--------+
| 0.9611 |
+--------+",
    },
    FunctionDoc {
        name: "phonetic_key",
        kind: FunctionKind::Scalar,
        signature: "phonetic_key(name)",
        arguments: &[arg("name", "Utf8", "a name, any case or accents")],
        returns: "Utf8: the American Soundex code of each word of the normalised name, space \
            separated; NULL when no word has a letter",
        definition: "`normalize_name`, then Soundex (NARA rules: first letter, then up to three \
            digits for the following consonant groups, zero-padded) per word.",
        example: "select phonetic_key('Hélène Robert') as k",
        example_output: "\
+-----------+
| k         |
+-----------+
| H450 R163 |
+-----------+",
    },
    FunctionDoc {
        name: "fellegi_sunter_em",
        kind: FunctionKind::Aggregate,
        signature: "fellegi_sunter_em(levels, role [, total_pairs [, max_iterations]])",
        arguments: &[
            arg(
                "levels",
                "List<Int64>",
                "one record pair's level per comparison, the same number on every row: 0 = the \
                 values disagree, higher = closer agreement (up to 100), NULL = a side has no \
                 value; a NULL list skips the row",
            ),
            arg(
                "role",
                "Utf8",
                "`candidate` (a pair to learn from and to score: the blocked pairs), `random` \
                 (records paired at random: fixes u), `match` (a known match, e.g. from a \
                 deterministic rule: seeds m); NULL skips the row, anything else is an error",
            ),
            arg(
                "total_pairs",
                "Float64",
                "how many pairs the candidates were drawn from (n(n−1)/2 to dedupe n records, \
                 n₁·n₂ to link two lists; the largest value of the group is used); pairs \
                 outside the candidates count as non-matches, so λ is the probability that two \
                 records drawn at random match; needs random pairs. Optional: without it λ is \
                 the match share among the candidates",
            ),
            arg(
                "max_iterations",
                "integer literal",
                "EM iterations at most, 1 to 10000 (default 100)",
            ),
        ],
        returns: "Struct<lambda, prior_weight, iterations, max_change, converged, \
            candidate_pairs, random_pairs, match_pairs, total_pairs, expected_matches, \
            parameters: List<Struct<comparison, level, m, u, match_weight, candidate_pairs, \
            random_pairs, match_pairs, expected_matches>>>: λ and its log-odds in bits, how EM \
            ended, the rows seen by role, and for every comparison (1-based position) and level \
            (0 to the highest seen) m = P(level | match), u = P(level | non-match), \
            match_weight = log2(m/u), the pairs seen there by role and the expected matches \
            among its candidates",
        definition: "Fellegi–Sunter by expectation–maximisation, as in Splink. Comparisons are \
            independent given the match status. u is the Laplace-smoothed level frequency of \
            the `random` pairs ((count + 1)/(n + levels)); with `total_pairs`, each random \
            pair then counts by its probability of not being a match (random pairs of n \
            records include about one match in n); without random pairs u is estimated by \
            EM like m. m starts from the smoothed level frequency of the `match` pairs, or \
            without any from a ladder where each level is four times as likely as the one \
            below; λ starts at half the candidates' share of `total_pairs`. Each iteration: \
            every candidate's match probability p from λ, m and u (E-step); then λ = Σp / \
            total_pairs and m(level) = (Σp at that level + 1)/(Σp over non-NULL levels + \
            levels) (M-step). A comparison NULL on every candidate keeps its starting m (no \
            learning signal). It stops when no m or u moves by 1e-6 or more and λ by less \
            than 1e-6 of itself (`converged`), or after `max_iterations`. The state is the \
            count of each distinct (role, levels) row, merged by addition and sorted before \
            iterating: memory grows with distinct level vectors, not pairs, and the result \
            does not depend on row order or partitioning.",
        example: "select p['comparison'] as comparison, p['level'] as level, round(p['m'], 4) as \
            m, round(p['u'], 4) as u, round(e['lambda'], 4) as lambda, e['converged'] as \
            converged from (select e, unnest(e['parameters']) as p from (select \
            fellegi_sunter_em(levels, role) as e from (values (make_array(1, 1), 'candidate'), \
            (make_array(1, 1), 'candidate'), (make_array(1, 1), 'candidate'), (make_array(0, \
            0), 'candidate'), (make_array(0, 0), 'candidate'), (make_array(0, 0), 'candidate'), \
            (make_array(1, 0), 'candidate'), (make_array(0, 0), 'random'), (make_array(0, 0), \
            'random'), (make_array(0, 0), 'random'), (make_array(0, 0), 'random'), \
            (make_array(0, 0), 'random'), (make_array(1, 0), 'random'), (make_array(0, 1), \
            'random')) as t(levels, role))) order by comparison, level",
        example_output: "\
+------------+-------+--------+--------+--------+-----------+
| comparison | level | m      | u      | lambda | converged |
+------------+-------+--------+--------+--------+-----------+
| 1          | 0     | 0.2502 | 0.7778 | 0.5608 | true      |
| 1          | 1     | 0.7498 | 0.2222 | 0.5608 | true      |
| 2          | 0     | 0.3629 | 0.7778 | 0.5608 | true      |
| 2          | 1     | 0.6371 | 0.2222 | 0.5608 | true      |
+------------+-------+--------+--------+--------+-----------+",
    },
    FunctionDoc {
        name: "fellegi_sunter_score",
        kind: FunctionKind::Scalar,
        signature: "fellegi_sunter_score(levels, parameters [, adjustments])",
        arguments: &[
            arg(
                "levels",
                "List<Int64>",
                "the pair's level per comparison, as given to `fellegi_sunter_em`; a NULL \
                 element (a side has no value) adds nothing",
            ),
            arg(
                "parameters",
                "Struct",
                "what `fellegi_sunter_em` returns, or any struct with `lambda` (in (0, 1)) and \
                 `parameters`, a list of structs with `comparison` (1-based), `level` and \
                 `match_weight`",
            ),
            arg(
                "adjustments",
                "List<Float64>",
                "bits added to each comparison's weight where its level is not NULL, e.g. a \
                 term-frequency adjustment `log2(u / frequency of the agreeing value)` so that \
                 a rare surname agreeing counts more than a common one; NULL elements add 0. \
                 Optional",
            ),
        ],
        returns: "Struct<match_weight: Float64, match_probability: Float64, comparison_weights: \
            List<Float64>>: the pair's weight in bits, its probability of being a match, and the \
            bits each comparison added (NULL where the level is NULL); NULL when either argument \
            is NULL",
        definition: "`match_weight = log2(λ/(1−λ)) + Σ (match_weight(comparison, level) + \
            adjustment)` over the non-NULL levels; `match_probability = 2^w / (1 + 2^w)`. A level the parameters \
            do not list is an error naming the comparison and level. A constant parameters \
            struct is read once per batch.",
        example: "select round(s['match_weight'], 4) as match_weight, \
            round(s['match_probability'], 4) as match_probability, s['comparison_weights'] as \
            bits from (select fellegi_sunter_score(make_array(1, 0, null), named_struct('lambda', \
            0.2, 'parameters', make_array(named_struct('comparison', 1, 'level', 1, \
            'match_weight', 4.0), named_struct('comparison', 2, 'level', 0, 'match_weight', \
            -1.0)))) as s)",
        example_output: "\
+--------------+-------------------+---------------+
| match_weight | match_probability | bits          |
+--------------+-------------------+---------------+
| 1.0          | 0.6667            | [4.0, -1.0, ] |
+--------------+-------------------+---------------+",
    },
    FunctionDoc {
        name: "damerau_levenshtein",
        kind: FunctionKind::Scalar,
        signature: "damerau_levenshtein(a, b)",
        arguments: &[
            arg("a", "Utf8", "first string (compare normalised names)"),
            arg("b", "Utf8", "second string"),
        ],
        returns: "Int64 ≥ 0: the number of edits; NULL when either is NULL",
        definition: "The fewest insertions, deletions, substitutions and swaps of two \
            neighbouring characters that turn `a` into `b`, in the optimal-string-alignment \
            form (no substring is edited twice: `ca` → `abc` is 3). Case-sensitive, on Unicode \
            scalar values. For comparison levels such as `damerau_levenshtein(a, b) <= 1`.",
        example: "select damerau_levenshtein('bernard', 'bernadr') as swap, \
            damerau_levenshtein('kitten', 'sitting') as three",
        example_output: "\
+------+-------+
| swap | three |
+------+-------+
| 1    | 3     |
+------+-------+",
    },
    FunctionDoc {
        name: "date_comparison_level",
        kind: FunctionKind::Scalar,
        signature: "date_comparison_level(a, b)",
        arguments: &[
            arg(
                "a",
                "Date32",
                "a date (a string or timestamp is cast to a date)",
            ),
            arg("b", "Date32", "another date"),
        ],
        returns: "Int64 in 0..=4: 4 the same date, 3 day and month swapped, 2 at most 31 days \
            apart, 1 the same year, 0 otherwise; NULL when either is NULL",
        definition: "Levels for a birth-date comparison, tried in that order: equal; the same \
            year with the day of one being the month of the other and the reverse \
            (1985-03-07 / 1985-07-03); |a − b| ≤ 31 days; the same calendar year.",
        example: "select date_comparison_level(a, b) as level from (values (date '1985-03-07', \
            date '1985-07-03'), (date '1985-03-07', date '1985-03-09'), (date '1985-03-07', \
            null)) as t(a, b)",
        example_output: "\
+-------+
| level |
+-------+
| 3     |
| 2     |
|       |
+-------+",
    },
    FunctionDoc {
        name: "connected_components",
        kind: FunctionKind::Aggregate,
        signature: "connected_components(a, b)",
        arguments: &[
            arg("a", "Utf8", "one end of an edge (a node id)"),
            arg(
                "b",
                "Utf8",
                "the other end; NULL makes `a` a node with no edge",
            ),
        ],
        returns: "List<Struct<node: Utf8, component: Utf8>>: every node of the group's edges with \
            the label of its component",
        definition: "Union–find over the edges of the group; a component is labelled by its \
            smallest node id (byte order), so the labels do not depend on the order of the rows \
            or on partitioning. Memory is proportional to the number of distinct nodes.",
        example: "select c['node'] as node, c['component'] as component from (select \
            unnest(connected_components(a, b)) as c from (values ('x', 'y'), ('y', 'z'), ('u', 'v')) \
            as e(a, b)) order by node",
        example_output: "\
+------+-----------+
| node | component |
+------+-----------+
| u    | u         |
| v    | u         |
| x    | x         |
| y    | x         |
| z    | x         |
+------+-----------+",
    },
    FunctionDoc {
        name: "markov_removal_effects",
        kind: FunctionKind::Aggregate,
        signature: "markov_removal_effects(path, converted [, order [, weight [, value]]])",
        arguments: &[
            arg(
                "path",
                "List<Utf8>",
                "the channels of one journey, in time order (NULL elements skipped, an empty or \
                 NULL list ignored)",
            ),
            arg(
                "converted",
                "Boolean",
                "whether the row's journeys converted; NULL counts as false. A number is refused \
                 when the model is planned (`validate` exits 2 at the call's line): a count of \
                 conversions goes in `weight`",
            ),
            arg(
                "order",
                "integer literal",
                "order of the chain, 1 to 4 (default 1); must be given to pass a weight",
            ),
            arg(
                "weight",
                "number",
                "how many identical journeys the row stands for: a whole number >= 0 (default 1, \
                 NULL counts as 0), so a path table needs no explosion",
            ),
            arg(
                "value",
                "number",
                "total conversion value of the row's journeys when they converted (>= 0, NULL \
                 counts as 0, ignored when not converted); adds `value_removal_effect` to the \
                 output",
            ),
        ],
        returns: "List<Struct<channel: Utf8, removal_effect: Float64>>, plus \
            `value_removal_effect: Float64` when `value` is given: one entry per channel seen, \
            sorted by channel",
        definition: "The absorbing Markov chain of Anderl et al. (2016), as in ChannelAttribution's \
            `markov_model`: journeys walk start → states → conversion or null, transition \
            probabilities are observed counts (rows weighted by `weight`) normalised per state (a \
            state at order k is the window of the last k channels; repeats are kept), and a \
            channel's removal effect is the relative drop of the probability of reaching \
            conversion once every transition into a state holding that channel goes to null. \
            `value_removal_effect` is the relative drop of the expected conversion value, \
            reaching conversion from a state earning the mean value of the conversions that ended \
            there. Solved exactly (Gaussian elimination per strongly connected component; \
            Gauss–Seidel to 1e-13 beyond 256 states). Removal effects do not sum to 1. \
            ChannelAttribution's credit is `removal_effect / Σ removal_effect × Σ conversions` over \
            all channels (`value_removal_effect / Σ … × Σ value` for value); `fct_attribution` \
            instead splits each journey's conversion over its own channels' effects. A path table \
            in ChannelAttribution's format (`path`, `total_conversions`, \
            `total_conversion_value`, `total_null`) is two rows per path, as in the example.",
        example: "select e['channel'] as channel, round(e['removal_effect'], 4) as removal_effect, \
            round(e['value_removal_effect'], 4) as value_removal_effect from (select \
            unnest(markov_removal_effects(string_to_array(path, ' > '), converted, 1, journeys, \
            value)) as e from (select path, true as converted, total_conversions as journeys, \
            total_conversion_value as value from (values ('search > email', 2, 150.0, 1), \
            ('search', 1, 20.0, 3), ('display', 1, 30.0, 2)) as p(path, total_conversions, \
            total_conversion_value, total_null) union all select path, false, total_null, 0 from \
            (values ('search > email', 2, 150.0, 1), ('search', 1, 20.0, 3), ('display', 1, 30.0, \
            2)) as p(path, total_conversions, total_conversion_value, total_null))) order by \
            channel",
        example_output: "\
+---------+----------------+----------------------+
| channel | removal_effect | value_removal_effect |
+---------+----------------+----------------------+
| display | 0.25           | 0.15                 |
| email   | 0.5            | 0.75                 |
| search  | 0.75           | 0.85                 |
+---------+----------------+----------------------+",
    },
    FunctionDoc {
        name: "shapley_channel_weights",
        kind: FunctionKind::Aggregate,
        signature: "shapley_channel_weights(channels, converted [, max_channels [, variant [, weight [, value]]]])",
        arguments: &[
            arg(
                "channels",
                "List<Utf8>",
                "the channels of one journey (order and repeats ignored)",
            ),
            arg(
                "converted",
                "Boolean",
                "whether the row's journeys converted; NULL counts as false; a number is refused \
                 at planning (a count goes in `weight`)",
            ),
            arg(
                "max_channels",
                "integer literal",
                "sets with more distinct channels are estimated by sampling, 0 to 20 (default 12)",
            ),
            arg(
                "variant",
                "string literal",
                "the game: `'rate'` (default) or `'simplified'` (Zhao et al. 2018)",
            ),
            arg(
                "weight",
                "number",
                "how many identical journeys the row stands for: a whole number >= 0 (default 1, \
                 NULL counts as 0)",
            ),
            arg(
                "value",
                "number",
                "total conversion value of the row's journeys when they converted (>= 0); the \
                 rate game then values a coalition by its value per journey",
            ),
        ],
        returns: "List<Struct<channel_set: Utf8, channel: Utf8, weight: Float64>>: for each set of \
            channels seen on a converting journey (`channel_set`, the sorted channels joined by \
            `,`), the share of a conversion's credit each of its channels earns (weights sum to 1 \
            per set)",
        definition: "Shapley values of one of two games. `'rate'` (default): the value of a \
            coalition is the conversion rate (with `value`, the value per journey) of the journeys \
            whose channel set is exactly that coalition (an unseen coalition takes the best value \
            of the coalitions one channel smaller, recursively; the empty one 0), computed within \
            each converting set; the set's conversion is \
            split in proportion to its channels' positive Shapley values (equally when none is \
            positive). Exact up to `max_channels`, Monte-Carlo over 2000 seeded permutations \
            beyond (deterministic). `'simplified'`: the game of Zhao, Mahboobi and Bagheri (2018, \
            \"Shapley Value Methods for Attribution Modeling in Online Advertising\", \
            arXiv:1804.05327), `v(S) = Σ_{T ⊆ S} R(T)` with `R(T)` the conversions of journeys \
            whose set is exactly `T`; its Shapley value has the closed form \
            `φ_i = Σ_{T ∋ i} R(T) / |T|`, so each channel of a set gets weight `1/|S|` and \
            `Σ_S R(S)·weight(S, i) = φ_i`; non-converting journeys play no part. The rate game \
            credits lift (channels whose coalitions convert better), the simplified one presence \
            on converting journeys, as other tools report it.",
        example: "select r['channel_set'] as channel_set, r['channel'] as channel, \
            round(r['weight'], 4) as rate, round(s['weight'], 4) as simplified from (select \
            unnest(shapley_channel_weights(c, converted)) as r, \
            unnest(shapley_channel_weights(c, converted, 12, 'simplified')) as s from (values \
            (make_array('search', 'email'), true), (make_array('search'), false), \
            (make_array('email'), true), (make_array('search', 'email'), false)) as j(c, \
            converted)) order by channel_set, channel",
        example_output: "\
+--------------+---------+------+------------+
| channel_set  | channel | rate | simplified |
+--------------+---------+------+------------+
| email        | email   | 1.0  | 1.0        |
| email,search | email   | 1.0  | 0.5        |
| email,search | search  | 0.0  | 0.5        |
+--------------+---------+------+------------+",
    },
    FunctionDoc {
        name: "logistic_touch_effects",
        kind: FunctionKind::Aggregate,
        signature: "logistic_touch_effects(path, converted [, weight [, stratum]])",
        arguments: &[
            arg(
                "path",
                "List<Utf8>",
                "the channels of one journey's touches (order ignored, each touch counted)",
            ),
            arg(
                "converted",
                "Boolean",
                "whether the row's journeys converted; NULL counts as false; a number is refused \
                 at planning. Non-converting journeys are needed: without any, nothing is fitted",
            ),
            arg(
                "weight",
                "number",
                "how many identical journeys the row stands for: a whole number >= 0 (default 1, \
                 NULL counts as 0)",
            ),
            arg(
                "stratum",
                "Utf8",
                "optional: whose journey it is (a person id). With it, the coefficients are \
                 estimated within each stratum, comparing a person's converting journeys with \
                 the same person's non-converting ones; a row whose stratum is NULL joins no \
                 stratum",
            ),
        ],
        returns: "List<Struct<channel: Utf8, coefficient, std_error, marginal_effect: Float64, \
            touches, n_journeys, strata: Int64, intercept, intercept_std_error: Float64, \
            iterations: Int64, converged: Boolean>>: one entry per channel, sorted by channel; \
            the fit's intercept, journey and stratum counts, iterations and convergence repeat \
            on every entry",
        definition: "The fit of parcours's data-driven attribution model: a logistic regression of \
            conversion on each channel's number of touches in the journey, `P(convert) = σ(β_0 + \
            Σ_c β_c·n_c)`, over converting and non-converting journeys, maximising the \
            log-likelihood minus the ridge penalty `½·Σ_c β_c²` (a unit-variance Gaussian prior \
            on each per-touch log-odds change; the intercept is not penalised) by Newton's method \
            with step halving, from `β = 0`, until no coefficient moves by more than 1e-10 \
            (at most 100 iterations; `converged` says whether it got there). `coefficient` is \
            `β_c`, the change in log-odds of one more touch; `std_error` the square root of the \
            diagonal of the inverse penalised Hessian; `marginal_effect` the average over all \
            journeys of `σ(η_i + β_c) − σ(η_i)`, the change in conversion probability one more \
            touch brings. Deterministic: journeys are counted as bags of channels and fitted in \
            sorted order, so any partitioning gives the same bits. With no conversion or no \
            non-conversion the coefficients are NULL and `iterations` 0. With a `stratum`, the \
            coefficients are those of a conditional logistic regression: in each stratum with \
            both outcomes, the chance that its K converting journeys are the ones that \
            converted, `exp(Σ_cases x·β) / Σ_{any K of its journeys} exp(S·β)`, computed \
            exactly (beyond 64 conversions in one stratum, whose own intercept is then \
            profiled out instead, which the exact likelihood approaches), times the \
            same ridge prior, by Newton's method; whatever a stratum shares (a person's \
            appetite, whether their store purchases are identified) cancels out, so it is not \
            taken for a channel's effect. Strata whose journeys all converted, or none did, say \
            nothing; `strata` and `n_journeys` count those that do. Without a stratum argument, \
            or when no stratum has both outcomes, the fit is the pooled one above (`strata` 0, \
            `n_journeys` every journey). The intercept is then fitted over \
            every journey with the coefficients held, and `marginal_effect` is computed over \
            every journey as above.",
        example: "select f['channel'] as channel, round(f['coefficient'], 3) as coefficient, \
            round(f['std_error'], 3) as std_error, round(f['marginal_effect'], 3) as \
            marginal_effect, f['touches'] as touches, f['iterations'] as iterations from (select \
            unnest(logistic_touch_effects(path, converted, journeys)) as f from (values \
            (make_array('search'), true, 30), (make_array('search'), false, 70), \
            (make_array('email'), true, 10), (make_array('email'), false, 90), \
            (make_array('search', 'email'), true, 20), (make_array('search', 'email'), false, \
            30)) as j(path, converted, journeys)) order by channel",
        example_output: "\
+---------+-------------+-----------+-----------------+---------+------------+
| channel | coefficient | std_error | marginal_effect | touches | iterations |
+---------+-------------+-----------+-----------------+---------+------------+
| email   | 0.279       | 0.336     | 0.051           | 150     | 6          |
| search  | 1.487       | 0.389     | 0.312           | 150     | 6          |
+---------+-------------+-----------+-----------------+---------+------------+",
    },
];

/// The documentation of `name`, if parcours defines such a function.
pub fn find(name: &str) -> Option<&'static FunctionDoc> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

/// Markdown for `docs` (the README section body when given all of [`FUNCTIONS`]): a summary
/// table, then one entry per function.
pub fn markdown(docs: &[&FunctionDoc]) -> String {
    let mut out = String::new();
    out.push_str("| function | kind | returns |\n|---|---|---|\n");
    for f in docs {
        let _ = writeln!(
            out,
            "| [`{}`](#fn-{}) | {} | {} |",
            f.signature,
            f.name,
            kind_word(f.kind),
            one_line(f.returns)
        );
    }
    for f in docs {
        let _ = write!(
            out,
            "\n#### <a id=\"fn-{}\"></a>`{}` ({})\n\n{}\n\n",
            f.name,
            f.signature,
            kind_word(f.kind),
            one_line(f.definition)
        );
        out.push_str("| argument | type | meaning |\n|---|---|---|\n");
        for a in f.arguments {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                a.name,
                a.sql_type,
                one_line(a.description)
            );
        }
        let _ = write!(
            out,
            "\nReturns {}.\n\n```sql\n{}\n```\n\n```\n{}\n```\n",
            one_line(f.returns),
            one_line(f.example),
            f.example_output
        );
    }
    out
}

/// Plain text for a terminal: one paragraph per function.
pub fn text(docs: &[&FunctionDoc]) -> String {
    let mut out = String::new();
    for f in docs {
        let _ = writeln!(out, "{} ({})", f.signature, kind_word(f.kind));
        let _ = writeln!(out, "  {}", one_line(f.definition));
        for a in f.arguments {
            let _ = writeln!(
                out,
                "  {} ({}): {}",
                a.name,
                a.sql_type,
                one_line(a.description)
            );
        }
        let _ = writeln!(out, "  returns {}", one_line(f.returns));
        let _ = writeln!(out, "  example: {}\n", one_line(f.example));
    }
    out
}

fn kind_word(kind: FunctionKind) -> &'static str {
    match kind {
        FunctionKind::Scalar => "scalar",
        FunctionKind::Aggregate => "aggregate",
    }
}

/// Collapses the source's line continuations and indentation into single spaces.
fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The README lines that enclose the generated section.
pub const README_BEGIN: &str = "<!-- functions:begin (generated from src/functions/docs.rs by `parcours functions --format markdown`; edit there) -->";
pub const README_END: &str = "<!-- functions:end -->";

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::prelude::SessionContext;

    use super::*;
    use crate::functions::{aggregate_udfs, scalar_udfs};

    #[test]
    fn every_registered_function_is_documented_once() {
        let mut registered: BTreeSet<(String, FunctionKind)> = scalar_udfs()
            .iter()
            .map(|f| (f.name().to_string(), FunctionKind::Scalar))
            .collect();
        registered.extend(
            aggregate_udfs()
                .iter()
                .map(|f| (f.name().to_string(), FunctionKind::Aggregate)),
        );
        let documented: BTreeSet<(String, FunctionKind)> = FUNCTIONS
            .iter()
            .map(|f| (f.name.to_string(), f.kind))
            .collect();
        assert_eq!(
            FUNCTIONS.len(),
            documented.len(),
            "a function is documented twice"
        );
        let undocumented: Vec<_> = registered.difference(&documented).collect();
        let unknown: Vec<_> = documented.difference(&registered).collect();
        assert!(
            undocumented.is_empty() && unknown.is_empty(),
            "registered but not documented in src/functions/docs.rs: {undocumented:?}; \
             documented but not registered: {unknown:?}"
        );
        for f in FUNCTIONS {
            assert!(
                f.signature.starts_with(&format!("{}(", f.name)),
                "{}: signature must start with the name",
                f.name
            );
            let documented_args = f.signature.matches(',').count() + 1;
            assert_eq!(
                documented_args,
                f.arguments.len(),
                "{}: every argument of the signature is described",
                f.name
            );
        }
    }

    #[test]
    fn readme_section_is_generated_from_the_docs() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");
        let readme = std::fs::read_to_string(path).expect("README.md");
        let (Some(begin), Some(end)) = (readme.find(README_BEGIN), readme.find(README_END)) else {
            panic!("README.md lacks the markers {README_BEGIN} … {README_END}");
        };
        let body = &readme[begin + README_BEGIN.len()..end];
        let all: Vec<&FunctionDoc> = FUNCTIONS.iter().collect();
        let expected = format!("\n{}", markdown(&all));
        if body != expected {
            if std::env::var_os("PARCOURS_UPDATE_README").is_some() {
                let updated = format!(
                    "{}{expected}{}",
                    &readme[..begin + README_BEGIN.len()],
                    &readme[end..]
                );
                std::fs::write(path, updated).expect("write README.md");
                return;
            }
            panic!(
                "README.md's function section is out of date with src/functions/docs.rs; run \
                 `PARCOURS_UPDATE_README=1 cargo test --lib readme_section` and commit README.md"
            );
        }
    }

    /// Each example runs on a session with parcours's functions (one and four partitions) and
    /// prints exactly its documented output: documentation and behaviour cannot drift apart.
    #[tokio::test]
    async fn every_example_prints_its_documented_output() {
        for partitions in [1, 4] {
            let config =
                datafusion::prelude::SessionConfig::new().with_target_partitions(partitions);
            let ctx = SessionContext::new_with_config(config);
            for udf in scalar_udfs() {
                ctx.register_udf(udf);
            }
            for udaf in aggregate_udfs() {
                ctx.register_udaf(udaf);
            }
            let mut changed = Vec::new();
            for f in FUNCTIONS {
                assert!(
                    f.example.contains(&format!("{}(", f.name)),
                    "{}: the example must call the function",
                    f.name
                );
                let batches = ctx
                    .sql(f.example)
                    .await
                    .unwrap_or_else(|e| panic!("{}: example fails to plan: {e}", f.name))
                    .collect()
                    .await
                    .unwrap_or_else(|e| panic!("{}: example fails: {e}", f.name));
                let printed = pretty_format_batches(&batches).expect("format").to_string();
                if printed != f.example_output {
                    changed.push(format!("{} now prints:\n{printed}", f.name));
                }
            }
            assert!(
                changed.is_empty(),
                "examples whose output changed ({partitions} partitions); update \
                 src/functions/docs.rs:\n{}",
                changed.join("\n")
            );
        }
    }
}
