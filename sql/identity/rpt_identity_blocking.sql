-- What each blocking rule of int_identity_blocking_keys yields, and an estimate of the true
-- pairs blocking loses. Per rule: the blocks it makes (two records or more), those skipped
-- for holding more than max_block_records, and the candidate pairs it makes (before pairs
-- found by several rules are counted once; the row 'all rules' counts each pair once). Recall
-- is estimated on the known matches, the pairs of contact records already tied by an e-mail
-- or phone (training pairs of int_identity_pair_comparisons): the share of them a rule, or
-- any rule, puts in one block. Matches without a shared e-mail or phone may be harder to
-- block, so read it as an upper bound.
with keys as (
    select record, block, rule, records, records <= {{ var("max_block_records") }} as usable
    from int_identity_blocking_keys
),
per_block as (
    select rule, block, max(records) as records, bool_and(usable) as usable
    from keys group by rule, block
),
rule_names as (
    -- the rules of int_identity_blocking_keys, so that a rule pairing nobody shows with 0
    select * from (values ('birth_date,name_low'), ('birth_date,name_high'),
        ('birth_date,postal_code'), ('postal_code,names'), ('email_local')) as r(rule)
),
per_rule as (
    select n.rule,
           count(case when b.usable then 1 end) as blocks,
           count(case when not b.usable then 1 end) as skipped_blocks,
           coalesce(sum(case when b.usable then b.records * (b.records - 1) / 2 end), 0) as candidate_pairs
    from rule_names n
    left join per_block b on b.rule = n.rule
    group by n.rule
),
known as (
    select left_record, right_record
    from int_identity_pair_comparisons where kind = 'training'
),
caught as (
    -- each known match with every rule that blocks it
    select distinct k.left_record, k.right_record, a.rule
    from known k
    join keys a on a.record = k.left_record and a.usable
    join keys b on b.record = k.right_record and b.block = a.block
),
known_total as (
    select count(*) as n from known
),
rules as (
    select r.rule, r.blocks, r.skipped_blocks, r.candidate_pairs,
           count(c.left_record) as known_matches_blocked
    from per_rule r
    left join caught c on c.rule = r.rule
    group by r.rule, r.blocks, r.skipped_blocks, r.candidate_pairs
),
all_rules as (
    select 'all rules' as rule,
           (select sum(blocks) from per_rule) as blocks,
           (select sum(skipped_blocks) from per_rule) as skipped_blocks,
           (select count(*) from int_identity_pair_comparisons where kind = 'candidate') as candidate_pairs,
           (select count(*) from (select distinct left_record, right_record from caught)) as known_matches_blocked
)
select x.rule, x.blocks, x.skipped_blocks, x.candidate_pairs, x.known_matches_blocked,
       t.n as known_matches,
       case when t.n > 0 then x.known_matches_blocked / cast(t.n as double) end as blocking_recall_estimate
from (select * from rules union all select * from all_rules) x
cross join known_total t
