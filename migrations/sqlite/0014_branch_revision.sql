-- A branch's revision: bumped by every change to its items or decisions, in the same
-- transaction (triggers, so no write path can forget it). The diff list's counts are cached per
-- process by (branch, revision): every reviewer's list shows them, and counting thousands of
-- items with their decisions on each request cost more than the page itself. A replica sees
-- another's writes through the revision it reads from the database.
alter table branches add column revision integer not null default 0;

create trigger branch_items_bump_insert after insert on branch_items
begin update branches set revision = revision + 1 where name = new.branch; end;
create trigger branch_items_bump_update after update on branch_items
begin update branches set revision = revision + 1 where name = new.branch; end;
create trigger branch_items_bump_delete after delete on branch_items
begin update branches set revision = revision + 1 where name = old.branch; end;
create trigger reviews_bump_insert after insert on reviews
begin update branches set revision = revision + 1 where name = new.branch; end;
create trigger reviews_bump_update after update on reviews
begin update branches set revision = revision + 1 where name = new.branch; end;
create trigger reviews_bump_delete after delete on reviews
begin update branches set revision = revision + 1 where name = old.branch; end;
