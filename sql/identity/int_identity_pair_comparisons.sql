-- Fellegi–Sunter, step 1: record pairs with one agreement level per comparison. Three kinds
-- of pair go through the same comparisons so that their levels mean the same thing:
--   candidate  pairs sharing a block of int_identity_blocking_keys (same birth date and
--              name sound; same postal code and both name sounds; same birth date and
--              postal code; same e-mail local part) — the pairs the matcher may link;
--   training   pairs already tied by an e-mail or phone the over-merge guard let through —
--              known matches, from which m (how often matches agree) is learnt;
--   random     each record against its next three neighbours in a hash order — nearly all
--              non-matches, from which u (how often strangers agree by chance) is learnt.
-- Levels: names 3 exact, 2 Jaro-Winkler >= 0.92 (a typo), 1 >= 0.80 (a nickname, a worse
-- typo), 0 different; street 2 same number and street, 1 same street (a number missing),
-- 0 different; other comparisons 1 same, 0 different; null when either side is missing.
-- Correlated evidence: an e-mail local part that agrees but is only the names (jean.dupont)
-- says again what the names say, so it is null (no evidence), not a second agreement.
-- `levels` lists the seven levels in that order for fellegi_sunter_em / fellegi_sunter_score;
-- an exact name agreement carries the agreeing name's frequency among the records.
with r as (
    select record, first_name, last_name, birth_date, postal_code, email_local, phone_sha256,
           street_name, house_number, phonetic_low, phonetic_high, email_local_is_names,
           first_name_frequency, last_name_frequency
    from stg_contact_names
),
keyed as (
    select record, row_number() over (order by sha256_hex(record)) as rn from r
),
random_pairs as (
    select a.record as left_record, b.record as right_record, 'random' as kind,
           false as by_email, false as by_phone
    from keyed a
    cross join (values (1), (2), (3)) as o(k)
    join keyed b on b.rn = a.rn + o.k
),
carriers as (
    select e.record, e.node
    from int_identity_edges e
    left join int_shared_identifiers s on s.node = e.node
    where e.record like 'contact_id:%' and s.node is null
      and (e.node like 'email_sha256:%' or e.node like 'phone_sha256:%')
),
training_pairs as (
    select a.record as left_record, b.record as right_record, 'training' as kind,
           bool_or(a.node like 'email_sha256:%') as by_email,
           bool_or(a.node like 'phone_sha256:%') as by_phone
    from carriers a
    join carriers b on a.node = b.node and a.record < b.record
    group by a.record, b.record
),
blocked_keys as (
    -- a block holding more records than `max_block_records` (a common name in a big town,
    -- an info@ local part) is skipped
    select record, block from int_identity_blocking_keys
    where records <= {{ var("max_block_records") }}
),
blocked as (
    select distinct a.record as left_record, b.record as right_record
    from blocked_keys a
    join blocked_keys b on a.block = b.block and a.record < b.record
),
pairs as (
    select left_record, right_record, 'candidate' as kind, false as by_email, false as by_phone
    from blocked
    union all select * from training_pairs
    union all select * from random_pairs
),
similarity as (
    select
        p.*,
        jaro_winkler(a.first_name, b.first_name) as ff,
        jaro_winkler(a.last_name, b.last_name) as ll,
        jaro_winkler(a.first_name, b.last_name) as fl,
        jaro_winkler(a.last_name, b.first_name) as lf,
        a.first_name_frequency as a_first_tf, a.last_name_frequency as a_last_tf,
        b.first_name_frequency as b_first_tf, b.last_name_frequency as b_last_tf,
        case when a.birth_date is null or b.birth_date is null then null
             when a.birth_date = b.birth_date then 1 else 0 end as birth_date,
        case when a.postal_code is null or b.postal_code is null then null
             when a.postal_code = b.postal_code then 1 else 0 end as postal_code,
        case when a.email_local is null or b.email_local is null then null
             when a.email_local = b.email_local and (a.email_local_is_names or b.email_local_is_names) then null
             when a.email_local = b.email_local then 1 else 0 end as email_local,
        case when a.phone_sha256 is null or b.phone_sha256 is null then null
             when a.phone_sha256 = b.phone_sha256 then 1 else 0 end as phone,
        -- a different house number is a different home; a missing one is not evidence
        case when a.street_name is null or b.street_name is null or a.street_name = '' or b.street_name = '' then null
             when a.house_number <> b.house_number then 0
             when jaro_winkler(a.street_name, b.street_name) < 0.9 then 0
             when a.house_number = b.house_number then 2 else 1 end as street
    from pairs p
    join r a on a.record = p.left_record
    join r b on b.record = p.right_record
),
aligned as (
    -- first and last name swapped in one record: compare across when that fits better
    select *,
        coalesce(fl, 0) + coalesce(lf, 0) > coalesce(ff, 0) + coalesce(ll, 0) as swapped
    from similarity
),
named as (
select
    left_record, right_record, kind, by_email, by_phone,
    case when swapped then (case when fl is null then null when fl = 1 then 3 when fl >= 0.92 then 2 when fl >= 0.8 then 1 else 0 end)
         else (case when ff is null then null when ff = 1 then 3 when ff >= 0.92 then 2 when ff >= 0.8 then 1 else 0 end)
    end as first_name,
    case when swapped then (case when lf is null then null when lf = 1 then 3 when lf >= 0.92 then 2 when lf >= 0.8 then 1 else 0 end)
         else (case when ll is null then null when ll = 1 then 3 when ll >= 0.92 then 2 when ll >= 0.8 then 1 else 0 end)
    end as last_name,
    birth_date, postal_code, street, email_local, phone,
    -- how common the agreeing name is, each side's read from the field its name is in (a
    -- swapped pair's first-name agreement is one side's first name against the other's last
    -- name, and a surname is rare among first names): the more common one, the weaker claim
    greatest(a_first_tf, case when swapped then b_last_tf else b_first_tf end) as first_tf,
    greatest(a_last_tf, case when swapped then b_first_tf else b_last_tf end) as last_tf
from aligned
)
select * except (first_tf, last_tf),
    make_array(first_name, last_name, birth_date, postal_code, street, email_local, phone) as levels,
    -- how common the agreeing name is, when the names agree exactly
    case when first_name = 3 then first_tf end as first_name_frequency,
    case when last_name = 3 then last_tf end as last_name_frequency
from named
