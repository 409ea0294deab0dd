-- Link-only pairs: one record of list a and one of list b, never two of one list.
--   candidate  pairs sharing a block, three blocking rules unioned: same birth date; same
--              postal code and name sound; same name (words sorted: swapped names meet)
--   random     each record of a against 40 records of b in a hash order: strangers, from
--              which u is learnt (enough of them that a birth date agreeing by chance, about
--              1 in 20,000, is not smoothed away)
-- Levels (null when a side is missing):
--   name        3 same words, 2 one edit apart (Damerau-Levenshtein), 1 Jaro-Winkler >= 0.88, 0
--   birth_date  date_comparison_level: 4 same, 3 day and month swapped, 2 within a month,
--               1 same year, 0
--   postal_code 1 same, 0
--   address     2 same, 1 Jaro-Winkler >= 0.9 (a typo, an abbreviation), 0
with a as (select * from stg_customers where list = 'a'),
b as (select * from stg_customers where list = 'b'),
blocked as (
    select a.customer_id as left_id, b.customer_id as right_id from a join b on a.birth_date = b.birth_date
    union
    select a.customer_id, b.customer_id from a join b on a.postal_code = b.postal_code and a.name_sound = b.name_sound
    union
    select a.customer_id, b.customer_id from a join b on a.sorted_name = b.sorted_name
),
ka as (select customer_id, row_number() over (order by sha256_hex(customer_id)) as rn from a),
kb as (select customer_id, row_number() over (order by sha256_hex(customer_id)) as rn, count(*) over () as n from b),
random_pairs as (
    select ka.customer_id as left_id, kb.customer_id as right_id
    from ka cross join unnest(range(0, 40)) as o(k)
    join kb on kb.rn = (ka.rn + o.k) % kb.n + 1
),
pairs as (
    select left_id, right_id, 'candidate' as role from blocked
    union all
    select left_id, right_id, 'random' from random_pairs
),
compared as (
    select p.left_id, p.right_id, p.role,
        case when x.sorted_name is null or y.sorted_name is null then null
             when x.sorted_name = y.sorted_name then 3
             when damerau_levenshtein(x.sorted_name, y.sorted_name) <= 1 then 2
             when jaro_winkler(x.sorted_name, y.sorted_name) >= 0.88 then 1 else 0 end as name,
        date_comparison_level(x.birth_date, y.birth_date) as birth_date,
        case when x.postal_code is null or y.postal_code is null then null
             when x.postal_code = y.postal_code then 1 else 0 end as postal_code,
        case when x.address is null or y.address is null then null
             when x.address = y.address then 2
             when jaro_winkler(x.address, y.address) >= 0.9 then 1 else 0 end as address,
        x.name_frequency
    from pairs p
    join a x on x.customer_id = p.left_id
    join b y on y.customer_id = p.right_id
)
select left_id, right_id, role,
    make_array(name, birth_date, postal_code, address) as levels,
    -- how common the name is, when both records carry it exactly
    case when name = 3 then name_frequency end as name_frequency
from compared
