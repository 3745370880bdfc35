-- Per-session key for refresh-token rotation (GoTrue's column names): each
-- child token is an HMAC of its parent under this key, so a retried refresh
-- can be answered with the same child although only token hashes are stored.
alter table auth.sessions add column if not exists refresh_token_hmac_key text;
alter table auth.sessions add column if not exists refresh_token_counter bigint;

-- Email links are looked up by token hash alone (GET /verify).
create index if not exists users_confirmation_token_idx on auth.users (confirmation_token) where confirmation_token <> '';
create index if not exists users_recovery_token_idx on auth.users (recovery_token) where recovery_token <> '';
create index if not exists users_email_change_token_new_idx on auth.users (email_change_token_new) where email_change_token_new <> '';
create index if not exists users_email_change_token_current_idx on auth.users (email_change_token_current) where email_change_token_current <> '';
create index if not exists users_lower_email_idx on auth.users (lower(email));
create index if not exists flow_state_created_at_idx on auth.flow_state (created_at desc);
