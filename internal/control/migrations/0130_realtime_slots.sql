-- Realtime: one logical replication slot per project. confirmed_lsn is the
-- end of the last transaction whose events were queued to every subscriber
-- (never ahead of what PostgreSQL was told); idle marks a stream stopped
-- because nobody was subscribed, so its backlog is skipped, not replayed.
-- No foreign key: the row must outlive a deleted project until its slot is
-- dropped, and db_url_enc (secret.Box, aad "realtime:<ref>:db_url") says where.
create table control.realtime_slots (
  project_ref text primary key,
  slot_name text not null,
  db_url_enc text not null,
  confirmed_lsn bigint not null default 0,
  idle boolean not null default false,
  updated_at timestamptz not null default now()
);
