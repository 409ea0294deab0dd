-- Fellegi–Sunter, step 2: for each comparison and level, m = P(level | same person), learnt
-- from the training pairs, and u = P(level | different persons), learnt from the random
-- pairs; the match weight log2(m/u) is the evidence the level adds. What a pair was tied by
-- biases what it can teach about that identifier, so m of the e-mail's local part is learnt
-- only from pairs tied by a phone, and m of the phone only from pairs tied by an e-mail
-- (whatever else ties them). Counts get one pseudo-observation per level (Laplace) so that
-- an unseen level has a finite weight.
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
    select comparison, level
    from (values ('first_name', 3), ('first_name', 2), ('first_name', 1), ('first_name', 0),
                 ('last_name', 3), ('last_name', 2), ('last_name', 1), ('last_name', 0),
                 ('birth_date', 1), ('birth_date', 0), ('postal_code', 1), ('postal_code', 0),
                 ('street', 2), ('street', 1), ('street', 0),
                 ('email_local', 1), ('email_local', 0), ('phone', 1), ('phone', 0))
        as l(comparison, level)
),
counts as (
    select l.comparison, l.level,
           count(case when x.kind = 'training' then 1 end) as matches,
           count(case when x.kind = 'random' then 1 end) as non_matches
    from levels l
    left join long x on x.comparison = l.comparison and x.level = l.level
    group by l.comparison, l.level
),
probabilities as (
    select comparison, level, matches, non_matches,
           (matches + 1.0) / (sum(matches) over (partition by comparison) + count(*) over (partition by comparison)) as m,
           (non_matches + 1.0) / (sum(non_matches) over (partition by comparison) + count(*) over (partition by comparison)) as u
    from counts
)
select comparison, level, matches as training_pairs, non_matches as random_pairs, m, u,
       log2(m / u) as match_weight
from probabilities
