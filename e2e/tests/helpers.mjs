// Shared helpers for the e2e test files. The Go harness (e2e/e2e_test.go)
// starts madbase with projects "alpha" and "beta" and passes, in the
// environment:
//
//   MADBASE_URL                        e.g. http://127.0.0.1:41234
//   MADBASE_ADMIN_TOKEN                bearer token for /admin/v1
//   ALPHA_ANON_KEY, ALPHA_SERVICE_KEY  legacy JWT keys (anon, service_role)
//   ALPHA_PUBLISHABLE_KEY, ALPHA_SECRET_KEY   opaque sb_publishable_/sb_secret_ keys
//   ALPHA_JWT_SECRET                   to sign custom tokens in tests
//   ALPHA_DB_URL                       superuser URL of alpha's database
//   BETA_…                             the same for beta (on another PostgreSQL server)
//   E2E_DB_FACTORY                     POST here for a fresh empty database: {"db_url": …}
//
// Import what you need:
//
//   import { alpha, alphaService, freshUser } from './helpers.mjs';

import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { createClient } from '@supabase/supabase-js';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these tests through the Go harness (go test ./e2e/ or make test)`);
  return v;
}

/** Base URL of the madbase under test, without a trailing slash. */
export const MADBASE_URL = need('MADBASE_URL').replace(/\/+$/, '');
export const ADMIN_TOKEN = need('MADBASE_ADMIN_TOKEN');

/** Keys and database URLs of a project the harness created ("alpha" or "beta"). */
export function project(ref) {
  const up = ref.toUpperCase();
  return {
    ref,
    anonKey: need(`${up}_ANON_KEY`),
    serviceKey: need(`${up}_SERVICE_KEY`),
    publishableKey: need(`${up}_PUBLISHABLE_KEY`),
    secretKey: need(`${up}_SECRET_KEY`),
    jwtSecret: need(`${up}_JWT_SECRET`),
    dbURL: need(`${up}_DB_URL`),
  };
}

export const ALPHA = project('alpha');
export const BETA = project('beta');

// Node has no browser storage and these clients live for one test: keep
// sessions in memory and run no refresh timers that would hold the process.
const nodeAuth = { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false };

/**
 * A supabase-js client for a project. key is a key string or one of
 * 'anon' | 'service' | 'publishable' | 'secret'. options are createClient's
 * (merged over Node-friendly auth defaults).
 */
export function client(ref, key = 'anon', options = {}) {
  const p = typeof ref === 'string' ? project(ref) : ref;
  const k = { anon: p.anonKey, service: p.serviceKey, publishable: p.publishableKey, secret: p.secretKey }[key] ?? key;
  return createClient(MADBASE_URL, k, { ...options, auth: { ...nodeAuth, ...(options.auth ?? {}) } });
}

export const alpha = (options) => client('alpha', 'anon', options);
export const alphaService = (options) => client('alpha', 'service', options);
export const beta = (options) => client('beta', 'anon', options);
export const betaService = (options) => client('beta', 'service', options);

/** A random string usable in refs, emails and names. */
export function uid(n = 6) {
  return randomBytes(n).toString('hex');
}

export function uniqueEmail(prefix = 'user') {
  return `${prefix}-${uid()}@example.com`;
}

/**
 * Signs up a new user (the harness turns autoconfirm on, so a session comes
 * back at once) and returns { client, email, password, user, session }, where
 * client is signed in as that user.
 */
export async function freshUser(ref = 'alpha', { email = uniqueEmail(), password = `Pw-${uid(8)}`, data } = {}) {
  const c = client(ref);
  const { data: up, error } = await c.auth.signUp({ email, password, options: data ? { data } : undefined });
  if (error) throw new Error(`sign-up of ${email} on ${typeof ref === 'string' ? ref : ref.ref} failed: ${error.message}`);
  let session = up.session;
  if (!session) {
    const { data: inData, error: inErr } = await c.auth.signInWithPassword({ email, password });
    if (inErr) throw new Error(`sign-in of ${email} failed: ${inErr.message}`);
    session = inData.session;
  }
  return { client: c, email, password, user: session.user, session };
}

/**
 * Calls the admin API; returns { status, body } with body parsed as JSON when
 * it is JSON. token defaults to the harness's admin token (pass null for none).
 */
export async function admin(method, path, body, token = ADMIN_TOKEN) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(MADBASE_URL + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let parsed = text;
  try { parsed = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A fresh, empty database on the second cluster; returns its URL. */
export async function newDatabase() {
  const res = await fetch(need('E2E_DB_FACTORY'), { method: 'POST' });
  if (!res.ok) throw new Error(`database factory: ${res.status} ${await res.text()}`);
  return (await res.json()).db_url;
}

/**
 * Creates a project on a fresh database through the admin API and returns
 * the API's answer ({ref, anon_key, service_role_key, publishable_key,
 * secret_key, jwt_secret, …}). extra is merged into the request body
 * (settings sections such as auth). Delete it with deleteProject.
 */
export async function createProject(prefix = 'p', extra = {}) {
  const ref = `${prefix}-${uid(4)}`;
  const res = await admin('POST', '/admin/v1/projects', { ref, name: ref, db_url: await newDatabase(), ...extra });
  if (res.status !== 201) throw new Error(`create project ${ref}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

export async function deleteProject(ref) {
  const res = await admin('DELETE', `/admin/v1/projects/${ref}?hard=true`);
  if (res.status !== 204) throw new Error(`delete project ${ref}: ${res.status} ${JSON.stringify(res.body)}`);
}

/**
 * A fetch for clients whose URL names a host that does not resolve, such as
 * http://alpha.localhost:PORT: it connects to MADBASE_URL's address and sends
 * the URL's host in the Host header, as a browser would. (Node's fetch
 * neither resolves *.localhost nor lets a Host header through.)
 *
 *   createClient(`http://alpha.localhost:${port}`, key, { global: { fetch: loopbackFetch } })
 */
export async function loopbackFetch(input, init) {
  const req = new Request(input, init);
  const target = new URL(req.url);
  const via = new URL(MADBASE_URL);
  const headers = {};
  for (const [k, v] of req.headers) headers[k] = v;
  headers.host = target.host;
  const body = req.body ? Buffer.from(await req.arrayBuffer()) : undefined;
  if (body) headers['content-length'] = String(body.length);
  return new Promise((resolve, reject) => {
    const r = http.request({
      host: via.hostname,
      port: via.port,
      method: req.method,
      path: target.pathname + target.search,
      headers,
      signal: req.signal,
    }, (res) => {
      const h = new Headers();
      for (const [k, v] of Object.entries(res.headers)) {
        for (const one of [].concat(v)) h.append(k, one);
      }
      const empty = [101, 204, 205, 304].includes(res.statusCode) || req.method === 'HEAD';
      if (empty) res.resume();
      resolve(new Response(empty ? null : Readable.toWeb(res), { status: res.statusCode, statusText: res.statusMessage, headers: h }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

/** The URL of project ref reached by subdomain, e.g. http://alpha.localhost:41234. */
export function subdomainURL(ref) {
  const u = new URL(MADBASE_URL);
  return `${u.protocol}//${ref}.localhost:${u.port}`;
}

/** A supabase-js client that reaches its project by subdomain only. */
export function subdomainClient(ref, key, options = {}) {
  return createClient(subdomainURL(ref), key, {
    ...options,
    global: { ...(options.global ?? {}), fetch: loopbackFetch },
    auth: { ...nodeAuth, ...(options.auth ?? {}) },
  });
}

/** Decodes a JWT's payload without verifying it. */
export function jwtPayload(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}
