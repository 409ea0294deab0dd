-- Blocking for the probabilistic matcher: every block a newest contact record falls in that
-- holds at least one other record, with the block's size. A block is '<rule>:<key>'; the
-- rules, unioned (a pair sharing any block is a candidate):
--   birth_date,name_low   same birth date and the smaller of the two name sounds
--   birth_date,name_high  same birth date and the larger one (the sounds are sorted, so a
--                         record with first and last name swapped meets its twin)
--   birth_date,postal_code  same birth date and postal code
--   postal_code,names     same postal code and both name sounds (swaps too)
--   email_local           same e-mail local part
-- int_identity_pair_comparisons pairs the records of each block up to max_block_records;
-- rpt_identity_blocking reports what each rule yields.
with r as (
    select record, birth_date, postal_code, phonetic_low, phonetic_high, email_local
    from stg_contact_names
),
block_keys as (
    -- one row per record and block it falls in; the rule is a list of its own, unnested side
    -- by side with the keys, so the published counts per rule never derive from a name
    select record, rule, rule || ':' || key as block
    from (
        select record,
            unnest(make_array('birth_date,name_low', 'birth_date,name_high', 'birth_date,postal_code',
                              'postal_code,names', 'email_local')) as rule,
            unnest(make_array(
                cast(birth_date as varchar) || '|' || phonetic_low,
                cast(birth_date as varchar) || '|' || phonetic_high,
                cast(birth_date as varchar) || '|' || postal_code,
                postal_code || '|' || phonetic_low || '|' || phonetic_high,
                email_local)) as key
        from r
    )
    where key is not null
),
sizes as (
    -- an aggregate and a join, not a window: both are accounted and can spill
    select block, count(*) as records from block_keys group by block having count(*) >= 2
)
select k.record, k.block, k.rule, s.records
from block_keys k
join sizes s on s.block = k.block
