// Storage through the real supabase-js: buckets, uploads of every body kind,
// downloads, listing, public and signed URLs, signed uploads, move, copy,
// remove, update, and RLS policies on storage.objects deciding per user.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { ALPHA, MADBASE_URL, alpha, alphaService, client, freshUser, loopbackFetch, subdomainClient, subdomainURL, uid } from './helpers.mjs';

function sql(q) {
  execFileSync('psql', [ALPHA.dbURL, '-v', 'ON_ERROR_STOP=1', '-q', '-c', q], { stdio: ['ignore', 'ignore', 'pipe'] });
}

describe('storage', () => {
  const priv = `priv-${uid(4)}`;
  const pub = `pub-${uid(4)}`;
  const other = `other-${uid(4)}`;
  let svc, ann, bob;

  before(async () => {
    svc = alphaService();
    for (const [id, opts] of [[priv, { public: false }], [pub, { public: true }], [other, { public: false, fileSizeLimit: '1kb', allowedMimeTypes: ['text/plain'] }]]) {
      const { data, error } = await svc.storage.createBucket(id, opts);
      assert.equal(error, null, error?.message);
      assert.deepEqual(data, { name: id });
    }
    // Users may write and read only their own folder in these buckets.
    const bucketList = `('${priv}', '${pub}', '${other}')`;
    const own = `bucket_id in ${bucketList} and (storage.foldername(name))[1] = auth.uid()::text`;
    sql(`create policy "e2e ins ${priv}" on storage.objects for insert to authenticated with check (${own});
         create policy "e2e sel ${priv}" on storage.objects for select to authenticated using (${own});
         create policy "e2e upd ${priv}" on storage.objects for update to authenticated using (${own}) with check (${own});
         create policy "e2e del ${priv}" on storage.objects for delete to authenticated using (${own});`);
    ann = await freshUser();
    bob = await freshUser();
  });

  test('buckets: get, list, update, duplicate, delete non-empty', async () => {
    const { data: b, error } = await svc.storage.getBucket(other);
    assert.equal(error, null);
    assert.deepEqual(Object.keys(b).sort(), ['allowed_mime_types', 'created_at', 'file_size_limit', 'id', 'name', 'owner', 'public', 'updated_at']);
    assert.equal(b.file_size_limit, 1000);
    const { data: list } = await svc.storage.listBuckets();
    assert.ok(list.some((x) => x.id === pub && x.type === 'STANDARD'));
    const up = await svc.storage.updateBucket(other, { public: false, fileSizeLimit: 2000, allowedMimeTypes: ['text/plain'] });
    assert.equal(up.error, null);
    assert.equal(up.data.message, 'Successfully updated');
    const dup = await svc.storage.createBucket(pub);
    assert.equal(dup.data, null);
    assert.equal(dup.error.statusCode, '409');
    assert.equal(dup.error.status, 400);
    const tmp = `tmp-${uid(4)}`;
    await svc.storage.createBucket(tmp);
    await svc.storage.from(tmp).upload('x.txt', 'x');
    const del = await svc.storage.deleteBucket(tmp);
    assert.equal(del.error.statusCode, '409');
    assert.equal(del.error.message, 'The bucket you tried to delete is not empty');
    assert.equal((await svc.storage.emptyBucket(tmp)).error, null);
    assert.equal((await svc.storage.deleteBucket(tmp)).error, null);
    assert.equal((await ann.client.storage.createBucket(`u-${uid(3)}`)).error.statusCode, '403');
  });

  test('upload File, Blob, Buffer and string; download each', async () => {
    const s = ann.client.storage.from(priv);
    const me = ann.user.id;
    const cases = [
      ['file.txt', new File(['from a File'], 'file.txt', { type: 'text/plain' }), 'from a File', 'text/plain'],
      ['blob.json', new Blob(['{"a":1}'], { type: 'application/json' }), '{"a":1}', 'application/json'],
      ['buffer.bin', Buffer.from([1, 2, 3, 250]), Buffer.from([1, 2, 3, 250]).toString('latin1'), 'application/octet-stream'],
      ['string.txt', 'plain string', 'plain string', 'text/plain;charset=UTF-8'],
    ];
    for (const [name, body, want, type] of cases) {
      const opts = name === 'buffer.bin' ? { contentType: 'application/octet-stream', metadata: { k: 'v' } } : {};
      const { data, error } = await s.upload(`${me}/${name}`, body, opts);
      assert.equal(error, null, `${name}: ${error?.message}`);
      assert.equal(data.path, `${me}/${name}`);
      assert.equal(data.fullPath, `${priv}/${me}/${name}`);
      assert.match(data.id, /^[0-9a-f-]{36}$/);
      const dl = await s.download(`${me}/${name}`);
      assert.equal(dl.error, null);
      assert.equal(dl.data.type.toLowerCase(), type.toLowerCase(), name);
      assert.equal(Buffer.from(await dl.data.arrayBuffer()).toString('latin1'), want, name);
    }
    const info = await s.info(`${me}/buffer.bin`);
    assert.equal(info.error, null);
    assert.deepEqual(info.data.metadata, { k: 'v' });
    assert.equal(info.data.size, 4);
    assert.equal(await s.exists(`${me}/buffer.bin`).then((r) => r.data), true);
    assert.equal(await s.exists(`${me}/nothing`).then((r) => r.data), false);

    const dup = await s.upload(`${me}/file.txt`, 'again');
    assert.equal(dup.error.statusCode, '409');
    const theirs = await bob.client.storage.from(priv).download(`${me}/file.txt`);
    assert.equal(theirs.error.statusCode, '404');
    const intoAnn = await bob.client.storage.from(priv).upload(`${me}/evil.txt`, 'x');
    assert.equal(intoAnn.error.statusCode, '403');
    assert.equal(intoAnn.error.message, 'new row violates row-level security policy');
    const anonUp = await alpha().storage.from(priv).upload(`${me}/anon.txt`, 'x');
    assert.equal(anonUp.error.statusCode, '403');
  });

  test('limits and mime types', async () => {
    const s = ann.client.storage.from(other);
    const me = ann.user.id;
    const ok = await s.upload(`${me}/ok.txt`, new Blob(['x'.repeat(2000)], { type: 'text/plain' }));
    assert.equal(ok.error, null, ok.error?.message);
    const big = await s.upload(`${me}/big.txt`, new Blob(['x'.repeat(2001)], { type: 'text/plain' }));
    assert.equal(big.error.statusCode, '413');
    const png = await s.upload(`${me}/a.png`, new Blob(['x'], { type: 'image/png' }));
    assert.equal(png.error.statusCode, '415');
  });

  test('update, list, move, copy, remove', async () => {
    const s = ann.client.storage.from(priv);
    const me = ann.user.id;
    await s.upload(`${me}/docs/a.txt`, 'A');
    await s.upload(`${me}/docs/b.txt`, 'B');
    await s.upload(`${me}/docs/sub/c.txt`, 'C');
    const up = await s.update(`${me}/docs/a.txt`, 'A2');
    assert.equal(up.error, null, up.error?.message);
    assert.equal(await (await s.download(`${me}/docs/a.txt`)).data.text(), 'A2');

    const { data: entries, error } = await s.list(`${me}/docs`);
    assert.equal(error, null);
    assert.deepEqual(entries.map((e) => e.name), ['a.txt', 'b.txt', 'sub']);
    assert.equal(entries[2].id, null);
    assert.equal(entries[0].metadata.size, 2);
    const { data: found } = await s.list(`${me}/docs`, { search: 'B' });
    assert.deepEqual(found.map((e) => e.name), ['b.txt']);
    assert.deepEqual((await bob.client.storage.from(priv).list(`${me}/docs`)).data, []);

    const mv = await s.move(`${me}/docs/b.txt`, `${me}/moved/b.txt`);
    assert.equal(mv.error, null, mv.error?.message);
    assert.equal(mv.data.message, 'Successfully moved');
    assert.equal(await (await s.download(`${me}/moved/b.txt`)).data.text(), 'B');
    const cp = await s.copy(`${me}/moved/b.txt`, `${me}/copied/b.txt`);
    assert.equal(cp.error, null, cp.error?.message);
    assert.equal(cp.data.path, `${priv}/${me}/copied/b.txt`);
    const across = await svc.storage.from(priv).copy(`${me}/copied/b.txt`, `shared/b.txt`, { destinationBucket: pub });
    assert.equal(across.error, null, across.error?.message);
    const badMove = await s.move(`${me}/copied/b.txt`, `${bob.user.id}/b.txt`);
    assert.equal(badMove.error.statusCode, '403');

    const rm = await s.remove([`${me}/docs/a.txt`, `${me}/moved/b.txt`, `${me}/none.txt`]);
    assert.equal(rm.error, null);
    assert.deepEqual(rm.data.map((r) => r.name).sort(), [`${me}/docs/a.txt`, `${me}/moved/b.txt`]);
    assert.equal((await s.download(`${me}/docs/a.txt`)).error.statusCode, '404');
    const bobRm = await bob.client.storage.from(priv).remove([`${me}/copied/b.txt`]);
    assert.deepEqual(bobRm.data, []);
    assert.equal((await s.download(`${me}/copied/b.txt`)).error, null);
  });

  test('public URL, signed URLs, signed upload URLs', async () => {
    const me = ann.user.id;
    await ann.client.storage.from(pub).upload(`${me}/pic.txt`, 'public bytes');
    // A public URL names no key: it reaches its project by host, as
    // <ref>.<domain> does behind MADBASE_PUBLIC_URL=https://{ref}.…
    const sub = subdomainClient('alpha', ALPHA.anonKey);
    const { data: pu } = sub.storage.from(pub).getPublicUrl(`${me}/pic.txt`);
    assert.ok(pu.publicUrl.startsWith(`${subdomainURL('alpha')}/storage/v1/object/public/${pub}/`));
    let res = await loopbackFetch(pu.publicUrl);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'public bytes');
    const { data: dlu } = sub.storage.from(pub).getPublicUrl(`${me}/pic.txt`, { download: 'x.txt' });
    res = await loopbackFetch(dlu.publicUrl);
    assert.match(res.headers.get('content-disposition'), /attachment; filename=x.txt/);
    await res.arrayBuffer();
    res = await loopbackFetch(pu.publicUrl, { headers: { range: 'bytes=0-5' } });
    assert.equal(res.status, 206);
    assert.equal(await res.text(), 'public');
    const privPublic = await loopbackFetch(`${subdomainURL('alpha')}/storage/v1/object/public/${priv}/${me}/file.txt`);
    assert.equal((await privPublic.json()).statusCode, '404');

    const s = ann.client.storage.from(priv);
    await s.upload(`${me}/secret.txt`, 'secret bytes');
    const { data: su, error } = await s.createSignedUrl(`${me}/secret.txt`, 60);
    assert.equal(error, null, error?.message);
    // Signed URLs work on a host that names no project: the token does.
    assert.ok(su.signedUrl.startsWith(MADBASE_URL));
    res = await fetch(su.signedUrl);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'secret bytes');
    const tampered = su.signedUrl.replace(/token=([^&]+)/, (_, t) => `token=${t.slice(0, -3)}abc`);
    res = await fetch(tampered);
    assert.equal(res.status, 400);
    assert.equal((await res.json()).code, 'InvalidJWT');
    const { data: many } = await s.createSignedUrls([`${me}/secret.txt`, `${me}/nope.txt`], 60);
    assert.equal(many.length, 2);
    assert.equal(many[1].signedUrl, null);
    assert.equal(await (await fetch(many[0].signedUrl)).text(), 'secret bytes');
    assert.equal((await bob.client.storage.from(priv).createSignedUrl(`${me}/secret.txt`, 60)).error.statusCode, '404');
    const { data: dls } = await s.createSignedUrl(`${me}/secret.txt`, 60, { download: true });
    assert.match((await fetch(dls.signedUrl)).headers.get('content-disposition'), /^attachment/);

    const { data: sup, error: supErr } = await s.createSignedUploadUrl(`${me}/via-token.txt`);
    assert.equal(supErr, null, supErr?.message);
    assert.ok(sup.token && sup.signedUrl.includes('token='));
    // Anyone holding the token may upload, without a session.
    const put = await alpha().storage.from(priv).uploadToSignedUrl(`${me}/via-token.txt`, sup.token, new Blob(['token bytes'], { type: 'text/plain' }));
    assert.equal(put.error, null, put.error?.message);
    assert.equal(put.data.fullPath, `${priv}/${me}/via-token.txt`);
    assert.equal(await (await s.download(`${me}/via-token.txt`)).data.text(), 'token bytes');
    const again = await alpha().storage.from(priv).uploadToSignedUrl(`${me}/via-token.txt`, sup.token, 'x');
    assert.equal(again.error.statusCode, '409');
    const elsewhere = await alpha().storage.from(priv).uploadToSignedUrl(`${me}/other.txt`, sup.token, 'x');
    assert.equal(elsewhere.error.code, 'InvalidSignature');
    assert.equal((await bob.client.storage.from(priv).createSignedUploadUrl(`${me}/x.txt`)).error.statusCode, '403');
  });

  test('a publishable key as the only credential is anon', async () => {
    const c = client('alpha', 'publishable');
    const { data, error } = await c.storage.from(pub).list(ann.user.id);
    assert.equal(error, null, error?.message);
    assert.ok(Array.isArray(data));
    assert.equal((await c.storage.from(priv).upload('x.txt', 'x')).error.statusCode, '403');
  });
});
