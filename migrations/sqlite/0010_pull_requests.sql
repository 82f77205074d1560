-- Pull requests Chartgate reports to (sqlite; kept equal to ../postgres/0010_pull_requests.sql).
--
-- Learned from signed `pull_request` events (opened, synchronize, reopened): the head commit
-- carries the commit status `chartgate/review`, the pull request gets a comment with the sync
-- outcome after the merge. `last_status` is the state and description last sent, so the status
-- is only sent again when the gate changed.
create table pull_requests (
    branch      text primary key,           -- the environment name of the head branch
    repository  text not null,              -- owner/name
    number      bigint not null,
    head_sha    text not null,
    last_status text,
    updated_at  text not null
);
