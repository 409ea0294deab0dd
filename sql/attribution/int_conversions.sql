-- Every conversion of a known person over the days attribution reads, with its type, revenue
-- and whether it happened offline:
--   online_order: a completed e-commerce order (cancelled and returned orders earn nothing);
--   store_purchase: a till ticket net of its refunds. A refund (a negative ticket) carries no
--     reference to its sale: it nets against its person's latest earlier purchase in the same
--     store. A purchase refunded in full is no conversion; a refund with no earlier purchase of
--     its person in that store (within the days read) is left out;
--   registered_purchase: a purchase made at another retailer and registered online; only its
--     day is known, so it counts at that day's last instant (never after the registration), and
--     an amount the customer did not give counts as no revenue;
--   lead: a sign-up or newsletter subscription in a human web session.
-- The person is the one of the record (of the lead's session) in int_attribution_persons; a
-- record without one (an erased person) is left out. fct_conversion publishes the reporting
-- window; the journeys that did not convert are checked against all of these.
-- Lead events are picked before their repeated exports are dropped: de-duplicating every web
-- event first (stg_web_events) would sort them all for the few that are leads.
with leads as (
    select
        session_id, event_id, event_ts,
        row_number() over (partition by event_id order by export_date) as copy_rank
    from stg_web_events_all
    where event_type in ('signup', 'newsletter_subscribe') and not is_bot
      and event_ts >= {{ run_date }} - ({{ var("lookback_days") }} + 2 * {{ var("attribution_window_days") }} + 35)
),
records as (
    select
        'order' as record_type, order_id as record_id, order_id as conversion_id,
        order_ts as conversion_ts, 'online_order' as conversion_type, amount, currency,
        cast(null as varchar) as store_id, false as is_refund
    from stg_orders
    where status = 'completed'
    union all
    select
        'transaction', transaction_id, transaction_id as conversion_id, transaction_ts, 'store_purchase',
        amount, currency, store_id, is_refund
    from stg_pos_transactions
    union all
    select
        'registration', registration_id, registration_id as conversion_id,
        least(
            registered_at,
            arrow_cast(purchase_date + 1, 'Timestamp(Microsecond, Some("UTC"))') - interval '1 microsecond'
        ),
        'registered_purchase', coalesce(amount, 0), cast(null as varchar), cast(null as varchar),
        false
    from stg_purchase_registrations
    union all
    select
        'session', session_id, event_id, event_ts, 'lead', cast(0 as decimal(12, 2)),
        cast(null as varchar), cast(null as varchar), false
    from leads
    where copy_rank = 1
),
resolved as (
    select r.*, p.person_id
    from records r
    join int_attribution_persons p on p.record_type = r.record_type and p.record_id = r.record_id
    where r.conversion_ts >= {{ run_date }} - ({{ var("lookback_days") }} + 2 * {{ var("attribution_window_days") }} + 35)
),
-- each refund finds its sale; every other conversion is its own
netted as (
    select
        *,
        case when conversion_type = 'store_purchase' then
            last_value(case when conversion_type = 'store_purchase' and not is_refund then conversion_id end)
                ignore nulls over (
                    partition by person_id, store_id
                    order by conversion_ts, conversion_id
                    rows between unbounded preceding and current row
                )
        else conversion_id end as sale_id
    from resolved
)
select
    sale_id as conversion_id,
    max(person_id) as person_id,
    max(case when not is_refund then conversion_ts end) as conversion_ts,
    conversion_type,
    sum(amount) as revenue,
    max(currency) as currency,
    conversion_type in ('store_purchase', 'registered_purchase') as is_offline
from netted
where sale_id is not null
group by conversion_type, sale_id
having conversion_type <> 'store_purchase' or sum(amount) > 0
