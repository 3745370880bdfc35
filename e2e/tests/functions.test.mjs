// Edge functions through supabase-js's functions.invoke: request bodies as
// functions-js encodes them (JSON, text, binary), headers, sub-paths and
// regions, verify_jwt with each kind of key, and error mapping (a function's
// own non-2xx and its crashes are FunctionsHttpError; nothing MadBase answers
// is ever a FunctionsRelayError).
//
// The test functions are Go programs under internal/functions/testdata,
// built here for wasip1 with the go on PATH (the Go harness runs us).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FunctionsHttpError, FunctionsRelayError, FunctionRegion } from '@supabase/supabase-js';
import { MADBASE_URL, ALPHA, admin, alpha, client, freshUser, uid } from './helpers.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const suffix = uid(3);
const names = { echo: `echo-${suffix}`, mirror: `mirror-${suffix}`, trap: `trap-${suffix}`, env: `env-${suffix}` };

function build(guest, dir) {
  const out = join(dir, `${guest}.wasm`);
  execFileSync('go', ['build', '-trimpath', '-ldflags=-s -w', '-o', out, '.'], {
    cwd: join(root, 'internal', 'functions', 'testdata', guest),
    env: { ...process.env, GOOS: 'wasip1', GOARCH: 'wasm', CGO_ENABLED: '0' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return readFileSync(out);
}

async function deploy(name, wasm, query = '') {
  const res = await fetch(`${MADBASE_URL}/admin/v1/projects/alpha/functions/${name}${query}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${process.env.MADBASE_ADMIN_TOKEN}`, 'content-type': 'application/wasm' },
    body: wasm,
  });
  const body = await res.json();
  assert.equal(res.status, 201, `deploy ${name}: ${JSON.stringify(body)}`);
  return body;
}

describe('edge functions', () => {
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'madbase-e2e-wasm-'));
    try {
      const [echo, mirror, trap, env] = ['echo', 'mirror', 'trap', 'env'].map((g) => build(g, dir));
      await deploy(names.echo, echo);
      await deploy(names.mirror, mirror);
      await deploy(names.trap, trap, '?verify_jwt=false');
      await deploy(names.env, env);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, { timeout: 300_000 });

  after(async () => {
    for (const n of Object.values(names)) await admin('DELETE', `/admin/v1/projects/alpha/functions/${n}`);
  });

  test('a JSON body arrives as JSON and a JSON answer is parsed', async () => {
    const { data, error } = await alpha().functions.invoke(names.echo, { body: { hello: 'world', n: 1 } });
    assert.equal(error, null);
    assert.equal(data.method, 'POST');
    assert.equal(data.path, `/${names.echo}`);
    assert.equal(data.content_type, 'application/json');
    assert.deepEqual(JSON.parse(data.body), { hello: 'world', n: 1 });
  });

  test('a string body arrives as text/plain', async () => {
    const { data, error } = await alpha().functions.invoke(names.echo, { body: 'plain text ✓' });
    assert.equal(error, null);
    assert.equal(data.content_type, 'text/plain');
    assert.equal(data.body, 'plain text ✓');
  });

  test('a binary body comes back byte for byte as a Blob', async () => {
    const bytes = new Uint8Array(1024).map((_, i) => (i * 7) % 256);
    const { data, error, response } = await alpha().functions.invoke(names.mirror, { body: new Blob([bytes]) });
    assert.equal(error, null);
    assert.equal(response.headers.get('content-type'), 'application/octet-stream');
    assert.ok(data instanceof Blob, `data is ${typeof data}`);
    assert.deepEqual(new Uint8Array(await data.arrayBuffer()), bytes);
  });

  test('a text answer is returned as a string', async () => {
    const { data, error } = await alpha().functions.invoke(names.mirror, { body: 'as text', headers: { 'content-type': 'text/plain' } });
    assert.equal(error, null);
    assert.equal(data, 'as text');
  });

  test('method, sub-path, query, headers and region reach the function', async () => {
    const { data, error } = await alpha().functions.invoke(`${names.echo}/tasks/42?x=1&y=two`, {
      method: 'GET',
      headers: { 'x-custom': 'custom-value' },
      region: FunctionRegion.EuWest1,
    });
    assert.equal(error, null);
    assert.equal(data.method, 'GET');
    assert.equal(data.path, `/${names.echo}/tasks/42`);
    const q = new URLSearchParams(data.query);
    assert.equal(q.get('x'), '1');
    assert.equal(q.get('y'), 'two');
    assert.equal(q.get('forceFunctionRegion'), 'eu-west-1');
    assert.equal(data.headers['x-custom'], 'custom-value');
    assert.equal(data.headers['x-region'], 'eu-west-1');
    assert.equal(data.headers.apikey, ALPHA.anonKey);
    assert.equal(data.headers.authorization, `Bearer ${ALPHA.anonKey}`);
    assert.ok(data.headers['x-client-info']?.startsWith('supabase-js'), JSON.stringify(data.headers));
  });

  test('the function\'s own headers come back', async () => {
    const { error, response } = await alpha().functions.invoke(names.mirror, { body: 'x', headers: { 'x-test': 'round-trip' } });
    assert.equal(error, null);
    assert.equal(response.headers.get('x-test-echo'), 'round-trip');
    assert.equal(response.headers.get('x-method'), 'POST');
  });

  test('verify_jwt accepts a publishable key without a session (apikey only)', async () => {
    const { data, error } = await client('alpha', 'publishable').functions.invoke(names.env);
    assert.equal(error, null);
    assert.equal(data.HTTP_AUTHORIZATION, undefined); // supabase-js sends no Authorization with sb_ keys
    assert.equal(JSON.parse(data.JWT_CLAIMS).role, 'anon');
    assert.equal(data.SUPABASE_ANON_KEY, ALPHA.anonKey);
    assert.ok(data.SUPABASE_URL.startsWith('http'), data.SUPABASE_URL);
  });

  test('a signed-in user\'s claims reach the function', async () => {
    const u = await freshUser('alpha');
    const { data, error } = await u.client.functions.invoke(names.env);
    assert.equal(error, null);
    const claims = JSON.parse(data.JWT_CLAIMS);
    assert.equal(claims.sub, u.user.id);
    assert.equal(claims.role, 'authenticated');
    assert.equal(data.HTTP_AUTHORIZATION, `Bearer ${u.session.access_token}`);
  });

  test('a non-2xx answer of the function is a FunctionsHttpError with the response', async () => {
    const { data, error } = await alpha().functions.invoke(`${names.mirror}?status=418`, { body: { teapot: true } });
    assert.equal(data, null);
    assert.ok(error instanceof FunctionsHttpError, `error is ${error?.name}`);
    assert.equal(error.context.status, 418);
    assert.deepEqual(await error.context.json(), { teapot: true });
  });

  test('a crashing function is a FunctionsHttpError 500 WORKER_ERROR, not a relay error', async () => {
    const { error } = await alpha().functions.invoke(`${names.trap}?panic`);
    assert.ok(error instanceof FunctionsHttpError, `error is ${error?.name}`);
    assert.ok(!(error instanceof FunctionsRelayError));
    assert.equal(error.context.status, 500);
    assert.equal(error.context.headers.get('x-relay-error'), null);
    assert.equal(error.context.headers.get('sb-error-code'), 'WORKER_ERROR');
    assert.equal((await error.context.json()).code, 'WORKER_ERROR');
    // The crash is in the function's logs and the server carries on.
    const logs = await admin('GET', `/admin/v1/projects/alpha/functions/${names.trap}/logs`);
    assert.equal(logs.status, 200);
    assert.ok(logs.body.some((e) => e.status === 500 && e.lines.some((l) => l.includes('panic: boom'))), JSON.stringify(logs.body));
    const again = await alpha().functions.invoke(names.echo, { body: 'ok' });
    assert.equal(again.error, null);
  });

  test('a bad token is a 401 FunctionsHttpError with sb-error-code, not a relay error', async () => {
    const c = client('alpha', 'anon', { global: { headers: { Authorization: 'Bearer not.a.jwt' } } });
    const { error } = await c.functions.invoke(names.echo, { body: {} });
    assert.ok(error instanceof FunctionsHttpError, `error is ${error?.name}`);
    assert.equal(error.context.status, 401);
    assert.ok(error.context.headers.get('sb-error-code')?.startsWith('UNAUTHORIZED_'));
    assert.deepEqual(await error.context.json(), { code: 401, message: 'Invalid JWT' });

    const bare = await fetch(`${MADBASE_URL}/functions/v1/${names.echo}`, { method: 'POST', headers: { 'x-project-ref': 'alpha' } });
    assert.equal(bare.status, 401);
    assert.equal(bare.headers.get('sb-error-code'), 'UNAUTHORIZED_NO_AUTH_HEADER');
    assert.equal(bare.headers.get('x-relay-error'), null);
  });

  test('an unknown function is a 404 FunctionsHttpError', async () => {
    const { error } = await alpha().functions.invoke(`missing-${suffix}`);
    assert.ok(error instanceof FunctionsHttpError, `error is ${error?.name}`);
    assert.equal(error.context.status, 404);
    assert.equal(error.context.headers.get('sb-error-code'), 'NOT_FOUND');
  });

  test('browsers get CORS preflights answered', async () => {
    const res = await fetch(`${MADBASE_URL}/functions/v1/${names.echo}`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, x-client-info, apikey, content-type' },
    });
    assert.ok(res.status === 200 || res.status === 204, `status ${res.status}`);
    assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example.com');
    assert.match(res.headers.get('access-control-allow-headers'), /apikey/);
  });
});
