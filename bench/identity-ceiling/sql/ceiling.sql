-- Pairs of one person's records inside one evidence component, against all its pairs.
with sizes as (
    select person_id, component, count(*) as n from evidence_components group by 1, 2
),
persons as (select person_id, sum(n) as n from sizes group by 1)
select (select sum(n * (n - 1) / 2) from sizes) as reachable_pairs,
       (select sum(n * (n - 1) / 2) from persons) as true_pairs,
       round(cast((select sum(n * (n - 1) / 2) from sizes) as double)
             / (select sum(n * (n - 1) / 2) from persons), 4) as best_recall
