// The console calls the same public API as every client, with the signed-in person's token.
import { current, forget } from './auth.js';

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

let onUnauthorized = () => {};
export const whenUnauthorized = (f) => { onUnauthorized = f; };

export async function call(method, path, body) {
  const s = current();
  const headers = { Accept: 'application/json' };
  if (s) headers.Authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (r.status === 401) {
    forget();
    onUnauthorized();
  }
  if (!r.ok) throw new ApiError(r.status, data);
  return { data, next: r.headers.get('x-next-cursor'), status: r.status };
}

export const get = (p) => call('GET', p).then((r) => r.data);
export const post = (p, b) => call('POST', p, b ?? {}).then((r) => r.data);
export const put = (p, b) => call('PUT', p, b ?? {}).then((r) => r.data);
export const del = (p) => call('DELETE', p).then((r) => r.data);

/** Every page of a listing that pages with x-next-cursor (at most `max` items). */
export async function all(path, max = 5000) {
  const out = [];
  let cursor = null;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const r = await call('GET', cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    out.push(...(Array.isArray(r.data) ? r.data : []));
    cursor = r.next;
  } while (cursor && out.length < max);
  return out;
}
