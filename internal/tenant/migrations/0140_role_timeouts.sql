-- Supabase's statement timeouts for the API roles (anon 3s, authenticated
-- 8s), applied per transaction by MadBase as PostgREST applies role
-- settings. Roles are cluster-wide: a timeout someone already set (for all
-- databases) is left alone, and a user allowed to create roles but not to
-- alter these ones gets a notice, not a failed bootstrap.
do $$
declare
  r record;
begin
  for r in select * from (values ('anon', '3s'), ('authenticated', '8s')) as t(role, timeout) loop
    if not exists (
      select 1 from pg_db_role_setting s join pg_roles o on o.oid = s.setrole
      where o.rolname = r.role and s.setdatabase = 0
        and exists (select 1 from unnest(s.setconfig) c where c like 'statement\_timeout=%')
    ) then
      begin
        execute format('alter role %I set statement_timeout = %L', r.role, r.timeout);
      exception when insufficient_privilege then
        raise notice 'statement_timeout of role % not set: %', r.role, sqlerrm;
      end;
    end if;
  end loop;
end
$$;
