-- One-to-one linking: each candidate pair is scored (prior log-odds plus its levels' weights,
-- an exact name agreement adjusted by the name's frequency: log2(u / frequency) bits), pairs
-- below match_probability_threshold are dropped, and a pair is kept only when each record is
-- the other's best counterpart (highest weight, ties to the smaller id), so every record of
-- either list links at most once.
with scored as (
    select c.left_id, c.right_id,
           fellegi_sunter_score(c.levels, p.fit, make_array(
               log2(u.u / c.name_frequency), null, null, null)) as s
    from customer_pairs c
    cross join match_parameters p
    cross join (
        -- u of an exact name agreement: how often two strangers share a name, on average
        select max(case when l['comparison'] = 1 and l['level'] = 3 then l['u'] end) as u
        from (select unnest(fit['parameters']) as l from match_parameters)
    ) u
    where c.role = 'candidate'
),
kept as (
    select left_id, right_id, s['match_weight'] as match_weight, s['match_probability'] as match_probability
    from scored
    where s['match_probability'] >= {{ var("match_probability_threshold") }}
),
ranked as (
    select *,
        row_number() over (partition by left_id order by match_weight desc, right_id) as left_rank,
        row_number() over (partition by right_id order by match_weight desc, left_id) as right_rank
    from kept
)
select left_id, right_id, match_weight, match_probability
from ranked
where left_rank = 1 and right_rank = 1
