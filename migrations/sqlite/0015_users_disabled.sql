-- A user can be disabled (`chartgate users disable EMAIL`): they cannot sign in, and every
-- lookup that authenticates a request (session, API token, trusted-proxy email) skips them, so
-- their sessions and tokens stop at the next request. 0/1 like every boolean here.
alter table users add column disabled integer not null default 0;
