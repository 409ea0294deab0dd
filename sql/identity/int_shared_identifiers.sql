-- The over-merge guard. An e-mail or phone seen with several strong anchors of one kind —
-- several contact records of one source system, several e-commerce accounts, several loyalty
-- cards — is a family phone or a contact@ company inbox: it belongs to no single person. A
-- cookie that several accounts or e-mails log in from is a public computer. Contact records
-- that share an e-mail or phone but disagree on the person (first names far apart, even
-- allowing for typos, short forms and swapped first/last names, or different birth dates)
-- make it shared too: a household's landline, a colleague's inbox. Such identifiers create
-- no link; they are listed here (hashed values only) so the decision can be reviewed.
with anchors as (
    -- (record, anchor): the strong keys each record carries
    select record, node as anchor, split_part(node, ':', 1) as anchor_kind
    from int_identity_edges
    where node like 'customer_id:%' or node like 'loyalty_card_id:%'
    union all
    select record, record as contact, 'contact_id/' || source_system
    from int_identity_edges
    where record like 'contact_id:%' and node is null
),
co_occurrence as (
    -- distinct rows, then count(*): count(distinct) keeps a hash set per group, which over
    -- millions of groups costs gigabytes the memory pool does not see
    select node, anchor_kind, count(*) as anchors
    from (
        select distinct e.node, a.anchor_kind, a.anchor
        from int_identity_edges e
        join anchors a on a.record = e.record
        where e.node like 'email_sha256:%' or e.node like 'phone_sha256:%'
    )
    group by node, anchor_kind
),
shared_identifiers as (
    select node, max(anchors) as records, 'anchors_per_identifier' as reason
    from co_occurrence
    group by node
    having max(anchors) > {{ var("max_anchors_per_identifier") }}
),
carriers as (
    -- only identifiers not already shared: a contact@ inbox on thousands of records would
    -- otherwise be compared pair by pair (millions of pairs for one address)
    select e.node, n.record, n.first_name, n.last_name, n.birth_date
    from int_identity_edges e
    join stg_contact_names n on n.record = e.record
    left join shared_identifiers s on s.node = e.node
    where (e.node like 'email_sha256:%' or e.node like 'phone_sha256:%')
      and e.rule <> 'role_address' and s.node is null
),
name_conflicts as (
    select a.node, count(*) as records, 'different_persons' as reason
    from carriers a
    join carriers b on a.node = b.node and a.record < b.record
    where a.birth_date <> b.birth_date
       or not (
           jaro_winkler(a.first_name, b.first_name) >= {{ var("same_first_name_similarity") }}
           or (jaro_winkler(a.first_name, b.last_name) >= {{ var("same_first_name_similarity") }}
               and jaro_winkler(a.last_name, b.first_name) >= {{ var("same_first_name_similarity") }})
           -- a short form is the same person: seb/sebastien, max/maxime, cathy/catherine,
           -- matt/mathieu (a prefix, or the first three letters of a name of five at most)
           or (least(length(a.first_name), length(b.first_name)) >= 3
               and (starts_with(a.first_name, b.first_name) or starts_with(b.first_name, a.first_name)
                    or (left(a.first_name, 3) = left(b.first_name, 3)
                        and least(length(a.first_name), length(b.first_name)) <= 5)))
       )
    group by a.node
),
cookie_fanout as (
    select
        record as node,
        count(case when node like 'customer_id:%' then 1 end) as accounts,
        count(case when node like 'email_sha256:%' then 1 end) as emails
    from (
        select distinct record, node from int_identity_edges
        where record like 'anonymous_id:%' and node is not null
    )
    group by record
),
role_addresses as (
    select node, count(*) as records, 'role_address' as reason
    from (select distinct node, record from int_identity_edges where rule = 'role_address')
    group by node
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
from (
    select * from shared_identifiers
    union all select * from name_conflicts
    union all select * from shared_cookies
    union all select * from role_addresses
)
