-- Version texts, compressed (zstd): `packed` holds config, data and metadata, each as stored in
-- `versions` before. Chartgate keeps only the versions something points at (items, decisions,
-- sync items, baselines the target moved away from), so this table stays small; the rows of
-- `versions` are moved here at start-up, and `versions` is left empty.
create table version_texts (
    hash       text primary key,
    slug       text not null,
    packed     bytea not null,
    created_at text not null
);
