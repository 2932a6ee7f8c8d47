// One entry's published status, read from the list the API serves publicly
// (GET .../status-lists/{listId}) and decoded here: IETF Token Status List JWTs (zlib, LSB first)
// and W3C Bitstring Status List / StatusList2021 VC-JWTs (gzip, MSB first).
import { ApiError } from './api.js';

const unb64 = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4)), (c) => c.charCodeAt(0));

async function inflate(bytes, format) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Entry `index` of `bits`-bit statuses packed in `raw`: IETF lists fill each byte from its least
 *  significant bit, W3C lists from its most significant (`msbFirst`). */
function entryStatus(raw, index, bits, msbFirst) {
  const bit = index * bits;
  if (bit >= raw.length * 8) throw new Error(`index ${index} is beyond the list`);
  const shift = msbFirst ? 8 - bits - (bit % 8) : bit % 8;
  return (raw[bit >> 3] >> shift) & ((1 << bits) - 1);
}

/** `{status, bits, issuedAt, kind}` of entry `<listId>:<index>` of configuration `config`. */
export async function publishedStatus(config, entry) {
  const m = /^([A-Za-z0-9_-]+):(\d+)$/.exec(entry.trim());
  if (!m) throw new Error('an entry id is <listId>:<index>');
  const [, listId, idx] = m;
  const index = Number(idx);
  const r = await fetch(`/v1/${config}/credential-status-service-api/status-lists/${listId}`, { cache: 'no-store' });
  if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => null));
  const text = await r.text();
  if (!/^eyJ[\w-]*\.[\w-]+\.[\w-]*$/.test(text.trim())) throw new Error('this list is published as CWT: look it up with a CBOR decoder');
  const claims = JSON.parse(new TextDecoder().decode(unb64(text.trim().split('.')[1])));
  if (claims.status_list) {
    const { bits, lst } = claims.status_list;
    const raw = await inflate(unb64(lst), 'deflate');
    return { status: entryStatus(raw, index, bits, false), bits, issuedAt: claims.iat, kind: 'Token Status List' };
  }
  const subject = claims.vc?.credentialSubject || claims.credentialSubject;
  if (subject?.encodedList) {
    const bits = subject.statusSize || 1;
    const list = subject.encodedList.startsWith('u') ? subject.encodedList.slice(1) : subject.encodedList;
    const raw = await inflate(unb64(list), 'gzip');
    return { status: entryStatus(raw, index, bits, true), bits, issuedAt: claims.iat || claims.nbf, kind: subject.type };
  }
  throw new Error('not a status list this console can read');
}
