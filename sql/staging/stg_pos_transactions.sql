-- Till tickets once each. Refunds are negative amounts and stay: they net against sales.
with ranked as (
    select
        *,
        row_number() over (partition by transaction_id order by export_date) as copy_rank
    from pos_transactions
)
select
    transaction_id,
    transaction_ts,
    cast(transaction_ts as date) as transaction_date,
    store_id,
    loyalty_card_id,
    amount,
    currency,
    amount < 0 as is_refund
from ranked
where copy_rank = 1
