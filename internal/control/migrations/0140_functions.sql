-- Edge functions. A module's bytes live once per content hash in
-- function_blobs (nodes cache them under MADBASE_DATA_DIR/functions/); every
-- deploy adds a function_versions row; functions.version names the version
-- being served, so a rollback is one update. Deleting a project deletes its
-- functions and versions; blobs no version references are collected.
create table control.function_blobs (
  sha256 text primary key,
  wasm bytea not null,
  size bigint not null,
  created_at timestamptz not null default now()
);

create table control.functions (
  project_ref text not null references control.projects (ref) on delete cascade,
  name text not null,
  version integer not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (project_ref, name)
);

create table control.function_versions (
  project_ref text not null,
  name text not null,
  version integer not null,
  sha256 text not null references control.function_blobs (sha256),
  size bigint not null,
  -- The manifest without env; env_enc is its env as secret.Box ciphertext
  -- bound to "function:<ref>:<name>:<version>" ('' when there is none).
  manifest jsonb not null,
  env_enc text not null default '',
  created_at timestamptz not null default now(),
  primary key (project_ref, name, version),
  foreign key (project_ref, name) references control.functions (project_ref, name) on delete cascade
);

create index function_versions_sha256 on control.function_versions (sha256);
