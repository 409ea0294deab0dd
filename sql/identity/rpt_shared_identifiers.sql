-- The over-merge guard. An identifier that several records of one source system carry (a
-- family phone, a contact@ company inbox), or a cookie that several accounts or e-mails log in
-- from (a public computer), belongs to no single person: it creates no link, and is listed here
-- (hashed values only) so that the decision can be reviewed.
with per_system as (
    select node, source_system, count(distinct record) as records
    from int_identity_edges
    where node is not null and record like 'contact_id:%'
    group by node, source_system
),
shared_identifiers as (
    select node, max(records) as records, 'records_per_source_system' as reason
    from per_system
    group by node
    having max(records) > {{ var("max_records_per_identifier") }}
),
cookie_fanout as (
    select
        record as node,
        count(distinct case when node like 'customer_id:%' then node end) as accounts,
        count(distinct case when node like 'email_sha256:%' then node end) as emails
    from int_identity_edges
    where record like 'anonymous_id:%' and node is not null
    group by record
),
shared_cookies as (
    select node, greatest(accounts, emails) as records, 'identities_per_cookie' as reason
    from cookie_fanout
    where accounts > {{ var("max_identities_per_cookie") }}
       or emails > {{ var("max_identities_per_cookie") }}
)
select
    split_part(node, ':', 1) as identifier_type,
    substr(node, strpos(node, ':') + 1) as identifier_value,
    node,
    records,
    reason
from (select * from shared_identifiers union all select * from shared_cookies)
