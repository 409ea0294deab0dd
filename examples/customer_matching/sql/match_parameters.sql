-- Fellegi-Sunter parameters learnt without labels: u from the random pairs, m and the prior
-- by EM on the candidates, every other pair of the two lists (|a| x |b|) counting as a
-- non-match (link-only: pairs within one list are not in the population).
with population as (
    select count(case when list = 'a' then 1 end) * count(case when list = 'b' then 1 end) as total_pairs
    from stg_customers
)
select fellegi_sunter_em(c.levels, c.role, n.total_pairs) as fit
from customer_pairs c cross join population n
