-- Every conversion of the reporting window is credited in full by every attribution model:
-- its credits sum to 1 (within 1e-9), and nothing is credited to a conversion that is not one.
with expected as (
    select c.conversion_id, m.model
    from fct_conversion c
    cross join (values ('first_touch'), ('last_touch'), ('last_non_direct'), ('linear'),
                       ('time_decay'), ('position_based'), ('markov'), ('shapley'),
                       ('data_driven')) as m(model)
    where c.conversion_date > {{ run_date }} - {{ var("lookback_days") }}
      and c.conversion_date <= {{ run_date }}
),
credited as (
    select conversion_id, model, sum(credit) as total_credit
    from fct_attribution
    where conversion_date > {{ run_date }} - {{ var("lookback_days") }}
      and conversion_date <= {{ run_date }}
    group by conversion_id, model
)
select
    coalesce(e.conversion_id, c.conversion_id) as conversion_id,
    coalesce(e.model, c.model) as model,
    c.total_credit
from expected e
full outer join credited c on c.conversion_id = e.conversion_id and c.model = e.model
where e.conversion_id is null or c.total_credit is null or abs(c.total_credit - 1) > 1e-9
