-- The diff list's default order (last change first, then slug) as an index: a page is read by
-- walking it and stops after the page, instead of sorting every item of the branch (design §11:
-- lists of thousands of items, read by many reviewers at once).
create index branch_items_list_order on branch_items (branch, changed_at desc, slug);
