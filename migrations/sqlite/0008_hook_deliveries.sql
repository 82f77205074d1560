-- Signed hook bodies seen (sqlite; kept equal to ../postgres/0008_hook_deliveries.sql).
--
-- The signature covers the body, not the `X-GitHub-Delivery` header: a captured signed body sent
-- again under a new delivery id would otherwise start new jobs. Each body is remembered with the
-- delivery it first came with; a replay answers with what that delivery started.
create table hook_deliveries (
    body_sha256 text primary key,
    delivery_id text not null,
    received_at text not null
);
