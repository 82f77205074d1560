-- Browser sessions (PostgreSQL). The cookie carries a random token; only its SHA-256 is stored.
create table sessions (
    token_hash   text primary key,
    user_id      bigint not null references users (id) on delete cascade,
    created_at   text not null,
    expires_at   text not null
);
create index sessions_user on sessions (user_id);
