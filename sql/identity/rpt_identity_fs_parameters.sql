-- Fellegi–Sunter, step 2: for each comparison and level, m = P(level | same person), learnt
-- from the training pairs, and u = P(level | different persons), learnt from the random
-- pairs; the match weight log2(m/u) is the evidence the level adds. What a pair was tied by
-- biases what it can teach about that identifier, so m of the e-mail's local part is learnt
-- only from pairs tied by a phone, and m of the phone only from pairs tied by an e-mail
-- (whatever else ties them). m starts from a documented prior (below) that the training
-- pairs soon outweigh.
with long as (
    select kind, by_email, by_phone, c['comparison'] as comparison, c['level'] as level
    from (
        select kind, by_email, by_phone, unnest(make_array(
            named_struct('comparison', 'first_name', 'level', first_name),
            named_struct('comparison', 'last_name', 'level', last_name),
            named_struct('comparison', 'birth_date', 'level', birth_date),
            named_struct('comparison', 'postal_code', 'level', postal_code),
            named_struct('comparison', 'street', 'level', street),
            named_struct('comparison', 'email_local', 'level', email_local),
            named_struct('comparison', 'phone', 'level', phone)
        )) as c
        from int_identity_pair_comparisons
        where kind in ('training', 'random')
    )
    where c['level'] is not null
      and not (kind = 'training' and c['comparison'] = 'email_local' and not by_phone)
      and not (kind = 'training' and c['comparison'] = 'phone' and not by_email)
),
levels as (
    -- every level with the prior m a careful analyst would assume before seeing data; it
    -- weighs as 10 training pairs, so it steers small projects and vanishes in large ones
    select comparison, level, prior_m
    from (values
        ('first_name', 3, 0.85), ('first_name', 2, 0.07), ('first_name', 1, 0.05), ('first_name', 0, 0.03),
        ('last_name', 3, 0.90), ('last_name', 2, 0.05), ('last_name', 1, 0.03), ('last_name', 0, 0.02),
        ('birth_date', 1, 0.97), ('birth_date', 0, 0.03),
        ('postal_code', 1, 0.90), ('postal_code', 0, 0.10),
        ('street', 2, 0.70), ('street', 1, 0.20), ('street', 0, 0.10),
        ('email_local', 1, 0.90), ('email_local', 0, 0.10),
        ('phone', 1, 0.70), ('phone', 0, 0.30)
    ) as l(comparison, level, prior_m)
),
counts as (
    select l.comparison, l.level, l.prior_m,
           count(case when x.kind = 'training' then 1 end) as matches,
           count(case when x.kind = 'random' then 1 end) as non_matches
    from levels l
    left join long x on x.comparison = l.comparison and x.level = l.level
    group by l.comparison, l.level, l.prior_m
),
probabilities as (
    select comparison, level, matches, non_matches,
           (matches + 10.0 * prior_m) / (sum(matches) over (partition by comparison) + 10.0) as m,
           -- one pseudo-observation per level (Laplace): an agreement never seen between
           -- strangers still has a finite weight
           (non_matches + 1.0) / (sum(non_matches) over (partition by comparison) + count(*) over (partition by comparison)) as u
    from counts
)
select comparison, level, matches as training_pairs, non_matches as random_pairs, m, u,
       log2(m / u) as match_weight
from probabilities
