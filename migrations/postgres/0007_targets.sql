-- Targets (design §10; postgres, kept equal to ../sqlite/0007_targets.sql).
--
-- A branch is checked against one target's store; a target that promotes to another is itself a
-- row of `branches` (kind `target`) under its own name, reviewed like a branch, never archived.
alter table branches add column target text not null default 'production';
alter table branches add column kind text not null default 'branch' check (kind in ('branch', 'target'));

-- What Chartgate knows of a target's store: side `production` keyed by the target's name (it
-- was the one production, branch '').
update chart_states set branch = 'production' where side = 'production' and branch = '';

-- The target a job writes (by name) and the hop it makes, for the pages and the audit trail.
alter table sync_jobs add column target_name text not null default 'production';

-- Every change to a side's states bumps its generation; a branch remembers the generation of its
-- target's side its items were built from, so a change another branch's scan brought in still
-- rebuilds this branch's items (a shared target is refreshed by whichever branch scans first).
create table side_generations (
    side       text not null,
    branch     text not null,
    generation bigint not null,
    primary key (side, branch)
);
alter table branches add column target_generation bigint not null default -1;
