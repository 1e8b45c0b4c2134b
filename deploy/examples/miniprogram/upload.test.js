'use strict';
// node --test deploy/examples/miniprogram/   (Node 18+, no npm packages)
const test = require('node:test');
const assert = require('node:assert/strict');
const { upload, formDataFor, parseStoreError, objectUrl, UploadError } = require('./upload.js');

const ENDPOINT = 'https://api.example.com/upload/policy';
const FILE = 'wxfile://tmp_4f1b2c.jpg';

// A fake `wx`: records every call; answers with the scripted results, asynchronously as wx does.
//   policy: {statusCode, data} | {fail: errMsg}
//   store:  {statusCode, data, progress: [...]} | {fail: errMsg}
function fakeWx({ policy, store }) {
  const calls = { request: [], uploadFile: [], progressListeners: 0 };
  return {
    calls,
    request(opts) {
      calls.request.push(opts);
      setImmediate(() => {
        if (!policy || policy.fail) opts.fail({ errMsg: 'request:fail ' + (policy ? policy.fail : 'unscripted') });
        else opts.success({ statusCode: policy.statusCode, data: policy.data, header: {} });
      });
      return { abort() {} };
    },
    uploadFile(opts) {
      calls.uploadFile.push(opts);
      const listeners = [];
      setImmediate(() => {
        if (!store || store.fail) {
          opts.fail({ errMsg: 'uploadFile:fail ' + (store ? store.fail : 'unscripted') });
          return;
        }
        for (const p of store.progress || []) listeners.forEach((l) => l(Object.assign({ extra: 1 }, p)));
        // wx.uploadFile hands the answer over as a string, whatever the status
        opts.success({ statusCode: store.statusCode, data: store.data === undefined ? '' : store.data });
      });
      return {
        onProgressUpdate(l) { calls.progressListeners += 1; listeners.push(l); },
        abort() {},
      };
    },
  };
}

async function rejection(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail('expected a rejection');
}

// ---- answers as upsign writes them ----------------------------------------------------------

const S3_NATIVE = {
  provider: 's3', method: 'POST', url: 'https://example-avatars.s3.eu-west-1.amazonaws.com',
  key: 'avatars/alice/0f8fad5b.jpg', expiresAt: '2026-11-29T12:53:59.000Z',
  fields: {
    key: 'avatars/alice/0f8fad5b.jpg', policy: 'eyJleHBpcmF0aW9uIjoi',
    'x-amz-algorithm': 'AWS4-HMAC-SHA256',
    'x-amz-credential': 'AKIAEXAMPLE/20261129/eu-west-1/s3/aws4_request',
    'x-amz-date': '20261129T124359Z', 'x-amz-signature': 'aa11bb22',
    success_action_status: '204', 'Content-Type': 'image/jpeg',
  },
};

const OSS_V4_NATIVE = {
  provider: 'aliyun-oss', method: 'POST', url: 'https://examplebucket.oss-cn-hangzhou.aliyuncs.com',
  key: 'uploads/alice/2026/11/29/797e6de3.jpg', expiresAt: '2026-11-29T12:53:59.000Z',
  fields: {
    key: 'uploads/alice/2026/11/29/797e6de3.jpg', policy: 'eyJ...',
    'x-oss-signature-version': 'OSS4-HMAC-SHA256',
    'x-oss-credential': 'LTAI5t/20261129/cn-hangzhou/oss/aliyun_v4_request',
    'x-oss-date': '20261129T124359Z', 'x-oss-signature': '73301a53',
    success_action_status: '200', 'Content-Type': 'image/jpeg',
    'x-oss-forbid-overwrite': 'true', 'x-oss-security-token': 'CAIS...',
  },
};

const QINIU_NATIVE = {
  provider: 'qiniu', method: 'POST', url: 'https://up-z2.qiniup.com',
  key: 'uploads/5b0e.png', expiresAt: '2026-11-29T12:53:59.000Z',
  fields: { key: 'uploads/5b0e.png', token: 'AK:sig=:eyJzY29wZSI6' },
};

const JAVA_BEAN = {
  url: 'https://examplebucket.oss-cn-hangzhou.aliyuncs.com',
  policy: 'eyJleHBpcmF0aW9uIjoi', signature: '/KYu/s7JRZPGe/suX5o6kZGHlZs=',
  ossAccessKeyId: 'LTAI5tEXAMPLE', key: 'avatars/alice/0f8fad5b.jpg',
};

// ---- native and uppy answers ----------------------------------------------------------------

test('native S3 answer: GETs the policy, posts the file as "file" with fields as formData', async () => {
  const wx = fakeWx({ policy: { statusCode: 200, data: S3_NATIVE }, store: { statusCode: 204 } });
  const res = await upload({ wx, endpoint: ENDPOINT, filePath: FILE, filename: 'me.jpg', size: 52341, contentType: 'image/jpeg' });

  assert.equal(wx.calls.request.length, 1);
  assert.equal(wx.calls.request[0].method, 'GET');
  assert.equal(wx.calls.request[0].url, ENDPOINT + '?filename=me.jpg&size=52341&contentType=image%2Fjpeg');
  assert.equal(wx.calls.uploadFile.length, 1);
  const post = wx.calls.uploadFile[0];
  assert.equal(post.url, S3_NATIVE.url);
  assert.equal(post.filePath, FILE);
  assert.equal(post.name, 'file');
  assert.deepEqual(post.formData, S3_NATIVE.fields);
  assert.deepEqual(res, {
    key: 'avatars/alice/0f8fad5b.jpg',
    url: 'https://example-avatars.s3.eu-west-1.amazonaws.com/avatars/alice/0f8fad5b.jpg',
    statusCode: 204,
    data: null,
  });
});

test('native OSS V4 answer with an STS token: formData is exactly the fields, token included', async () => {
  const wx = fakeWx({ policy: { statusCode: 200, data: OSS_V4_NATIVE }, store: { statusCode: 200, data: '' } });
  const res = await upload({ wx, endpoint: ENDPOINT, filePath: FILE, profile: 'avatar' });
  assert.deepEqual(wx.calls.uploadFile[0].formData, OSS_V4_NATIVE.fields);
  assert.equal(wx.calls.uploadFile[0].formData['x-oss-security-token'], 'CAIS...');
  assert.equal(res.statusCode, 200);
  assert.equal(res.url, 'https://examplebucket.oss-cn-hangzhou.aliyuncs.com/uploads/alice/2026/11/29/797e6de3.jpg');
});

test('native Qiniu answer: formData is {key, token}, url is null, returnBody parsed into data', async () => {
  const returnBody = '{"hash":"FlU9pV","key":"uploads/5b0e.png"}';
  const wx = fakeWx({ policy: { statusCode: 200, data: QINIU_NATIVE }, store: { statusCode: 200, data: returnBody } });
  const res = await upload({ wx, endpoint: ENDPOINT, filePath: FILE });
  assert.deepEqual(wx.calls.uploadFile[0].formData, { key: 'uploads/5b0e.png', token: 'AK:sig=:eyJzY29wZSI6' });
  assert.equal(wx.calls.uploadFile[0].name, 'file');
  assert.deepEqual(res, { key: 'uploads/5b0e.png', url: null, statusCode: 200, data: { hash: 'FlU9pV', key: 'uploads/5b0e.png' } });
});

test('uppy answer: fields posted as-is and the key taken from fields', async () => {
  const uppy = { method: 'POST', url: 'http://127.0.0.1:9000/uploads', fields: Object.assign({}, S3_NATIVE.fields, { key: 'u/x y.jpg' }), headers: {} };
  const wx = fakeWx({ policy: { statusCode: 200, data: uppy }, store: { statusCode: 204 } });
  const res = await upload({ wx, endpoint: ENDPOINT, filePath: FILE });
  assert.deepEqual(wx.calls.uploadFile[0].formData, uppy.fields);
  assert.equal(res.key, 'u/x y.jpg');
  assert.equal(res.url, 'http://127.0.0.1:9000/uploads/u/x%20y.jpg');
});

test('progress events are forwarded to onProgress in order', async () => {
  const progress = [
    { progress: 10, totalBytesSent: 5234, totalBytesExpectedToSend: 52341 },
    { progress: 100, totalBytesSent: 52341, totalBytesExpectedToSend: 52341 },
  ];
  const wx = fakeWx({ policy: { statusCode: 200, data: S3_NATIVE }, store: { statusCode: 204, progress } });
  const seen = [];
  await upload({ wx, endpoint: ENDPOINT, filePath: FILE, onProgress: (p) => seen.push(p) });
  assert.equal(wx.calls.progressListeners, 1);
  assert.deepEqual(seen, progress);
});

test('without onProgress no progress listener is registered', async () => {
  const wx = fakeWx({ policy: { statusCode: 200, data: S3_NATIVE }, store: { statusCode: 204, progress: [{ progress: 50 }] } });
  await upload({ wx, endpoint: ENDPOINT, filePath: FILE });
  assert.equal(wx.calls.progressListeners, 0);
});

// ---- the java bean --------------------------------------------------------------------------

test('java bean maps to key, policy, OSSAccessKeyId, Signature, success_action_status 200', async () => {
  const wx = fakeWx({ policy: { statusCode: 200, data: JAVA_BEAN }, store: { statusCode: 200 } });
  const res = await upload({ wx, endpoint: ENDPOINT, filePath: FILE, format: 'java', filename: 'me.jpg' });
  assert.match(wx.calls.request[0].url, /[?&]format=java(&|$)/);
  assert.equal(wx.calls.uploadFile[0].url, JAVA_BEAN.url);
  assert.deepEqual(wx.calls.uploadFile[0].formData, {
    key: 'avatars/alice/0f8fad5b.jpg',
    policy: 'eyJleHBpcmF0aW9uIjoi',
    OSSAccessKeyId: 'LTAI5tEXAMPLE',
    Signature: '/KYu/s7JRZPGe/suX5o6kZGHlZs=',
    success_action_status: '200',
  });
  assert.equal(res.key, JAVA_BEAN.key);
  assert.equal(res.url, JAVA_BEAN.url + '/avatars/alice/0f8fad5b.jpg');
});

test('java bean with securityToken adds x-oss-security-token', () => {
  const form = formDataFor(Object.assign({}, JAVA_BEAN, { securityToken: 'CAIS.sts' }));
  assert.equal(form['x-oss-security-token'], 'CAIS.sts');
  assert.deepEqual(Object.keys(form).sort(),
    ['OSSAccessKeyId', 'Signature', 'key', 'policy', 'success_action_status', 'x-oss-security-token']);
});

test('formDataFor copies the fields rather than handing out the answer object', () => {
  const form = formDataFor(S3_NATIVE);
  form.extra = 'x';
  assert.equal(S3_NATIVE.fields.extra, undefined);
});

// ---- the policy request ---------------------------------------------------------------------

test('query parameters are percent-encoded and unset ones left out', async () => {
  const wx = fakeWx({ policy: { statusCode: 200, data: S3_NATIVE }, store: { statusCode: 204 } });
  await upload({
    wx, endpoint: ENDPOINT, filePath: FILE, profile: 'a b', filename: '我的 照片&x=1#?.jpg',
    size: 0, contentType: 'image/svg+xml', format: undefined,
  });
  const url = wx.calls.request[0].url;
  assert.equal(url, ENDPOINT + '?profile=a%20b&filename=%E6%88%91%E7%9A%84%20%E7%85%A7%E7%89%87%26x%3D1%23%3F.jpg&size=0&contentType=image%2Fsvg%2Bxml');
  const q = new URL(url).searchParams;
  assert.equal(q.get('filename'), '我的 照片&x=1#?.jpg');
  assert.equal(q.get('contentType'), 'image/svg+xml');
  assert.equal(q.has('format'), false);
});

test('an endpoint that already has a query string gets "&", not a second "?"', async () => {
  const wx = fakeWx({ policy: { statusCode: 200, data: S3_NATIVE }, store: { statusCode: 204 } });
  await upload({ wx, endpoint: ENDPOINT + '?app=shop', filePath: FILE, filename: 'a.png' });
  assert.equal(wx.calls.request[0].url, ENDPOINT + '?app=shop&filename=a.png');
});

test('header goes to upsign only, never to the bucket', async () => {
  const wx = fakeWx({ policy: { statusCode: 200, data: S3_NATIVE }, store: { statusCode: 204 } });
  await upload({ wx, endpoint: ENDPOINT, filePath: FILE, header: { cookie: 'sid=s3cret' } });
  assert.deepEqual(wx.calls.request[0].header, { cookie: 'sid=s3cret' });
  assert.equal(wx.calls.uploadFile[0].header, undefined);
});

test('a policy answer delivered as a JSON string (dataType text) is parsed', async () => {
  const wx = fakeWx({ policy: { statusCode: 200, data: JSON.stringify(QINIU_NATIVE) }, store: { statusCode: 200, data: '{}' } });
  await upload({ wx, endpoint: ENDPOINT, filePath: FILE });
  assert.deepEqual(wx.calls.uploadFile[0].formData, QINIU_NATIVE.fields);
});

for (const [status, code, message] of [
  [401, 'identity_required', 'this profile needs an authenticated user'],
  [400, 'size_out_of_range', 'size must be within 0...5242880'],
  [503, 'credentials_unavailable', 'the credentials could not be loaded'],
]) {
  test(`upsign ${status} ${code} rejects with that code and never uploads`, async () => {
    const wx = fakeWx({ policy: { statusCode: status, data: { error: { code, message } } }, store: { statusCode: 204 } });
    const e = await rejection(upload({ wx, endpoint: ENDPOINT, filePath: FILE }));
    assert.ok(e instanceof UploadError);
    assert.ok(e instanceof Error);
    assert.equal(e.name, 'UploadError');
    assert.equal(e.code, code);
    assert.equal(e.message, message);
    assert.equal(e.statusCode, status);
    assert.equal(e.source, 'upsign');
    assert.equal(wx.calls.uploadFile.length, 0);
  });
}

test('a non-JSON upsign error (an HTML 502 page) rejects with http_error and the status', async () => {
  const wx = fakeWx({ policy: { statusCode: 502, data: '<html>Bad Gateway</html>' } });
  const e = await rejection(upload({ wx, endpoint: ENDPOINT, filePath: FILE }));
  assert.equal(e.code, 'http_error');
  assert.equal(e.statusCode, 502);
  assert.equal(e.source, 'upsign');
});

for (const [label, data] of [
  ['the aliyun-appserver shape', { host: 'https://b.oss-cn-hangzhou.aliyuncs.com', policy: 'p', signature: 's', dir: 'd/' }],
  ['fields without a key', { url: 'https://b.example.com', fields: { policy: 'p' } }],
  ['a non-JSON text', 'OK'],
  ['an array', [1, 2]],
]) {
  test(`a 200 policy answer with ${label} rejects with bad_answer and never uploads`, async () => {
    const wx = fakeWx({ policy: { statusCode: 200, data }, store: { statusCode: 204 } });
    const e = await rejection(upload({ wx, endpoint: ENDPOINT, filePath: FILE }));
    assert.ok(e instanceof UploadError);
    assert.equal(e.code, 'bad_answer');
    assert.equal(wx.calls.uploadFile.length, 0);
  });
}

test('a network failure of the policy request rejects with network and never uploads', async () => {
  const wx = fakeWx({ policy: { fail: 'timeout' } });
  const e = await rejection(upload({ wx, endpoint: ENDPOINT, filePath: FILE }));
  assert.equal(e.code, 'network');
  assert.equal(e.source, 'upsign');
  assert.match(e.message, /timeout/);
  assert.equal(wx.calls.uploadFile.length, 0);
});

// ---- the store's answer ---------------------------------------------------------------------

const OSS_SIGNATURE_ERROR = `<?xml version="1.0" encoding="UTF-8"?>
<Error>
  <Code>SignatureDoesNotMatch</Code>
  <Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message>
  <RequestId>5C3D9175B6FC201293AD4890</RequestId>
  <HostId>examplebucket.oss-cn-hangzhou.aliyuncs.com</HostId>
  <EC>0002-00000040</EC>
</Error>`;

test('OSS 403 SignatureDoesNotMatch rejects with the store code, message and request id', async () => {
  const wx = fakeWx({ policy: { statusCode: 200, data: OSS_V4_NATIVE }, store: { statusCode: 403, data: OSS_SIGNATURE_ERROR } });
  const e = await rejection(upload({ wx, endpoint: ENDPOINT, filePath: FILE }));
  assert.ok(e instanceof UploadError);
  assert.equal(e.code, 'SignatureDoesNotMatch');
  assert.match(e.message, /^The request signature we calculated/);
  assert.equal(e.requestId, '5C3D9175B6FC201293AD4890');
  assert.equal(e.statusCode, 403);
  assert.equal(e.source, 'store');
  assert.equal(e.key, OSS_V4_NATIVE.key);
});

test('S3 403 AccessDenied (policy expired) rejects with AccessDenied', async () => {
  const xml = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Invalid according to Policy: Policy expired.</Message><RequestId>4442587FB7D0A2F9</RequestId><HostId>abc=</HostId></Error>';
  const wx = fakeWx({ policy: { statusCode: 200, data: S3_NATIVE }, store: { statusCode: 403, data: xml } });
  const e = await rejection(upload({ wx, endpoint: ENDPOINT, filePath: FILE }));
  assert.deepEqual([e.code, e.message, e.requestId, e.statusCode, e.source],
    ['AccessDenied', 'Invalid according to Policy: Policy expired.', '4442587FB7D0A2F9', 403, 'store']);
});

test('S3 400 EntityTooLarge rejects with EntityTooLarge', async () => {
  const xml = '<Error><Code>EntityTooLarge</Code><Message>Your proposed upload exceeds the maximum allowed size</Message><ProposedSize>52342</ProposedSize><MaxSizeAllowed>52341</MaxSizeAllowed><RequestId>R1</RequestId></Error>';
  const wx = fakeWx({ policy: { statusCode: 200, data: S3_NATIVE }, store: { statusCode: 400, data: xml } });
  const e = await rejection(upload({ wx, endpoint: ENDPOINT, filePath: FILE }));
  assert.equal(e.code, 'EntityTooLarge');
  assert.equal(e.statusCode, 400);
  assert.equal(e.requestId, 'R1');
});

test('OSS 203 CallbackFailed rejects although the object is stored, carrying the key', async () => {
  const xml = '<Error><Code>CallbackFailed</Code><Message>Error status : 502.</Message><RequestId>R203</RequestId></Error>';
  const wx = fakeWx({ policy: { statusCode: 200, data: OSS_V4_NATIVE }, store: { statusCode: 203, data: xml } });
  const e = await rejection(upload({ wx, endpoint: ENDPOINT, filePath: FILE }));
  assert.equal(e.code, 'CallbackFailed');
  assert.equal(e.statusCode, 203);
  assert.equal(e.key, OSS_V4_NATIVE.key);
});

test('Qiniu JSON error rejects with its message (and error_code when given)', async () => {
  const wx = fakeWx({ policy: { statusCode: 200, data: QINIU_NATIVE }, store: { statusCode: 401, data: '{"error":"expired token"}' } });
  const e = await rejection(upload({ wx, endpoint: ENDPOINT, filePath: FILE }));
  assert.deepEqual([e.code, e.message, e.statusCode, e.source], ['store_error', 'expired token', 401, 'store']);

  const wx2 = fakeWx({ policy: { statusCode: 200, data: QINIU_NATIVE }, store: { statusCode: 614, data: '{"error":"file exists","error_code":"FileExists"}' } });
  const e2 = await rejection(upload({ wx: wx2, endpoint: ENDPOINT, filePath: FILE }));
  assert.deepEqual([e2.code, e2.message, e2.statusCode], ['FileExists', 'file exists', 614]);
});

test('a store error with an empty body rejects with store_error and the status', async () => {
  const wx = fakeWx({ policy: { statusCode: 200, data: S3_NATIVE }, store: { statusCode: 500, data: '' } });
  const e = await rejection(upload({ wx, endpoint: ENDPOINT, filePath: FILE }));
  assert.equal(e.code, 'store_error');
  assert.equal(e.statusCode, 500);
  assert.match(e.message, /500/);
});

test('200 with an OSS callback answer resolves with the parsed JSON as data', async () => {
  const wx = fakeWx({ policy: { statusCode: 200, data: OSS_V4_NATIVE }, store: { statusCode: 200, data: '{"ok":true,"key":"uploads/alice/2026/11/29/797e6de3.jpg"}' } });
  const res = await upload({ wx, endpoint: ENDPOINT, filePath: FILE });
  assert.deepEqual(res.data, { ok: true, key: 'uploads/alice/2026/11/29/797e6de3.jpg' });
  assert.equal(res.statusCode, 200);
});

test('201 with an XML PostResponse resolves with the raw text as data', async () => {
  const xml = '<PostResponse><Bucket>b</Bucket><Key>k</Key><ETag>"e"</ETag></PostResponse>';
  const wx = fakeWx({ policy: { statusCode: 200, data: S3_NATIVE }, store: { statusCode: 201, data: xml } });
  const res = await upload({ wx, endpoint: ENDPOINT, filePath: FILE });
  assert.equal(res.statusCode, 201);
  assert.equal(res.data, xml);
});

test('a network failure of the upload rejects with network from the store side', async () => {
  const wx = fakeWx({ policy: { statusCode: 200, data: S3_NATIVE }, store: { fail: 'ssl hand shake error' } });
  const e = await rejection(upload({ wx, endpoint: ENDPOINT, filePath: FILE }));
  assert.ok(e instanceof UploadError);
  assert.equal(e.code, 'network');
  assert.equal(e.source, 'store');
  assert.match(e.message, /ssl hand shake error/);
});

// ---- helpers --------------------------------------------------------------------------------

test('parseStoreError reads GCS Details, decodes XML entities, and returns null for other text', () => {
  const gcs = '<?xml version=\'1.0\' encoding=\'UTF-8\'?><Error><Code>AccessDenied</Code><Message>Access denied.</Message><Details>Policy did not reference these fields: filename &amp; x-goog-meta-a &lt;b&gt;</Details></Error>';
  assert.deepEqual(parseStoreError(gcs), {
    code: 'AccessDenied', message: 'Access denied.', requestId: null,
    details: 'Policy did not reference these fields: filename & x-goog-meta-a <b>',
  });
  assert.equal(parseStoreError(''), null);
  assert.equal(parseStoreError('<html>502</html>'), null);
  assert.equal(parseStoreError('{"ok":true}'), null);
  assert.equal(parseStoreError(undefined), null);
});

test('objectUrl joins with one slash and percent-encodes each key segment, keeping "/"', () => {
  assert.equal(objectUrl('https://b.oss-cn-hangzhou.aliyuncs.com', 'a/b c/照片#1?.jpg'),
    'https://b.oss-cn-hangzhou.aliyuncs.com/a/b%20c/%E7%85%A7%E7%89%87%231%3F.jpg');
  assert.equal(objectUrl('https://b.example.com/', 'x+y%z.png'), 'https://b.example.com/x%2By%25z.png');
  assert.equal(objectUrl('http://127.0.0.1:9000/uploads//', '/u/1.jpg'), 'http://127.0.0.1:9000/uploads/u/1.jpg');
  assert.equal(objectUrl('https://storage.googleapis.com/example-gcs', 'a/b.txt'), 'https://storage.googleapis.com/example-gcs/a/b.txt');
});

test('without options.wx the global wx is used; with neither, no_wx', async () => {
  const e = await rejection(upload({ endpoint: ENDPOINT, filePath: FILE }));
  assert.equal(e.code, 'no_wx');
  globalThis.wx = fakeWx({ policy: { statusCode: 200, data: S3_NATIVE }, store: { statusCode: 204 } });
  try {
    const res = await upload({ endpoint: ENDPOINT, filePath: FILE });
    assert.equal(res.statusCode, 204);
    assert.equal(globalThis.wx.calls.uploadFile.length, 1);
  } finally {
    delete globalThis.wx;
  }
});
