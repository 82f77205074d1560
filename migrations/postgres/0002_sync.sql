-- Sync jobs (PostgreSQL). Kept column-for-column equal to ../sqlite/0002_sync.sql.
-- Times are RFC 3339 UTC text; booleans are 0/1 integers.

-- One job writes a branch's approved charts to one production store (`target`). Jobs of one target
-- run one at a time, oldest first; `worker` and `heartbeat_at` say who runs it and that it is alive,
-- so a job whose process died is put back in the queue and resumed.
create table sync_jobs (
    id              bigserial primary key,
    branch          text not null references branches (name),
    target          text not null,              -- the production store (URL without password)
    status          text not null check (status in ('queued', 'running', 'succeeded', 'partial', 'failed')),
    dry_run         integer not null,
    triggered_by    text not null check (triggered_by in ('hook', 'api', 'cli')),
    actor           text not null,
    delivery_id     text unique,                -- X-GitHub-Delivery: a redelivery finds its first job
    idempotency_key text unique,                -- Idempotency-Key of POST /sync
    created_at      text not null,
    started_at      text,
    finished_at     text,
    heartbeat_at    text,
    worker          text,
    attempts        integer not null default 0, -- claims; more than one means it was resumed
    planned         integer not null default 0, -- its items are fixed (see sync_items)
    total           integer not null default 0,
    done            integer not null default 0,
    error           text
);
create index sync_jobs_queue on sync_jobs (target, status, id);
create index sync_jobs_branch on sync_jobs (branch, id);

-- The plan of a job, fixed in one transaction when it first runs: every item of the branch with
-- what its decision asks (`action`), the production hash the approval was made on (`expected_hash`,
-- the compare-and-swap value; null when production had no such chart) and the approved version
-- (`target_hash`; null for a delete). `outcome` is set once, right after the item's production
-- transaction commits (or at planning, for skips); a resumed job carries on with the items that
-- have none.
create table sync_items (
    job_id        bigint not null references sync_jobs (id),
    seq           integer not null,
    chart_id      text not null,
    slug          text not null,
    action        text not null check (action in ('create', 'update', 'delete')),
    expected_hash text,
    target_hash   text,
    outcome       text check (outcome in ('created', 'updated', 'deleted', 'unchanged', 'skipped', 'failed')),
    reason        text,
    at            text,
    primary key (job_id, chart_id)
);
create index sync_items_order on sync_items (job_id, seq);

-- One row per production store; claiming a job locks it (PostgreSQL), so replicas never start
-- two jobs on one store.
create table sync_targets (
    target text primary key
);
