-- The one place the CRM survivorship rule lives: a row that changes is exported again with a
-- later updated_at, and the newest version wins (ties: the later export). Raw PII stays in
-- views; everything downstream reads this.
with ranked as (
    select
        *,
        row_number() over (
            partition by contact_id
            order by updated_at desc, export_date desc
        ) as version_rank
    from crm_contacts
)
select * from ranked where version_rank = 1
