// Auth (GoTrue-compatible /auth/v1) through the real supabase-js: password
// sign-up/in, refresh, user, sign-out, anonymous sign-in, email OTP and
// recovery via mail captured by a small SMTP server started here, PKCE,
// the admin user API and onAuthStateChange.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createClient, isAuthApiError } from '@supabase/supabase-js';
import {
  ALPHA, admin, alpha, alphaService, client, createProject, deleteProject, freshUser, jwtPayload, loopbackFetch,
  subdomainURL, uniqueEmail, uid,
} from './helpers.mjs';

// mailSink is a minimal SMTP server: it accepts every message and keeps it
// by recipient, so a test can read the link and code GoTrue-style mails carry.
function mailSink() {
  const inbox = new Map();
  const waiters = [];
  const server = net.createServer((sock) => {
    let buf = '';
    let inData = false;
    let rcpts = [];
    let data = '';
    const reply = (s) => sock.write(s + '\r\n');
    reply('220 sink ESMTP');
    sock.on('data', (chunk) => {
      buf += chunk.toString('latin1');
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          data += buf.slice(0, end);
          buf = buf.slice(end + 5);
          inData = false;
          for (const r of rcpts) {
            const list = inbox.get(r) ?? [];
            list.push(data);
            inbox.set(r, list);
          }
          rcpts = [];
          data = '';
          reply('250 queued');
          for (const w of waiters.splice(0)) w();
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') reply('250 sink');
        else if (verb === 'RCPT') { rcpts.push(line.match(/<([^>]*)>/)[1].toLowerCase()); reply('250 ok'); }
        else if (verb === 'DATA') { inData = true; reply('354 go ahead'); }
        else if (verb === 'QUIT') { reply('221 bye'); sock.end(); }
        else reply('250 ok');
      }
    });
    sock.on('error', () => {});
  });
  return {
    listen: () => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port))),
    close: () => new Promise((resolve) => server.close(resolve)),
    // next waits for the next unread message to addr and decodes it.
    async next(addr, timeoutMs = 10000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const list = inbox.get(addr.toLowerCase());
        if (list && list.length) return decode(list.shift());
        if (Date.now() > deadline) throw new Error(`no mail to ${addr}`);
        await new Promise((r) => { waiters.push(r); setTimeout(r, 200); });
      }
    },
  };
}

// decode undoes quoted-printable and HTML escaping and extracts the verify
// link and the 6-digit code.
function decode(raw) {
  const text = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16)))
    .replace(/&amp;/g, '&');
  const link = text.match(/https?:\/\/[^\s"'<>]*\/auth\/v1\/verify\?[^\s"'<>)]+/)?.[0];
  const code = text.match(/code:\s*(?:<strong>)?(\d{6})\b/)?.[1];
  const subject = text.match(/^Subject: (.*)$/m)?.[1];
  return { raw: text, link, code, subject };
}

// follow opens an emailed link as a browser would, without following the
// redirect, and returns the Location.
async function follow(link) {
  const res = await loopbackFetch(link, { redirect: 'manual' });
  await res.arrayBuffer();
  assert.equal(res.status, 303, `verify link answered ${res.status}`);
  return res.headers.get('location');
}

describe('password accounts (project alpha, autoconfirm on)', () => {
  test('signUp returns a session; a second signUp is user_already_exists', async () => {
    const email = uniqueEmail('signup');
    const c = alpha();
    const { data, error } = await c.auth.signUp({ email, password: 'Secret-pw-1', options: { data: { plan: 'free' } } });
    assert.equal(error, null);
    assert.ok(data.session?.access_token && data.session.refresh_token);
    assert.equal(data.user.email, email);
    assert.equal(data.user.phone, '');
    assert.equal(data.user.identities.length, 1);
    assert.equal(data.user.user_metadata.plan, 'free');
    assert.equal(data.user.app_metadata.provider, 'email');
    const claims = jwtPayload(data.session.access_token);
    assert.equal(claims.aud, 'authenticated');
    assert.equal(claims.role, 'authenticated');
    assert.equal(claims.sub, data.user.id);
    assert.ok(claims.session_id);

    const again = await alpha().auth.signUp({ email, password: 'Secret-pw-1' });
    assert.ok(isAuthApiError(again.error), String(again.error));
    assert.equal(again.error.code, 'user_already_exists');
    assert.equal(again.error.status, 422);
    assert.match(again.error.message, /^User already registered/);
  });

  test('weak password is an AuthWeakPasswordError with reasons', async () => {
    const { error } = await alpha().auth.signUp({ email: uniqueEmail('weak'), password: 'abc' });
    assert.equal(error.name, 'AuthWeakPasswordError');
    assert.deepEqual(error.reasons, ['length']);
  });

  test('signInWithPassword, wrong password, refreshSession, getUser, updateUser, signOut', async () => {
    const u = await freshUser();
    const c = alpha();
    const bad = await c.auth.signInWithPassword({ email: u.email, password: 'wrong-password' });
    assert.ok(isAuthApiError(bad.error));
    assert.equal(bad.error.code, 'invalid_credentials');
    assert.equal(bad.error.status, 400);
    const unknown = await c.auth.signInWithPassword({ email: uniqueEmail('nobody'), password: 'wrong-password' });
    assert.equal(unknown.error.code, 'invalid_credentials');

    const { data, error } = await c.auth.signInWithPassword({ email: u.email, password: u.password });
    assert.equal(error, null);
    assert.equal(data.user.email, u.email);
    assert.equal(typeof data.user.last_sign_in_at, 'string');

    const r = await c.auth.refreshSession();
    assert.equal(r.error, null);
    assert.notEqual(r.data.session.refresh_token, data.session.refresh_token);
    assert.equal(jwtPayload(r.data.session.access_token).session_id, jwtPayload(data.session.access_token).session_id);

    const got = await c.auth.getUser();
    assert.equal(got.error, null);
    assert.equal(got.data.user.id, data.user.id);

    const upd = await c.auth.updateUser({ data: { nickname: 'neo' } });
    assert.equal(upd.error, null);
    assert.equal(upd.data.user.user_metadata.nickname, 'neo');

    const oldToken = r.data.session.access_token;
    assert.equal((await c.auth.signOut()).error, null);
    const after = await alpha().auth.getUser(oldToken);
    assert.equal(after.error?.name, 'AuthSessionMissingError');
    const re = await alpha().auth.refreshSession({ refresh_token: r.data.session.refresh_token });
    assert.equal(re.error?.code, 'refresh_token_not_found');
  });

  test('publishable key works like the anon key', async () => {
    const c = client('alpha', 'publishable');
    const { data, error } = await c.auth.signUp({ email: uniqueEmail('pub'), password: 'Secret-pw-1' });
    assert.equal(error, null);
    assert.ok(data.session);
  });

  test('onAuthStateChange fires SIGNED_IN, TOKEN_REFRESHED, USER_UPDATED, SIGNED_OUT', async () => {
    const u = await freshUser();
    const c = alpha();
    const events = [];
    const { data: sub } = c.auth.onAuthStateChange((event) => { events.push(event); });
    await c.auth.signInWithPassword({ email: u.email, password: u.password });
    await c.auth.refreshSession();
    await c.auth.updateUser({ data: { x: 1 } });
    await c.auth.signOut();
    await new Promise((r) => setTimeout(r, 50));
    sub.subscription.unsubscribe();
    for (const e of ['SIGNED_IN', 'TOKEN_REFRESHED', 'USER_UPDATED', 'SIGNED_OUT']) {
      assert.ok(events.includes(e), `missing ${e} in ${events}`);
    }
  });
});

describe('admin user API (service_role and secret key)', () => {
  test('createUser, listUsers with paging, getUserById, deleteUser; anon key is not_admin', async () => {
    const svc = alphaService();
    const email = uniqueEmail('admin');
    const { data: created, error } = await svc.auth.admin.createUser({ email, password: 'Secret-pw-1', email_confirm: true });
    assert.equal(error, null);
    assert.equal(created.user.email, email);
    const signIn = await alpha().auth.signInWithPassword({ email, password: 'Secret-pw-1' });
    assert.equal(signIn.error, null);

    const dup = await svc.auth.admin.createUser({ email });
    assert.equal(dup.error?.code, 'email_exists');

    await svc.auth.admin.createUser({ email: uniqueEmail('admin2') });
    const page = await svc.auth.admin.listUsers({ page: 1, perPage: 1 });
    assert.equal(page.error, null);
    assert.equal(page.data.users.length, 1);
    assert.ok(page.data.total >= 2, `total ${page.data.total}`);
    assert.equal(page.data.nextPage, 2);
    assert.ok(page.data.lastPage >= 2);

    const viaSecret = await client('alpha', 'secret').auth.admin.getUserById(created.user.id);
    assert.equal(viaSecret.data.user?.email, email);

    const notAdmin = await alpha().auth.admin.listUsers();
    assert.equal(notAdmin.error?.code, 'not_admin');

    assert.equal((await svc.auth.admin.deleteUser(created.user.id)).error, null);
    const gone = await svc.auth.admin.getUserById(created.user.id);
    assert.equal(gone.error?.code, 'user_not_found');
  });
});

describe('email flows, anonymous sign-in and PKCE (own project with SMTP)', () => {
  const sink = mailSink();
  let p;
  const site = 'http://app.localhost:3000';
  before(async () => {
    const port = await sink.listen();
    p = await createProject('auth');
    // Its emailed links must reach it by subdomain, so its public URL is its own.
    const res = await admin('PATCH', `/admin/v1/projects/${p.ref}`, {
      api_url: subdomainURL(p.ref),
      auth: {
        autoconfirm: false, anonymous_users: true, site_url: site, max_frequency: 0,
        smtp: { host: '127.0.0.1', port, sender: 'MadBase <noreply@madbase.test>' },
      },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  });
  after(async () => {
    if (p) await deleteProject(p.ref);
    await sink.close();
  });
  const c = (options = {}) => createClient(subdomainURL(p.ref), p.anon_key, {
    ...options,
    global: { fetch: loopbackFetch },
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false, ...(options.auth ?? {}) },
  });

  test('signInAnonymously', async () => {
    const { data, error } = await c().auth.signInAnonymously();
    assert.equal(error, null);
    assert.equal(data.user.is_anonymous, true);
    assert.equal(data.user.email, '');
    assert.equal(jwtPayload(data.session.access_token).is_anonymous, true);
  });

  test('signUp without autoconfirm: no session, confirmation link signs in', async () => {
    const email = uniqueEmail('confirm');
    const { data, error } = await c().auth.signUp({ email, password: 'Secret-pw-1', options: { emailRedirectTo: `${site}/welcome` } });
    assert.equal(error, null);
    assert.equal(data.session, null);
    assert.equal(data.user.identities.length, 1);
    const early = await c().auth.signInWithPassword({ email, password: 'Secret-pw-1' });
    assert.equal(early.error?.code, 'email_not_confirmed');
    const mail = await sink.next(email);
    assert.equal(mail.subject, 'Confirm your email address');
    const loc = await follow(mail.link);
    assert.ok(loc.startsWith(`${site}/welcome#access_token=`), loc);
    assert.equal((await c().auth.signInWithPassword({ email, password: 'Secret-pw-1' })).error, null);
    // Repeated sign-up of a confirmed address: an obfuscated user, no error.
    const again = await c().auth.signUp({ email, password: 'Secret-pw-1' });
    assert.equal(again.error, null);
    assert.equal(again.data.user.identities.length, 0);
  });

  test('signInWithOtp + verifyOtp with the emailed code', async () => {
    const email = uniqueEmail('otp');
    const cl = c();
    assert.equal((await cl.auth.signInWithOtp({ email })).error, null);
    const mail = await sink.next(email);
    assert.match(mail.code ?? '', /^\d{6}$/);
    const { data, error } = await cl.auth.verifyOtp({ email, token: mail.code, type: 'email' });
    assert.equal(error, null);
    assert.equal(data.user.email, email);
    assert.ok(data.session.access_token);
    // Now confirmed: the next OTP mail is a magic link; its code works too.
    assert.equal((await cl.auth.signInWithOtp({ email, options: { shouldCreateUser: false } })).error, null);
    const ml = await sink.next(email);
    assert.equal(ml.subject, 'Your sign-in link');
    assert.equal((await c().auth.verifyOtp({ email, token: ml.code, type: 'magiclink' })).error, null);
    const none = await cl.auth.signInWithOtp({ email: uniqueEmail('none'), options: { shouldCreateUser: false } });
    assert.equal(none.error?.code, 'otp_disabled');
  });

  test('resetPasswordForEmail, recovery code, new password', async () => {
    const email = uniqueEmail('reset');
    const cl = c();
    await cl.auth.signInWithOtp({ email });
    const first = await sink.next(email);
    await c().auth.verifyOtp({ email, token: first.code, type: 'email' });

    assert.equal((await cl.auth.resetPasswordForEmail(email, { redirectTo: `${site}/reset` })).error, null);
    const mail = await sink.next(email);
    assert.equal(mail.subject, 'Reset your password');
    const events = [];
    cl.auth.onAuthStateChange((e) => events.push(e));
    const v = await cl.auth.verifyOtp({ email, token: mail.code, type: 'recovery' });
    assert.equal(v.error, null);
    const upd = await cl.auth.updateUser({ password: 'Brand-new-pw-2' });
    assert.equal(upd.error, null);
    assert.equal((await c().auth.signInWithPassword({ email, password: 'Brand-new-pw-2' })).error, null);
    await new Promise((r) => setTimeout(r, 20));
    assert.ok(events.includes('PASSWORD_RECOVERY'), `events ${events}`);
  });

  test('PKCE: magic link with ?code= exchanged for a session', async () => {
    const email = uniqueEmail('pkce');
    const cl = c({ auth: { flowType: 'pkce' } });
    assert.equal((await cl.auth.signInWithOtp({ email, options: { emailRedirectTo: `${site}/cb` } })).error, null);
    const mail = await sink.next(email);
    assert.match(mail.link, /token=pkce_/);
    const loc = new URL(await follow(mail.link));
    assert.equal(loc.origin + loc.pathname, `${site}/cb`);
    const code = loc.searchParams.get('code');
    assert.ok(code, `no code in ${loc}`);
    const { data, error } = await cl.auth.exchangeCodeForSession(code);
    assert.equal(error, null);
    assert.equal(data.user.email, email);
    const reused = await cl.auth.exchangeCodeForSession(code);
    assert.ok(reused.error);
  });
});

test('refresh reuse: the parent of the active token answers with it; older tokens kill the family', async () => {
  const u = await freshUser();
  const c = alpha();
  const r1 = (await c.auth.refreshSession({ refresh_token: u.session.refresh_token })).data.session;
  const again = await alpha().auth.refreshSession({ refresh_token: u.session.refresh_token });
  assert.equal(again.data.session?.refresh_token, r1.refresh_token);
  assert.equal(ALPHA.ref, 'alpha');
});
