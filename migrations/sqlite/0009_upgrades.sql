-- Dataset upgrades (design §9) (sqlite; kept column-for-column equal to ../postgres/0009_upgrades.sql).
-- Times are RFC 3339 UTC text.

-- One applied upgrade of a branch's staging store: the datasets, the mapping it applied
-- (JSON object old indicator id -> new id or null) and who did it. Dry runs are not recorded.
create table upgrades (
    id           integer primary key autoincrement,
    branch       text not null references branches (name),
    from_dataset text not null,
    to_dataset   text not null,
    mapping      text not null,
    actor        text not null,
    created_at   text not null,
    undone_at    text,
    undone_by    text
);
create index upgrades_branch on upgrades (branch, id);

-- Each chart an upgrade considered, with what it did. For an updated chart, the exact bytes it
-- replaced (`before_*`, which undo writes back) and the fingerprint of the row it wrote
-- (`after_fp`, so undo can tell a chart edited since) and that row's version hash
-- (`after_hash`: an item whose staging hash is still this one carries the upgrade's id).
create table upgrade_charts (
    upgrade_id        bigint not null references upgrades (id),
    branch            text not null,
    chart_id          text not null,
    outcome           text not null check (outcome in ('updated', 'unchanged', 'skipped')),
    reason            text,
    before_slug       text,
    before_config     text,
    before_data       text,
    before_metadata   text,
    before_updated_at text,
    after_fp          text,
    after_hash        text,
    undo_outcome      text,
    undo_reason       text,
    primary key (upgrade_id, chart_id)
);
create index upgrade_charts_item on upgrade_charts (branch, chart_id, after_hash);
