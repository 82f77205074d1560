-- A branch's revision: bumped by every change to its items or decisions, in the same
-- transaction (triggers, so no write path can forget it). The diff list's counts are cached per
-- process by (branch, revision): every reviewer's list shows them, and counting thousands of
-- items with their decisions on each request cost more than the page itself. A replica sees
-- another's writes through the revision it reads from the database.
alter table branches add column revision bigint not null default 0;

create function bump_branch_revision() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        update branches set revision = revision + 1 where name = old.branch;
        return old;
    end if;
    update branches set revision = revision + 1 where name = new.branch;
    return new;
end;
$$;

create trigger branch_items_bump after insert or update or delete on branch_items
    for each row execute function bump_branch_revision();
create trigger reviews_bump after insert or update or delete on reviews
    for each row execute function bump_branch_revision();
