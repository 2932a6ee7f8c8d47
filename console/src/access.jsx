// Roles, API keys and external role mappings of an organization; its audit log.
import { all, del, post, put } from './api.js';
import { Action, Field, Form, Loaded, Table, leaf, useLoad, when } from './ui.jsx';

export function AccessPage({ org }) {
  const roles = useLoad(() => all(`/v1/${org}/roles-api/roles/list?limit=1000`), [org]);
  const keys = useLoad(() => all(`/v1/${org}/apikeys-api/api-keys/list?limit=1000`), [org]);
  const maps = useLoad(() => all(`/v1/${org}/roles-api/roles/external-mappings`), [org]);
  return (
    <section>
      <h2>Access to {org}</h2>
      <h3>Roles</h3>
      <Loaded state={roles} what="roles">
        {(rows) => (
          <Table label="Roles" rows={rows} columns={[
            ['Role', (r) => <code>{leaf(r._id)}</code>],
            ['Name', (r) => r.name],
            ['Permissions', (r) => (r.permissions || []).map((p) => <div><span class={p.operation === 'REMOVE' ? 'bad' : ''}>{p.operation}</span> {p.action} on {p.target}</div>)],
          ]} />
        )}
      </Loaded>
      <h3>Single sign-on mappings</h3>
      <Loaded state={maps} what="mappings">
        {(rows) => (
          <Table label="External role mappings" rows={rows} empty="No group of the identity provider is mapped." columns={[
            ['Group / role claim', (m) => <code>{m.externalRole}</code>],
            ['Gives role', (m) => leaf(m.roleId)],
            ['Enabled', (m) => (m.enabled ? 'yes' : 'no')],
            ['E-mail domains', (m) => (m.conditions?.emailDomains || []).join(', ') || 'any'],
            ['', (m) => <Action label="Remove" kind="danger small" confirm={`Stop giving ${leaf(m.roleId)} to ${m.externalRole}?`}
              run={() => del(`/v1/${m.roleId}/roles-api/roles/external-mappings/${encodeURIComponent(m.externalRole)}`)} onDone={maps.reload} />],
          ]} />
        )}
      </Loaded>
      <Form title="Map a group to a role" label="Save mapping" onDone={maps.reload}
        submit={(f) => {
          const domains = String(f.get('domains') || '').split(',').map((s) => s.trim()).filter(Boolean);
          return put(`/v1/${org}.${f.get('role')}/roles-api/roles/external-mappings/${encodeURIComponent(f.get('group'))}`,
            { enabled: true, ...(domains.length ? { conditions: { emailDomains: domains } } : {}) });
        }}>
        <Field name="group" label="Value of the roles claim (group)" required />
        <Field name="role" label="Role id" required placeholder="admin" />
        <Field name="domains" label="Only for e-mail domains (optional, comma-separated)" />
      </Form>
      <h3>API keys</h3>
      <Loaded state={keys} what="API keys">
        {(rows) => (
          <Table label="API keys" rows={rows} empty="No API keys." columns={[
            ['Key', (k) => <code>{leaf(k._id)}</code>],
            ['Name', (k) => k.name],
            ['Roles', (k) => (k.roles || []).map(leaf).join(', ')],
            ['Expires', (k) => when(k.expiresAt)],
            ['', (k) => <Action label="Delete" kind="danger small" confirm={`Delete API key ${k._id}? Keys it created stop working too.`}
              run={() => del(`/v1/${k._id}/apikeys-api/api-keys/delete`)} onDone={keys.reload} />],
          ]} />
        )}
      </Loaded>
    </section>
  );
}

export function AuditPage({ org }) {
  const entries = useLoad(() => post('/v1/audit/query', { target: org, limit: 200 }), [org]);
  const verify = useLoad(() => post('/v1/audit/verify', { target: org }), [org]);
  const who = (a) => (a.type === 'user' ? `${a.subject} (signed in)` : a.type === 'api-key' ? a.keyId : a.type);
  return (
    <section>
      <h2>Audit log of {org}</h2>
      <Loaded state={verify} what="the verification">
        {(v) => (
          <p class={v.valid ? 'good' : 'bad'} role="status">
            {v.valid ? `Chain verified: ${v.entries} entries, intact${v.checkpoint ? ' and signed by a checkpoint' : ''}.`
              : `Chain broken at entry ${v.firstBrokenSequence}.`}
          </p>
        )}
      </Loaded>
      <Loaded state={entries} what="entries">
        {(rows) => (
          <Table label="Audit entries" rows={[...rows].reverse()} columns={[
            ['#', (e) => e.sequenceNumber],
            ['When', (e) => when(e.timestamp)],
            ['Who', (e) => who(e.actor)],
            ['Action', (e) => e.action],
            ['Target', (e) => <code>{e.target}</code>],
            ['Outcome', (e) => <span class={e.outcome === 'success' ? 'good' : 'bad'}>{e.outcome}</span>],
          ]} />
        )}
      </Loaded>
    </section>
  );
}
