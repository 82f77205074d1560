-- Whether a decision still counts, defined once (sqlite; identical to ../postgres/0004_item_decisions.sql).
--
-- A decision is bound to the (staging hash, production hash) the reviewer saw. It is in force
-- only while those are still the item's current hashes; otherwise it is stale and counts as
-- pending. The diff list, its counts, the merge gate and the sync planner all read this view;
-- code only turns its answer into words (a badge, a skip reason).
--
-- `moved` says which side moved under a decision (`staging` first, then `production`);
-- `in_force` is `pending` (undecided or reset), `approved`, `rejected` or `stale`.
create view item_decisions as
select d.branch, d.chart_id, d.slug, d.title, d.search, d.kind, d.conflict, d.parts,
       d.staging_hash, d.production_hash, d.baseline_hash, d.error, d.changed_at,
       d.decided, d.reviewer, d.decided_at, d.comment, d.decided_staging_hash, d.decided_production_hash,
       d.moved,
       case when d.decided is null or d.decided = 'pending' then 'pending'
            when d.moved is not null then 'stale'
            else d.decided end as in_force
from (
    select i.branch, i.chart_id, i.slug, i.title, i.search, i.kind, i.conflict, i.parts,
           i.staging_hash, i.production_hash, i.baseline_hash, i.error, i.changed_at,
           r.status as decided, r.reviewer, r.at as decided_at, r.comment,
           r.staging_hash as decided_staging_hash, r.production_hash as decided_production_hash,
           case when r.status is null or r.status = 'pending' then null
                when coalesce(r.staging_hash, '') <> coalesce(i.staging_hash, '') then 'staging'
                when coalesce(r.production_hash, '') <> coalesce(i.production_hash, '') then 'production'
           end as moved
    from branch_items i
    left join reviews r on r.branch = i.branch and r.chart_id = i.chart_id
) d;
