-- One row per conversion of a known person in the reporting window (lookback_days up to the
-- run date), with its type, revenue and whether it happened offline (see int_conversions).
select
    conversion_id, person_id, conversion_ts, cast(conversion_ts as date) as conversion_date,
    conversion_type, revenue, arrow_cast(currency, 'Utf8') as currency, is_offline
from int_conversions
where cast(conversion_ts as date) > {{ run_date }} - {{ var("lookback_days") }}
  and cast(conversion_ts as date) <= {{ run_date }}
