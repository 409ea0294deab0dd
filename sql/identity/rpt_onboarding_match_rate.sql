-- CRM onboarding: the share of offline records (CRM systems, store tickets, registered
-- purchases) whose person is also known online (a cookie or an e-commerce account), per source
-- system and the identifier type the record carries.
with online_persons as (
    select distinct person_id
    from bridge_identity
    where identifier_type in ('anonymous_id', 'customer_id')
),
record_person as (
    select identifier_type || ':' || identifier_value as record, person_id
    from bridge_identity
    where identifier_type in ('contact_id', 'transaction_id', 'registration_id')
),
carried as (
    select distinct record, source_system, split_part(node, ':', 1) as identifier_type
    from int_identity_edges
    where split_part(node, ':', 1) in ('email_sha256', 'phone_sha256', 'loyalty_card_id')
      and split_part(record, ':', 1) in ('contact_id', 'transaction_id', 'registration_id')
)
select
    c.source_system,
    arrow_cast(c.identifier_type, 'Utf8') as identifier_type,
    count(*) as records,
    count(o.person_id) as matched_to_online,
    cast(count(o.person_id) as double) / count(*) as match_rate
from carried c
join record_person r on r.record = c.record
left join online_persons o on o.person_id = r.person_id
group by c.source_system, c.identifier_type
