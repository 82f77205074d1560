-- Team review (design §14): every reviewer's verdict, conversations, review requests.
--
-- `verdicts` keeps one verdict per (branch, chart, reviewer), bound to the hashes the reviewer
-- saw; `reviews` stays what the policy makes of them (the one row per item that the list, its
-- counts, the gate and the sync read through `item_decisions`), rewritten in the same
-- transaction as every verdict and dismissal.
create table verdicts (
    branch          text not null references branches (name) on delete cascade,
    chart_id        text not null,
    reviewer        text not null,
    status          text not null check (status in ('pending', 'approved', 'rejected')),
    comment         text,
    at              text not null,
    staging_hash    text,
    production_hash text,
    -- A lead's dismissal of this rejection (cleared when the reviewer decides again).
    dismissed_by    text,
    dismissed_at    text,
    dismiss_reason  text,
    primary key (branch, chart_id, reviewer)
);
create index verdicts_reviewer on verdicts (reviewer, branch);

-- Each item's decision so far becomes its reviewer's verdict.
insert into verdicts (branch, chart_id, reviewer, status, comment, at, staging_hash, production_hash)
select branch, chart_id, reviewer, status, comment, at, staging_hash, production_hash from reviews;

-- A thread per item, kept across rescans: each comment notes the content it was written on.
create table item_comments (
    id              bigserial primary key,
    branch          text not null references branches (name) on delete cascade,
    chart_id        text not null,
    author          text not null,
    body            text not null,
    -- The verdict the comment came with, if any (`approved`, `rejected`, `pending`).
    verdict         text,
    at              text not null,
    staging_hash    text,
    production_hash text
);
create index item_comments_item on item_comments (branch, chart_id, id);

-- Who was asked to review a branch ('' as chart_id) or one of its charts.
create table review_requests (
    branch       text not null references branches (name) on delete cascade,
    chart_id     text not null,
    reviewer     text not null,
    requested_by text not null,
    at           text not null,
    primary key (branch, chart_id, reviewer)
);
create index review_requests_reviewer on review_requests (reviewer, branch);

-- A request changes what "waiting on me" shows: it bumps the branch's revision like a decision.
create trigger review_requests_bump after insert or update or delete on review_requests
    for each row execute function bump_branch_revision();
create trigger verdicts_bump after insert or update or delete on verdicts
    for each row execute function bump_branch_revision();

-- The review policy every item's answer was last settled under (one row): a start under another
-- policy answers the open branches' items again.
create table review_policy (
    id          integer primary key check (id = 1),
    fingerprint text not null
);
