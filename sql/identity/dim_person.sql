-- One row per resolved person. Survivorship rules:
--   e-mail, phone, country: from the person's most recently updated CRM record that has one
--     (an identifier the over-merge guard refused is never chosen);
--   consent_marketing: the most recent consent decision (unknown = no consent);
--   lifetime_revenue: completed online orders plus store tickets net of refunds;
--   first/last seen: over CRM records, orders, till tickets, registrations and cookie activity;
--   source_systems: CRM systems plus orders, tills, registrations and web/ads the person appears in.
with members as (
    select person_id, identifier_type, identifier_value from bridge_identity
),
contacts as (
    select
        m.person_id, c.*,
        case when se.node is null then c.email_sha256 end as usable_email,
        case when sp.node is null then c.phone_sha256 end as usable_phone
    from members m
    join stg_crm_contacts c on m.identifier_type = 'contact_id' and c.contact_id = m.identifier_value
    left join int_shared_identifiers se on se.node = 'email_sha256:' || c.email_sha256
    left join int_shared_identifiers sp on sp.node = 'phone_sha256:' || c.phone_sha256
),
contact_facts as (
    select
        person_id,
        -- records updated at the same instant (a bulk load) are told apart by the value itself,
        -- so the same data always gives the same person; a tied consent is no consent
        first_value(usable_email order by updated_at desc, usable_email) filter (where usable_email is not null) as email_sha256,
        first_value(usable_phone order by updated_at desc, usable_phone) filter (where usable_phone is not null) as phone_sha256,
        first_value(country order by updated_at desc, country) filter (where country is not null) as country,
        first_value(consent_marketing order by consent_updated_at desc nulls last, updated_at desc, consent_marketing) as consent_marketing,
        min(created_at) as first_seen_at,
        max(updated_at) as last_seen_at
    from contacts
    group by person_id
),
crm_systems as (
    -- distinct rows, then count(*): count(distinct) keeps a hash set per person, which over
    -- millions of persons costs gigabytes the memory pool does not see
    select person_id, count(*) as crm_systems
    from (select distinct person_id, source_system from contacts)
    group by person_id
),
cookie_seen as (
    select anonymous_id, min(event_ts) as first_ts, max(event_ts) as last_ts
    -- every exported copy: a repeated event moves neither first nor last seen
    from stg_web_events_all where not is_bot group by anonymous_id
    union all
    select anonymous_id, min(interaction_ts), max(interaction_ts)
    from ad_interactions where anonymous_id is not null group by anonymous_id
),
activity as (
    select m.person_id, o.order_ts as first_ts, o.order_ts as last_ts,
           case when o.status = 'completed' then o.amount else 0 end as revenue, 'orders' as system
    from members m join stg_orders o on m.identifier_type = 'order_id' and o.order_id = m.identifier_value
    union all
    select m.person_id, t.transaction_ts, t.transaction_ts as last_ts, t.amount, 'pos'
    from members m join stg_pos_transactions t on m.identifier_type = 'transaction_id' and t.transaction_id = m.identifier_value
    union all
    select m.person_id, r.registered_at, r.registered_at as last_ts, 0, 'registrations'
    from members m join stg_purchase_registrations r on m.identifier_type = 'registration_id' and r.registration_id = m.identifier_value
    union all
    select m.person_id, c.first_ts, c.last_ts, 0, 'web'
    from members m join cookie_seen c on m.identifier_type = 'anonymous_id' and c.anonymous_id = m.identifier_value
),
activity_facts as (
    select person_id, min(first_ts) as first_ts, max(last_ts) as last_ts,
           sum(case when system in ('orders', 'pos') then revenue else 0 end) as revenue,
           -- the four systems of `activity` above, each counted once
           max(case when system = 'orders' then 1 else 0 end)
           + max(case when system = 'pos' then 1 else 0 end)
           + max(case when system = 'registrations' then 1 else 0 end)
           + max(case when system = 'web' then 1 else 0 end) as systems
    from activity
    group by person_id
),
persons as (
    select distinct person_id from members
)
select
    p.person_id,
    least(c.first_seen_at, a.first_ts) as first_seen_at,
    greatest(c.last_seen_at, a.last_ts) as last_seen_at,
    c.email_sha256,
    c.phone_sha256,
    c.country,
    coalesce(c.consent_marketing, false) as consent_marketing,
    coalesce(s.crm_systems, 0) + coalesce(a.systems, 0) as source_systems,
    coalesce(a.revenue, 0) as lifetime_revenue
from persons p
left join contact_facts c on c.person_id = p.person_id
left join activity_facts a on a.person_id = p.person_id
left join crm_systems s on s.person_id = p.person_id
