// kms services (keys), x509 stores (certificates) and credential-status services (lists).
import { useState } from 'preact/hooks';
import { all, get, post, put, del } from './api.js';
import { Action, Field, Form, Json, Loaded, Table, leaf, useLoad, when } from './ui.jsx';
import { publishedStatus } from './lookup.js';

export function KmsPage({ service }) {
  const keys = useLoad(() => all(`/v1/${service}/kms-service-api/keys/list?limit=1000`), [service]);
  return (
    <section>
      <h2>KMS service {leaf(service)} <span class="muted">{service}</span></h2>
      <Loaded state={keys} what="keys">
        {(rows) => (
          <Table label="Keys" rows={rows} empty="No keys yet." columns={[
            ['Key', (r) => <code>{r._id}</code>],
            ['Type', (r) => r.keyType],
            ['KMS key', (r) => <code class="wrap">{r.kmsKeyArn}</code>],
            ['Adopted', (r) => (r.imported ? 'yes' : 'no')],
            ['', (r) => <Action label="Delete" kind="danger small" busyLabel="Deleting"
              confirm={`Delete key ${r._id}? A generated KMS key is scheduled for deletion (30 days).`}
              run={() => del(`/v1/${r._id}/kms-service-api/keys/delete`)} onDone={keys.reload} />],
          ]} />
        )}
      </Loaded>
      <Form title="Generate a key in AWS KMS" label="Generate key" onDone={keys.reload}
        result={(r) => <>Created {r._id}.</>}
        submit={(f) => post(`/v1/${service}.${f.get('id')}/kms-service-api/keys/generate`, { keyType: f.get('type') })}>
        <Field name="id" label="Key id" required />
        <Field label="Curve"><select name="type"><option>secp256r1</option><option>secp384r1</option><option>secp521r1</option></select></Field>
      </Form>
    </section>
  );
}

export function StorePage({ service }) {
  const certs = useLoad(() => all(`/v1/${service}/x509-store-api/certificates?limit=1000`), [service]);
  return (
    <section>
      <h2>X.509 store {leaf(service)} <span class="muted">{service}</span></h2>
      <Loaded state={certs} what="certificates">
        {(rows) => (
          <Table label="Stored certificates" rows={rows} empty="The store is empty." columns={[
            ['Id', (r) => leaf(r._id)],
            ['Subject', (r) => r.subject],
            ['Issuer', (r) => r.issuer],
            ['Not after', (r) => when(r.notAfter)],
            ['Kind', (r) => r.data?.type],
            ['', (r) => <details><summary>PEM</summary><pre>{r.data?.pem}</pre></details>],
          ]} />
        )}
      </Loaded>
    </section>
  );
}

function StatusConfig({ config }) {
  const view = useLoad(() => get(`/v1/${config}/credential-status-service-api/status-credential/view?limit=100`), [config]);
  return (
    <div class="card">
      <h3>Configuration {leaf(config)} <button type="button" class="small" onClick={view.reload}>Refresh</button></h3>
      <Loaded state={view} what="lists">
        {(v) => (
          <>
            <p class="muted">{[v.config?.kid && `Signed with ${v.config.kid}`, v.config?.config?.type, v.config?.config?.format]
              .filter(Boolean).join(' · ')}</p>
            <Table label={`Lists of ${config}`} rows={v.lists} empty="No list yet: allocate an entry." columns={[
              ['List', (l) => <code>{l.listId}</code>],
              ['Fill', (l) => `${l.allocated} / ${l.size} (${(l.fill * 100).toFixed(1)}%)`],
              ['Up to date', (l) => <span class={l.upToDate ? 'good' : 'bad'}>{l.upToDate ? 'yes' : 'no'}</span>],
              ['Pending changes', (l) => l.pendingChanges],
              ['Published', (l) => when(l.publishedAt)],
              ['Expires', (l) => when(l.exp)],
              ['Last error', (l) => (l.publishError ? <span class="bad">{l.publishError}</span> : 'none')],
            ]} />
            <EntryStatus config={config} onDone={view.reload} />
            <Json value={v.config} />
          </>
        )}
      </Loaded>
    </div>
  );
}

function EntryStatus({ config, onDone }) {
  const [entries, setEntries] = useState(null);
  return (
    <div class="forms">
      <Form title="Change one entry's status" label="Update status" onDone={onDone}
        result={(r) => <>{r.published ? 'Published: verifiers see it now.' : `Stored; ${r.pendingChanges} change(s) wait for the next publish.`}{r.publishError ? ` Publish error: ${r.publishError}` : ''}</>}
        submit={(f) => put(`/v1/${config}/credential-status-service-api/status-credential/status/update`,
          { updates: [{ entry: f.get('entry').trim(), status: f.get('status') }] })}>
        <Field name="entry" label="Entry id (<listId>:<index>)" required />
        <Field label="Status"><select name="status"><option value="0x1">0x1 revoked / invalid</option><option value="0x2">0x2 suspended</option><option value="0x0">0x0 valid</option></select></Field>
      </Form>
      <Form title="Look up one entry" label="Look up"
        result={(r) => <>Published status <strong>0x{r.status.toString(16)}</strong> ({r.kind}, {r.bits} bit{r.bits > 1 ? 's' : ''}, list issued {when(r.issuedAt)}). Changes not yet published are not in it.</>}
        submit={(f) => publishedStatus(config, String(f.get('entry')))}>
        <Field name="entry" label="Entry id (<listId>:<index>)" required />
      </Form>
      <Form title="Allocate entries" label="Allocate" onDone={(r) => { setEntries(r.entries); onDone(); }}
        result={() => <>Allocated: {(entries || []).map((e) => <code class="entry">{e}</code>)}</>}
        submit={(f) => post(`/v1/${config}/credential-status-service-api/status-credential/entries`, { count: Number(f.get('count')) })}>
        <Field name="count" label="How many" type="number" value="1" required />
      </Form>
    </div>
  );
}

export function StatusPage({ service }) {
  const configs = useLoad(() => all(`/v1/${service}/resource-api/resources/list?limit=1000`), [service]);
  return (
    <section>
      <h2>Credential status service {leaf(service)} <span class="muted">{service}</span></h2>
      <Loaded state={configs} what="configurations">
        {(rows) => {
          const shown = rows.filter((r) => r.type === 'status-credential');
          return shown.length ? shown.map((r) => <StatusConfig config={r._id} />)
            : <p class="empty">No status configuration yet (create one with status-credential/create).</p>;
        }}
      </Loaded>
    </section>
  );
}
