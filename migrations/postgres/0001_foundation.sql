-- Chartgate's own schema (PostgreSQL). Kept column-for-column equal to ../sqlite/0001_foundation.sql:
-- every query is written once and runs on both through sqlx's `Any` driver, so only types differ.
-- Times are RFC 3339 UTC text; booleans are 0/1 integers.

create table users (
    id            bigserial primary key,
    email         text not null unique,
    role          text not null check (role in ('viewer', 'reviewer', 'lead')),
    password_hash text,
    created_at    text not null
);

create table api_tokens (
    token_hash   text primary key,            -- sha256 of the token; the token itself is never stored
    user_id      bigint not null references users (id) on delete cascade,
    created_at   text not null
);

-- Every version Chartgate has seen, once, addressed by the hash of its canonical content.
create table versions (
    hash       text primary key,
    slug       text not null,
    config     text not null,
    data       text not null,
    metadata   text not null,
    created_at text not null
);

create table branches (
    name              text primary key,      -- environment name (`feature/123` -> `feature-123`)
    raw_name          text not null,
    store_url         text not null,
    preview_url       text,
    state             text not null default 'open' check (state in ('open', 'merged', 'archived')),
    created_at        text not null,
    created_by        text not null,
    merged_at         text,
    archived_at       text,
    last_scan_at      text,
    last_scan_ms      bigint,
    last_full_scan_at text,
    scan_error        text
);

-- What Chartgate knows of each chart on one side: `production` (one shared set, branch = ''),
-- `staging` and `baseline` (per branch). `raw_fp` fingerprints the stored bytes so a byte-identical
-- row elsewhere is never canonicalised twice; `*_fp` fingerprint each canonical part.
create table chart_states (
    side        text not null check (side in ('production', 'staging', 'baseline')),
    branch      text not null,
    chart_id    text not null,
    slug        text not null,
    title       text not null,
    updated_at  text not null,
    raw_fp      text not null,
    hash        text,
    config_fp   text,
    data_fp     text,
    metadata_fp text,
    error       text,
    primary key (side, branch, chart_id)
);

-- The items of a branch's diff, rebuilt by every scan from the three sides above.
create table branch_items (
    branch          text not null references branches (name) on delete cascade,
    chart_id        text not null,
    slug            text not null,
    title           text not null,
    search          text not null,            -- lower-cased slug and title, for `q`
    kind            text not null check (kind in ('new', 'modified', 'deleted')),
    conflict        integer not null,
    parts           text not null,            -- comma-separated subset of config,data,metadata
    staging_hash    text,
    production_hash text,
    baseline_hash   text,
    error           text,
    changed_at      text not null,
    primary key (branch, chart_id)
);
create index branch_items_slug on branch_items (branch, slug);
create index branch_items_changed on branch_items (branch, changed_at);

-- The current decision per (branch, chart); the history lives in audit_events.
create table reviews (
    branch          text not null references branches (name) on delete cascade,
    chart_id        text not null,
    status          text not null check (status in ('pending', 'approved', 'rejected')),
    reviewer        text not null,
    comment         text,
    at              text not null,
    staging_hash    text,
    production_hash text,
    primary key (branch, chart_id)
);

-- Append-only: the code has no update or delete path for this table.
create table audit_events (
    id              bigserial primary key,
    at              text not null,
    actor           text not null,
    action          text not null,
    branch          text,
    chart_id        text,
    staging_hash    text,
    production_hash text,
    detail          text
);
create index audit_events_branch on audit_events (branch, at);
create function audit_events_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'audit events are append-only';
end;
$$;
create trigger audit_events_no_change before update or delete on audit_events
    for each row execute function audit_events_append_only();
