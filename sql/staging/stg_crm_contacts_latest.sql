-- The one place the CRM survivorship rule lives: a row that changes is exported again with a
-- later updated_at, and the newest version wins (ties: the later export; two different
-- versions with one updated_at in one export are told apart by their values, so the same
-- exports always give the same record). Raw PII stays in views; everything downstream reads
-- this.
with ranked as (
    select
        *,
        row_number() over (
            partition by contact_id
            order by updated_at desc, export_date desc, consent_updated_at desc nulls last,
                     email, phone, first_name, last_name, birth_date, street_address,
                     postal_code, city, country, loyalty_card_id, consent_marketing
        ) as version_rank
    from crm_contacts
)
select * from ranked where version_rank = 1
