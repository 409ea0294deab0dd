-- Orders once each; a late re-export of the same order keeps its newest status (two versions
-- in one export: a return or cancellation is the later state). The checkout e-mail leaves this
-- view only as its normalised hash.
with ranked as (
    select
        *,
        row_number() over (
            partition by order_id
            order by export_date desc,
                     case status when 'returned' then 0 when 'cancelled' then 1 else 2 end,
                     order_ts desc, amount, customer_id, email, anonymous_id, currency
        ) as version_rank
    from orders
)
select
    order_id,
    order_ts,
    cast(order_ts as date) as order_date,
    customer_id,
    anonymous_id,
    sha256_hex(normalize_email(email)) as email_sha256,
    -- a mistyped provider domain (gmial.com), corrected: a weaker link than the address itself
    sha256_hex(correct_email_domain(email)) as email_corrected_sha256,
    -- a role address (contact@, info@) is a team's inbox, not a person's
    coalesce(regexp_like(normalize_email(email), {{ var("role_email_pattern") }}), false) as email_is_role,
    amount,
    currency,
    status
from ranked
where version_rank = 1
