-- Till tickets once each. Refunds are negative amounts and stay: they net against sales.
-- E-receipt e-mails and phones given at the till leave this view only as hashes; a phone
-- in national format is read as a number of the stores' country.
with ranked as (
    select
        *,
        -- copies are identical in practice; the values break a tie all the same
        row_number() over (
            partition by transaction_id
            order by export_date, transaction_ts, amount, store_id, loyalty_card_id,
                     receipt_email, phone, currency
        ) as copy_rank
    from pos_transactions
)
select
    transaction_id,
    transaction_ts,
    cast(transaction_ts as date) as transaction_date,
    store_id,
    nullif(trim(loyalty_card_id), '') as loyalty_card_id,
    sha256_hex(normalize_email(receipt_email)) as email_sha256,
    -- a mistyped provider domain (gmial.com), corrected: a weaker link than the address itself
    sha256_hex(correct_email_domain(receipt_email)) as email_corrected_sha256,
    -- a role address (contact@, info@) is a team's inbox, not a person's
    coalesce(regexp_like(normalize_email(receipt_email), {{ var("role_email_pattern") }}), false) as email_is_role,
    sha256_hex(normalize_phone(phone, {{ var("store_country") }})) as phone_sha256,
    amount,
    currency,
    amount < 0 as is_refund
from ranked
where copy_rank = 1
