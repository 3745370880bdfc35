create table control.projects (
  ref text primary key check (ref ~ '^[a-z][a-z0-9-]{2,39}$'),
  name text not null,
  status text not null default 'active' check (status in ('active', 'disabled', 'deleted')),
  -- *_enc columns hold secret.Box ciphertext bound to (ref, column).
  db_url_enc text not null,
  jwt_secret_enc text not null,
  anon_key_enc text not null,
  service_role_key_enc text not null,
  publishable_key_enc text not null,
  secret_key_enc text not null,
  -- Lookups of opaque keys go by SHA-256 so the plaintext is not indexed.
  publishable_key_hash text not null unique,
  secret_key_hash text not null unique,
  old_jwt_secret_enc text,
  old_jwt_secret_until timestamptz,
  settings jsonb not null default '{}',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz
);

create table control.secrets (
  project_ref text not null references control.projects (ref) on delete cascade,
  name text not null,
  value_enc text not null,
  digest text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (project_ref, name)
);
