-- Purchases made at other retailers and registered online, once each.
with ranked as (
    select
        *,
        -- copies are identical in practice; the values break a tie all the same
        row_number() over (
            partition by registration_id
            order by export_date, registered_at, email, purchase_date, retailer, product_sku,
                     amount, incentive
        ) as copy_rank
    from purchase_registrations
)
select
    registration_id,
    registered_at,
    purchase_date,
    retailer,
    product_sku,
    amount,
    incentive,
    sha256_hex(normalize_email(email)) as email_sha256,
    -- a mistyped provider domain (gmial.com), corrected: a weaker link than the address itself
    sha256_hex(correct_email_domain(email)) as email_corrected_sha256,
    -- a role address (contact@, info@) is a team's inbox, not a person's
    coalesce(regexp_like(normalize_email(email), {{ var("role_email_pattern") }}), false) as email_is_role
from ranked
where copy_rank = 1
