-- Fellegi–Sunter, step 3: each candidate pair's match weight (the prior log-odds plus the
-- weights of its levels; a missing value adds nothing) and match probability, by
-- fellegi_sunter_score with the parameters EM learnt tonight (rpt_identity_fs_parameters).
-- Pairs whose probability reaches `match_probability_threshold` are the same person: a
-- probability, not a number of bits, so the rule keeps its meaning on data with more or
-- less evidence per pair. Each link keeps its evidence, comparison by comparison, so it can
-- be explained.
with parameters as (
    select named_struct(
        'lambda', max(lambda),
        'parameters', array_agg(named_struct('comparison', position, 'level', level, 'match_weight', match_weight))
    ) as p,
        -- u of an exact agreement: the average chance two strangers share a name
        max(case when comparison = 'first_name' and level = 3 then u end) as first_name_u,
        max(case when comparison = 'last_name' and level = 3 then u end) as last_name_u
    from rpt_identity_fs_parameters
),
scored as (
    -- term-frequency adjustment (as Splink's): an exact name agreement weighs log2(m/f)
    -- instead of log2(m/u), f being the agreeing name's frequency, so its bits move by
    -- log2(u/f): up for a rare name, down for a common one
    select c.left_record, c.right_record,
           fellegi_sunter_score(c.levels, w.p, make_array(
               log2(w.first_name_u / c.first_name_frequency),
               log2(w.last_name_u / c.last_name_frequency),
               null, null, null, null, null)) as s
    from int_identity_pair_comparisons c
    cross join parameters w
    where c.kind = 'candidate'
)
select
    left_record,
    right_record,
    s['match_weight'] as match_weight,
    s['match_probability'] as match_probability,
    -- the bits each comparison added (null: a side had no value)
    s['comparison_weights'][1] as first_name_weight,
    s['comparison_weights'][2] as last_name_weight,
    s['comparison_weights'][3] as birth_date_weight,
    s['comparison_weights'][4] as postal_code_weight,
    s['comparison_weights'][5] as street_weight,
    s['comparison_weights'][6] as email_local_weight,
    s['comparison_weights'][7] as phone_weight
from scored
where s['match_probability'] >= {{ var("match_probability_threshold") }}
