// Realtime with the real supabase-js: postgres_changes (*/INSERT/UPDATE/
// DELETE, filters, RLS per user), broadcast (self, ack, REST), presence
// (sync/join/leave), private channels (allowed/denied), removeChannel.
// Tables are created with psql on alpha's database under unique names.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import { ALPHA, client, uid } from './helpers.mjs';

function sql(q) {
  execFileSync('psql', [ALPHA.dbURL, '-v', 'ON_ERROR_STOP=1', '-q', '-c', q], { stdio: ['ignore', 'ignore', 'pipe'] });
}

function sign(claims) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const head = enc({ alg: 'HS256', typ: 'JWT' });
  const body = enc(claims);
  const sig = createHmac('sha256', ALPHA.jwtSecret).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

function userToken(sub) {
  const now = Math.floor(Date.now() / 1000);
  return sign({ sub, role: 'authenticated', aud: 'authenticated', ref: 'alpha', iat: now, exp: now + 3600 });
}

/**
 * A client whose realtime channels authenticate as user sub (or anon). As
 * Supabase's docs advise for Realtime Authorization, the token is set
 * before any channel subscribes, so the join carries it.
 */
async function rtClient(sub) {
  const opts = sub ? { accessToken: async () => userToken(sub) } : {};
  const c = client('alpha', 'anon', opts);
  await c.realtime.setAuth();
  return c;
}

/** Subscribes and resolves with the final status (SUBSCRIBED or an error). */
function subscribe(channel) {
  return new Promise((resolve) => {
    channel.subscribe((status, err) => {
      if (status === 'SUBSCRIBED') resolve({ status });
      else if (status === 'CHANNEL_ERROR' || status === 'TIMED_OUT') resolve({ status, err });
    });
  });
}

/** Collects events pushed by a listener; next() waits for the next one. */
function collector() {
  const items = [];
  const waiters = [];
  return {
    items,
    push(x) {
      items.push(x);
      for (const w of waiters.splice(0)) w();
    },
    async next(pred = () => true, ms = 10000) {
      const deadline = Date.now() + ms;
      for (;;) {
        const i = items.findIndex(pred);
        if (i >= 0) return items.splice(i, 1)[0];
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`no matching event within ${ms} ms; have ${JSON.stringify(items)}`);
        await new Promise((r) => { waiters.push(r); setTimeout(r, left); });
      }
    },
  };
}

const clients = [];
function track(c) { clients.push(c); return c; }

after(async () => {
  for (const c of clients) await c.removeAllChannels();
});

describe('realtime postgres_changes', () => {
  const table = `rt_todos_${uid(4)}`;
  before(() => {
    sql(`create table public.${table} (id bigint primary key, owner uuid, title text, done bool default false,
           tags text[], meta jsonb, at timestamptz default '2025-05-01 12:00:00.5+00');
         alter publication supabase_realtime add table public.${table};`);
  });

  test('realtime: */INSERT/UPDATE/DELETE with and without filter, typed values', async () => {
    const c = track(await rtClient());
    const all = collector();
    const inserts = collector();
    const filtered = collector();
    const ch = c.channel(`db-${uid()}`)
      .on('postgres_changes', { event: '*', schema: 'public', table }, (p) => all.push(p))
      .on('postgres_changes', { event: 'INSERT', schema: 'public', table }, (p) => inserts.push(p))
      .on('postgres_changes', { event: 'UPDATE', schema: 'public', table, filter: 'title=eq.hello' }, (p) => filtered.push(p));
    assert.equal((await subscribe(ch)).status, 'SUBSCRIBED');

    sql(`insert into public.${table} (id, title, done, tags, meta) values (1, 'x', true, '{a,b}', '{"k":1}')`);
    const ins = await all.next();
    assert.equal(ins.eventType, 'INSERT');
    assert.equal(ins.schema, 'public');
    assert.equal(ins.table, table);
    assert.deepEqual(ins.new, { id: 1, owner: null, title: 'x', done: true, tags: ['a', 'b'], meta: { k: 1 }, at: '2025-05-01T12:00:00.5+00:00' });
    assert.deepEqual(ins.old, {});
    assert.equal(ins.errors, null);
    assert.match(ins.commit_timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal((await inserts.next()).new.id, 1);

    sql(`update public.${table} set title = 'hello' where id = 1`);
    const upd = await all.next();
    assert.equal(upd.eventType, 'UPDATE');
    assert.equal(upd.new.title, 'hello');
    assert.deepEqual(upd.old, { id: 1 });
    assert.equal((await filtered.next()).new.title, 'hello');

    sql(`update public.${table} set title = 'other' where id = 1`);
    assert.equal((await all.next()).new.title, 'other');

    sql(`delete from public.${table} where id = 1`);
    const del = await all.next();
    assert.equal(del.eventType, 'DELETE');
    assert.deepEqual(del.old, { id: 1 });
    assert.deepEqual(del.new, {});
    // The filtered UPDATE binding saw only the matching update; INSERT only the insert.
    assert.equal(filtered.items.length, 0);
    assert.equal(inserts.items.length, 0);
    assert.equal(await c.removeChannel(ch), 'ok');
  });

  test('realtime: RLS delivers each user only the rows it may select', async () => {
    const rls = `rt_rls_${uid(4)}`;
    sql(`create table public.${rls} (id bigint primary key, owner uuid not null, body text);
         alter table public.${rls} enable row level security;
         create policy own on public.${rls} for select to authenticated using (owner = auth.uid());
         alter publication supabase_realtime add table public.${rls};`);
    const [u1, u2] = [randomUUID(), randomUUID()];
    const got = {};
    for (const u of [u1, u2]) {
      const c = track(await rtClient(u));
      got[u] = collector();
      const ch = c.channel(`rls-${uid()}`).on('postgres_changes', { event: 'INSERT', schema: 'public', table: rls }, (p) => got[u].push(p));
      assert.equal((await subscribe(ch)).status, 'SUBSCRIBED');
    }
    sql(`insert into public.${rls} values (1, '${u1}', 'a'), (2, '${u2}', 'b'), (3, '${u1}', 'c')`);
    assert.equal((await got[u1].next()).new.id, 1);
    assert.equal((await got[u1].next()).new.id, 3);
    assert.equal((await got[u2].next()).new.id, 2);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(got[u1].items.length + got[u2].items.length, 0, 'a user saw another user\'s row');
  });

  test('realtime: a table outside the publication gives a system error', async () => {
    const hidden = `rt_hidden_${uid(4)}`;
    sql(`create table public.${hidden} (id int primary key)`);
    const c = track(await rtClient());
    const sys = collector();
    const ch = c.channel(`hidden-${uid()}`)
      .on('system', {}, (p) => sys.push(p))
      .on('postgres_changes', { event: '*', schema: 'public', table: hidden }, () => {});
    assert.equal((await subscribe(ch)).status, 'SUBSCRIBED');
    const m = await sys.next((p) => p.status === 'error');
    assert.match(m.message, /Unable to subscribe to changes/);
  });
});

describe('realtime broadcast and presence', () => {
  test('realtime: broadcast with self and ack reaches everyone', async () => {
    const name = `room-${uid()}`;
    const a = track(await rtClient());
    const b = track(await rtClient());
    const gotA = collector();
    const gotB = collector();
    const chA = a.channel(name, { config: { broadcast: { self: true, ack: true } } }).on('broadcast', { event: 'cursor' }, (p) => gotA.push(p));
    const chB = b.channel(name).on('broadcast', { event: '*' }, (p) => gotB.push(p));
    assert.equal((await subscribe(chA)).status, 'SUBSCRIBED');
    assert.equal((await subscribe(chB)).status, 'SUBSCRIBED');
    assert.equal(await chA.send({ type: 'broadcast', event: 'cursor', payload: { x: 1 } }), 'ok');
    for (const got of [gotA, gotB]) {
      const m = await got.next();
      assert.equal(m.event, 'cursor');
      assert.deepEqual(m.payload, { x: 1 });
    }
    // REST: httpSend from a client that is not subscribed.
    const c = track(await rtClient());
    const rest = c.channel(name);
    const res = await rest.httpSend('news', { y: 2 });
    assert.equal(res.success, true);
    assert.deepEqual((await gotB.next((m) => m.event === 'news')).payload, { y: 2 });
  });

  test('realtime: presence sync, join and leave', async () => {
    const name = `lobby-${uid()}`;
    const a = track(await rtClient());
    const b = track(await rtClient());
    const events = collector();
    const chA = a.channel(name, { config: { presence: { key: 'ann' } } })
      .on('presence', { event: 'sync' }, () => events.push({ event: 'sync', state: chA.presenceState() }))
      .on('presence', { event: 'join' }, (p) => events.push({ event: 'join', key: p.key }))
      .on('presence', { event: 'leave' }, (p) => events.push({ event: 'leave', key: p.key }));
    assert.equal((await subscribe(chA)).status, 'SUBSCRIBED');
    assert.equal(await chA.track({ name: 'ann' }), 'ok');
    await events.next((e) => e.event === 'join' && e.key === 'ann');

    const chB = b.channel(name, { config: { presence: { key: 'bob' } } }).on('presence', { event: 'sync' }, () => {});
    assert.equal((await subscribe(chB)).status, 'SUBSCRIBED');
    assert.equal(await chB.track({ name: 'bob' }), 'ok');
    await events.next((e) => e.event === 'join' && e.key === 'bob');
    const synced = await events.next((e) => e.event === 'sync' && e.state.bob);
    assert.equal(synced.state.ann[0].name, 'ann');
    assert.equal(synced.state.bob[0].name, 'bob');

    assert.equal(await b.removeChannel(chB), 'ok');
    await events.next((e) => e.event === 'leave' && e.key === 'bob');
  });

  test('realtime: private channels are authorised by RLS on realtime.messages', async () => {
    const u = randomUUID();
    sql(`create policy "rt e2e ${u}" on realtime.messages for select to authenticated
           using (realtime.topic() = 'priv-' || auth.uid()::text)`);
    const topic = `priv-${u}`;
    const denied = track(await rtClient());
    const d = await subscribe(denied.channel(topic, { config: { private: true } }));
    assert.equal(d.status, 'CHANNEL_ERROR');
    assert.match(String(d.err?.message), /Unauthorized/);
    await denied.removeAllChannels();

    const allowed = track(await rtClient(u));
    const got = collector();
    const ch = allowed.channel(topic, { config: { private: true } }).on('broadcast', { event: 'hi' }, (p) => got.push(p));
    const r = await subscribe(ch);
    assert.equal(r.status, 'SUBSCRIBED', String(r.err));
    // The service role may send to it over REST.
    const svc = track(client('alpha', 'service'));
    assert.equal((await svc.channel(topic, { config: { private: true } }).httpSend('hi', { ok: true })).success, true);
    assert.deepEqual((await got.next()).payload, { ok: true });
  });
});
