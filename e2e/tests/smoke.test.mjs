// Platform smoke tests: health, the admin API, and how a request finds its
// project (x-project-ref header > <ref>.host subdomain > the apikey's ref >
// default) and is refused with another project's key.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  MADBASE_URL, ALPHA, BETA, admin, client, createProject, deleteProject, newDatabase, uid, jwtPayload,
  loopbackFetch, subdomainURL, subdomainClient,
} from './helpers.mjs';

test('GET /health answers 200 {"status":"ok"}', async () => {
  const res = await fetch(`${MADBASE_URL}/health`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: 'ok' });
});

describe('admin API', () => {
  test('refuses a missing or wrong admin token with 401', async () => {
    assert.equal((await admin('GET', '/admin/v1/projects', undefined, null)).status, 401);
    assert.equal((await admin('GET', '/admin/v1/projects', undefined, 'x'.repeat(40))).status, 401);
  });

  test('lists the harness projects alpha and beta', async () => {
    const res = await admin('GET', '/admin/v1/projects');
    assert.equal(res.status, 200);
    const refs = res.body.map((p) => p.ref);
    assert.ok(refs.includes('alpha') && refs.includes('beta'), `projects: ${refs}`);
  });

  test('creates a project with working keys, reads it, refuses a duplicate, and deletes it', async () => {
    const ref = `gamma-${uid(3)}`;
    const dbURL = await newDatabase();
    const created = await admin('POST', '/admin/v1/projects', {
      ref, name: 'Gamma', db_url: dbURL, auth: { autoconfirm: true },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const p = created.body;
    assert.equal(p.ref, ref);
    assert.equal(p.name, 'Gamma');
    assert.equal(p.status, 'active');
    assert.ok(p.jwt_secret.length >= 32, 'jwt_secret too short');
    assert.match(p.publishable_key, /^sb_publishable_/);
    assert.match(p.secret_key, /^sb_secret_/);
    assert.equal(p.settings.auth.autoconfirm, true);
    for (const [key, role] of [[p.anon_key, 'anon'], [p.service_role_key, 'service_role']]) {
      const claims = jwtPayload(key);
      assert.equal(claims.role, role);
      assert.equal(claims.ref, ref);
      assert.equal(claims.iss, 'madbase');
      assert.ok(claims.exp > Date.now() / 1000, 'key already expired');
    }
    assert.ok(!JSON.stringify(p).includes(new URL(dbURL).password || '\u0000'), 'database password leaked');

    const got = await admin('GET', `/admin/v1/projects/${ref}`);
    assert.equal(got.status, 200);
    assert.equal(got.body.anon_key, p.anon_key);

    const dup = await admin('POST', '/admin/v1/projects', { ref, db_url: dbURL });
    assert.equal(dup.status, 409);

    await deleteProject(ref);
    assert.equal((await admin('GET', `/admin/v1/projects/${ref}`)).status, 404);
  });

  test('refuses an invalid ref with 400 naming the field', async () => {
    const res = await admin('POST', '/admin/v1/projects', { ref: 'Not_A_Ref', db_url: 'postgres://x@127.0.0.1:1/x' });
    assert.equal(res.status, 400);
    assert.match(JSON.stringify(res.body), /ref/);
  });

  test('refuses a database it cannot reach, and registers nothing', async () => {
    const ref = `unreach-${uid(3)}`;
    const res = await admin('POST', '/admin/v1/projects', { ref, db_url: 'postgres://postgres@127.0.0.1:1/none?sslmode=disable' });
    assert.ok(res.status === 502 || res.status === 400, `status ${res.status}`);
    assert.equal((await admin('GET', `/admin/v1/projects/${ref}`)).status, 404);
  });
});

// Tenant-routed surfaces and, for each, a GET that answers 200 on a fresh
// project with the anon key (as on Supabase), and a supabase-js call that
// reports the HTTP status.
const surfaces = [
  {
    name: 'rest', path: '/rest/v1/',
    viaJS: async (c) => (await c.from('madbase_e2e_probe').select('*')).status,
  },
  {
    name: 'storage', path: '/storage/v1/bucket',
    viaJS: async (c) => {
      const { error } = await c.storage.listBuckets();
      return error ? Number(error.status ?? error.statusCode) : 200;
    },
  },
  { name: 'auth', path: '/auth/v1/settings' },
];

// get sends what supabase-js sends (apikey and Authorization: Bearer <key>),
// plus any extra headers; host goes through loopbackFetch.
async function get(path, { key, ref, host, bearer = key } = {}) {
  const headers = {};
  if (key) headers.apikey = key;
  if (bearer) headers.authorization = `Bearer ${bearer}`;
  if (ref) headers['x-project-ref'] = ref;
  const url = host ? `${subdomainURL(host)}${path}` : `${MADBASE_URL}${path}`;
  const res = host ? await loopbackFetch(url, { headers }) : await fetch(url, { headers });
  await res.arrayBuffer();
  return res.status;
}

// A surface is mounted when a bad key for a known project is refused (401);
// the server's catch-all for unmounted paths answers 404 to anything.
async function mounted() {
  const out = [];
  for (const s of surfaces) {
    if ((await get(s.path, { key: 'not-a-key', ref: 'alpha', bearer: null })) === 401) out.push(s);
  }
  return out;
}

describe('routing and keys', async () => {
  const live = await mounted();
  if (live.length === 0) {
    test('no tenant surface is mounted yet; routing is covered by the Go tests of internal/tenant', { skip: true }, () => {});
    return;
  }

  let gamma;
  before(async () => {
    gamma = await createProject('disabled');
    const res = await admin('POST', `/admin/v1/projects/${gamma.ref}/disable`);
    assert.equal(res.status, 200);
  });
  after(async () => { if (gamma) await deleteProject(gamma.ref); });

  for (const s of live) {
    describe(`${s.name} (${s.path})`, () => {
      test('x-project-ref: own key accepted, other project\'s keys refused with 401', async () => {
        assert.equal(await get(s.path, { key: ALPHA.anonKey, ref: 'alpha' }), 200);
        assert.equal(await get(s.path, { key: BETA.anonKey, ref: 'beta' }), 200);
        assert.equal(await get(s.path, { key: ALPHA.anonKey, ref: 'beta' }), 401);
        assert.equal(await get(s.path, { key: ALPHA.serviceKey, ref: 'beta' }), 401);
        assert.equal(await get(s.path, { key: ALPHA.secretKey, ref: 'beta' }), 401);
        assert.equal(await get(s.path, { key: BETA.publishableKey, ref: 'alpha' }), 401);
      });

      test('unknown project 404, disabled project 503', async () => {
        assert.equal(await get(s.path, { key: ALPHA.anonKey, ref: `nosuch-${uid(3)}` }), 404);
        assert.equal(await get(s.path, { key: gamma.anon_key, ref: gamma.ref }), 503);
      });

      test('subdomain: <ref>.localhost routes, and another project\'s key is refused', async () => {
        assert.equal(await get(s.path, { key: ALPHA.anonKey, host: 'alpha' }), 200);
        assert.equal(await get(s.path, { key: BETA.anonKey, host: 'beta' }), 200);
        assert.equal(await get(s.path, { key: ALPHA.anonKey, host: 'beta' }), 401);
      });

      test('the header wins over the subdomain', async () => {
        assert.equal(await get(s.path, { key: ALPHA.anonKey, host: 'beta', ref: 'alpha' }), 200);
        assert.equal(await get(s.path, { key: ALPHA.anonKey, host: 'alpha', ref: 'beta' }), 401);
      });

      test('apikey alone routes to its project (JWT ref claim and opaque keys)', async () => {
        for (const key of [ALPHA.anonKey, ALPHA.publishableKey, BETA.anonKey, BETA.publishableKey, BETA.secretKey]) {
          assert.equal(await get(s.path, { key }), 200, `key ${key.slice(0, 20)}…`);
        }
      });

      test('no project named and no default project: 404', async () => {
        assert.equal(await get(s.path, {}), 404);
      });

      if (s.viaJS) {
        test('through supabase-js: own project served, cross-project key 401, subdomain client routed', async () => {
          assert.notEqual(await s.viaJS(client('alpha')), 401);
          const cross = client('alpha', 'anon', { global: { headers: { 'x-project-ref': 'beta' } } });
          assert.equal(await s.viaJS(cross), 401);
          assert.notEqual(await s.viaJS(subdomainClient('alpha', ALPHA.anonKey)), 401);
          assert.equal(await s.viaJS(subdomainClient('beta', ALPHA.anonKey)), 401);
        });
      }
    });
  }
});
