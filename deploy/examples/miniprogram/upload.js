'use strict';
// Upload a file from a WeChat mini-program straight to the bucket with an upsign policy.
//
//   const { upload } = require('./upload.js');
//   const { key, url } = await upload({ endpoint: 'https://api.example.com/upload/policy',
//     filePath, filename: 'a.jpg', size: 52341, contentType: 'image/jpeg' });
//
// No dependencies; CommonJS; ES2017. See README.md in this folder.

/** Every failure: `code` to branch on; `source` is 'upsign' (the policy request) or 'store'. */
class UploadError extends Error {
  constructor(code, message, extra) {
    super(message || code);
    this.name = 'UploadError';
    this.code = code;
    this.statusCode = null;
    this.requestId = null;
    this.source = null;
    if (extra) Object.assign(this, extra);
  }
}

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

/** The form data to post for an upsign answer (native, uppy or java shape). */
function formDataFor(body) {
  if (isObject(body) && typeof body.url === 'string' && body.url) {
    // native {provider, method, url, key, expiresAt, fields} and uppy {method, url, fields, headers}
    if (isObject(body.fields) && typeof body.fields.key === 'string') {
      return Object.assign({}, body.fields);
    }
    // java {url, policy, signature, ossAccessKeyId, key, securityToken?}
    if (['policy', 'signature', 'ossAccessKeyId', 'key'].every((k) => typeof body[k] === 'string')) {
      const form = {
        key: body.key,
        policy: body.policy,
        OSSAccessKeyId: body.ossAccessKeyId,
        Signature: body.signature,
        success_action_status: '200',
      };
      if (typeof body.securityToken === 'string' && body.securityToken) {
        form['x-oss-security-token'] = body.securityToken;
      }
      return form;
    }
  }
  throw new UploadError('bad_answer', 'the policy answer has no url and form fields', { source: 'upsign' });
}

function xmlText(xml, tag) {
  const m = new RegExp('<' + tag + '>([\\s\\S]*?)</' + tag + '>').exec(xml);
  if (!m) return null;
  return m[1]
    .replace(/<!\[CDATA\[([\s\S]*?)\]\]>/g, '$1')
    .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&')
    .trim();
}

/**
 * A store's error answer: the XML `<Error><Code/><Message/><RequestId/></Error>` of OSS, S3, COS,
 * OBS and GCS (GCS adds `<Details>`), or Qiniu's JSON `{"error":"...","error_code"?}`.
 * Returns `{code, message, requestId, details}` (missing parts null), or null when unrecognised.
 */
function parseStoreError(text) {
  if (isObject(text)) text = JSON.stringify(text);
  if (typeof text !== 'string' || !text.trim()) return null;
  const s = text.trim();
  if (s.charAt(0) === '{') {
    let j;
    try { j = JSON.parse(s); } catch (e) { return null; }
    if (!isObject(j) || typeof j.error !== 'string') return null;
    return {
      code: typeof j.error_code === 'string' ? j.error_code : null,
      message: j.error,
      requestId: typeof j.reqid === 'string' ? j.reqid : null,
      details: null,
    };
  }
  if (!/<Error[\s>]/.test(s)) return null;
  const code = xmlText(s, 'Code');
  const message = xmlText(s, 'Message');
  if (code === null && message === null) return null;
  return { code, message, requestId: xmlText(s, 'RequestId'), details: xmlText(s, 'Details') };
}

/** `base` + '/' + the key with each path segment percent-encoded ('/' kept). */
function objectUrl(base, key) {
  if (typeof base !== 'string' || !base || typeof key !== 'string') return null;
  const path = key.replace(/^\/+/, '').split('/').map(encodeURIComponent).join('/');
  return base.replace(/\/+$/, '') + '/' + path;
}

function queryString(params) {
  return Object.keys(params)
    .filter((k) => params[k] !== undefined && params[k] !== null && params[k] !== '')
    .map((k) => encodeURIComponent(k) + '=' + encodeURIComponent(String(params[k])))
    .join('&');
}

function parseMaybeJson(data) {
  if (data === undefined || data === null || data === '') return null;
  if (typeof data !== 'string') return data;
  const s = data.trim();
  if (s.charAt(0) === '{' || s.charAt(0) === '[') {
    try { return JSON.parse(s); } catch (e) { /* not JSON after all */ }
  }
  return data;
}

const OK_STATUSES = [200, 201, 204];

function requestPolicy(api, options) {
  const params = Object.assign({}, options.params, {
    profile: options.profile,
    filename: options.filename,
    size: options.size,
    contentType: options.contentType,
    format: options.format,
  });
  const query = queryString(params);
  const endpoint = options.endpoint;
  const url = query ? endpoint + (endpoint.indexOf('?') >= 0 ? '&' : '?') + query : endpoint;
  return new Promise((resolve, reject) => {
    api.request({
      url,
      method: 'GET',
      header: Object.assign({}, options.header),
      success(res) {
        const status = res.statusCode;
        const body = parseMaybeJson(res.data);
        if (status >= 200 && status < 300) {
          if (!isObject(body)) {
            reject(new UploadError('bad_answer', 'the policy answer is not a JSON object', { statusCode: status, source: 'upsign' }));
            return;
          }
          resolve(body);
          return;
        }
        const e = isObject(body) && isObject(body.error) ? body.error : null;
        reject(new UploadError(
          e && typeof e.code === 'string' ? e.code : 'http_error',
          e && typeof e.message === 'string' ? e.message : 'the policy request answered HTTP ' + status,
          { statusCode: status, source: 'upsign' }));
      },
      fail(err) {
        reject(new UploadError('network', (err && err.errMsg) || 'the policy request failed', { source: 'upsign' }));
      },
    });
  });
}

function postFile(api, options, body, formData) {
  return new Promise((resolve, reject) => {
    const key = typeof body.key === 'string' ? body.key : formData.key;
    const task = api.uploadFile({
      url: body.url,
      filePath: options.filePath,
      name: 'file',
      formData,
      // no `header`: the session cookie is for upsign, never for the bucket
      success(res) {
        const status = res.statusCode;
        if (OK_STATUSES.indexOf(status) >= 0) {
          resolve({
            key,
            url: body.provider === 'qiniu' ? null : objectUrl(body.url, key),
            statusCode: status,
            data: parseMaybeJson(res.data),
          });
          return;
        }
        const e = parseStoreError(res.data) || {};
        reject(new UploadError(
          e.code || 'store_error',
          e.message || 'the store answered HTTP ' + status,
          { statusCode: status, requestId: e.requestId || null, details: e.details || null, key, source: 'store' }));
      },
      fail(err) {
        reject(new UploadError('network', (err && err.errMsg) || 'the upload failed', { key, source: 'store' }));
      },
    });
    if (typeof options.onProgress === 'function' && task && typeof task.onProgressUpdate === 'function') {
      task.onProgressUpdate((p) => options.onProgress({
        progress: p.progress,
        totalBytesSent: p.totalBytesSent,
        totalBytesExpectedToSend: p.totalBytesExpectedToSend,
      }));
    }
  });
}

/**
 * Asks upsign for a policy, then posts `filePath` to the bucket.
 * Resolves `{key, url, statusCode, data}`; rejects with an UploadError.
 */
async function upload(options) {
  const opts = options || {};
  // eslint-disable-next-line no-undef
  const api = opts.wx || (typeof wx !== 'undefined' ? wx : undefined);
  if (!api || typeof api.request !== 'function' || typeof api.uploadFile !== 'function') {
    throw new UploadError('no_wx', 'no wx object: pass options.wx outside a mini-program');
  }
  if (typeof opts.endpoint !== 'string' || !opts.endpoint) throw new UploadError('bad_options', 'endpoint is required');
  if (typeof opts.filePath !== 'string' || !opts.filePath) throw new UploadError('bad_options', 'filePath is required');
  const body = await requestPolicy(api, opts);
  const formData = formDataFor(body);
  return postFile(api, opts, body, formData);
}

module.exports = { upload, formDataFor, parseStoreError, objectUrl, UploadError };
