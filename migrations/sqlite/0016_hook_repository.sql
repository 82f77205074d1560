-- Where a branch's pull requests come from, and which event kind a hook body came as
-- (sqlite; kept equal to ../postgres/0016_hook_repository.sql).
--
-- `branches.repository` (`owner/name`): a pull request belongs to a branch only when it comes
-- from this repository, its head in it too (a fork's pull request never does). Given at
-- registration, or bound by the first signed event for the branch's exact raw name; null until
-- then.
--
-- `hook_deliveries.event`: `X-GitHub-Event` is outside the signature, so a signed body seen
-- as one kind of event and sent again as another is a replay, whatever delivery id it carries.
-- Rows from before this migration have none; the next delivery of their body sets it.
alter table branches add column repository text;
alter table hook_deliveries add column event text;
