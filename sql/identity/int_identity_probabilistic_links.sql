-- Fellegi–Sunter, step 3: each candidate pair's match weight is the sum of its levels'
-- weights (a missing value adds nothing); pairs at or above `match_weight_threshold` are the
-- same person. Each link keeps its evidence, comparison by comparison, so it can be explained.
with w as (
    -- the 19 level weights as one row, so scoring a pair is arithmetic, not a join
    select
        max(case when comparison = 'first_name' and level = 0 then match_weight end) as first_name_0,
        max(case when comparison = 'first_name' and level = 1 then match_weight end) as first_name_1,
        max(case when comparison = 'first_name' and level = 2 then match_weight end) as first_name_2,
        max(case when comparison = 'first_name' and level = 3 then match_weight end) as first_name_3,
        max(case when comparison = 'last_name' and level = 0 then match_weight end) as last_name_0,
        max(case when comparison = 'last_name' and level = 1 then match_weight end) as last_name_1,
        max(case when comparison = 'last_name' and level = 2 then match_weight end) as last_name_2,
        max(case when comparison = 'last_name' and level = 3 then match_weight end) as last_name_3,
        max(case when comparison = 'birth_date' and level = 0 then match_weight end) as birth_date_0,
        max(case when comparison = 'birth_date' and level = 1 then match_weight end) as birth_date_1,
        max(case when comparison = 'postal_code' and level = 0 then match_weight end) as postal_code_0,
        max(case when comparison = 'postal_code' and level = 1 then match_weight end) as postal_code_1,
        max(case when comparison = 'street' and level = 0 then match_weight end) as street_0,
        max(case when comparison = 'street' and level = 1 then match_weight end) as street_1,
        max(case when comparison = 'street' and level = 2 then match_weight end) as street_2,
        max(case when comparison = 'email_local' and level = 0 then match_weight end) as email_local_0,
        max(case when comparison = 'email_local' and level = 1 then match_weight end) as email_local_1,
        max(case when comparison = 'phone' and level = 0 then match_weight end) as phone_0,
        max(case when comparison = 'phone' and level = 1 then match_weight end) as phone_1
    from rpt_identity_fs_parameters
),
evidence as (
    select
        c.left_record, c.right_record,
        case c.first_name when 0 then w.first_name_0 when 1 then w.first_name_1
             when 2 then w.first_name_2 when 3 then w.first_name_3 end as first_name,
        case c.last_name when 0 then w.last_name_0 when 1 then w.last_name_1
             when 2 then w.last_name_2 when 3 then w.last_name_3 end as last_name,
        case c.birth_date when 0 then w.birth_date_0 when 1 then w.birth_date_1 end as birth_date,
        case c.postal_code when 0 then w.postal_code_0 when 1 then w.postal_code_1 end as postal_code,
        case c.street when 0 then w.street_0 when 1 then w.street_1 when 2 then w.street_2 end as street,
        case c.email_local when 0 then w.email_local_0 when 1 then w.email_local_1 end as email_local,
        case c.phone when 0 then w.phone_0 when 1 then w.phone_1 end as phone
    from int_identity_pair_comparisons c
    cross join w
    where c.kind = 'candidate'
),
scored as (
    select *,
        coalesce(first_name, 0) + coalesce(last_name, 0) + coalesce(birth_date, 0)
            + coalesce(postal_code, 0) + coalesce(street, 0) + coalesce(email_local, 0) + coalesce(phone, 0) as match_weight
    from evidence
)
select
    left_record,
    right_record,
    match_weight,
    -- posterior with even prior odds among blocked candidates
    1.0 / (1.0 + power(2.0, -match_weight)) as match_probability,
    -- the bits each comparison added (null: a side had no value)
    first_name as first_name_weight,
    last_name as last_name_weight,
    birth_date as birth_date_weight,
    postal_code as postal_code_weight,
    street as street_weight,
    email_local as email_local_weight,
    phone as phone_weight
from scored
where match_weight >= {{ var("match_weight_threshold") }}
