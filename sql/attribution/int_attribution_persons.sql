-- The person behind every record attribution reads, resolved in one place: web sessions, ad
-- interactions, orders, till tickets and registrations. A record takes the person of its most
-- trusted identifier found in bridge_identity: for a session the logged-in account, then the
-- e-mail hash, then the cookie; for an ad interaction the hashed e-mail or phone the platform
-- sent to, then the cookie it matched. A record none of whose identifiers is in bridge_identity
-- has no person and is left out: cookies never tied to anyone, and erased persons.
with records as (
    select 'session' as record_type, session_id as record_id, make_array(
        named_struct('type', 'customer_id', 'value', user_id, 'priority', 1),
        named_struct('type', 'email_sha256', 'value', email_sha256, 'priority', 2),
        named_struct('type', 'anonymous_id', 'value', anonymous_id, 'priority', 3)
    ) as identifiers
    from int_web_sessions
    union all
    select 'interaction', interaction_id, make_array(
        named_struct('type', 'email_sha256', 'value', email_sha256, 'priority', 1),
        named_struct('type', 'phone_sha256', 'value', phone_sha256, 'priority', 2),
        named_struct('type', 'anonymous_id', 'value', anonymous_id, 'priority', 3)
    )
    from stg_ad_interactions
    -- impressions only when attribution counts them; from the oldest day attribution reads
    where (interaction_type <> 'impression' or {{ var("attribution_include_impressions") }})
      and interaction_ts >= {{ run_date }} - ({{ var("lookback_days") }} + 2 * {{ var("attribution_window_days") }} + 35)
    union all
    select 'order', order_id, make_array(named_struct('type', 'order_id', 'value', order_id, 'priority', 1))
    from stg_orders
    where order_date >= {{ run_date }} - ({{ var("lookback_days") }} + 2 * {{ var("attribution_window_days") }} + 35)
    union all
    select 'transaction', transaction_id, make_array(named_struct('type', 'transaction_id', 'value', transaction_id, 'priority', 1))
    from stg_pos_transactions
    where transaction_date >= {{ run_date }} - ({{ var("lookback_days") }} + 2 * {{ var("attribution_window_days") }} + 35)
    union all
    select 'registration', registration_id, make_array(named_struct('type', 'registration_id', 'value', registration_id, 'priority', 1))
    from stg_purchase_registrations
    where purchase_date >= {{ run_date }} - ({{ var("lookback_days") }} + 2 * {{ var("attribution_window_days") }} + 35)
)
-- the most trusted identifier found wins: an aggregate keeps one row per record, where a
-- ranking window would sort every candidate
select
    r.record_type,
    r.record_id,
    first_value(b.person_id order by r.i['priority']) as person_id
from (select record_type, record_id, unnest(identifiers) as i from records) r
join bridge_identity b
  on b.identifier_type = r.i['type'] and b.identifier_value = r.i['value']
group by r.record_type, r.record_id
