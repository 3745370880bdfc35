-- Realtime: rows that realtime.send / realtime.broadcast_changes insert
-- into realtime.messages are delivered as broadcasts. The table is not in
-- supabase_realtime (users manage that one), so MadBase streams it through
-- its own insert-only publication.
do $$
begin
  if not exists (select 1 from pg_publication where pubname = 'madbase_realtime_messages') then
    create publication madbase_realtime_messages for table realtime.messages with (publish = 'insert');
  end if;
end
$$;
