// The resource tree: organizations, tenants and services, with create and delete where permitted.
import { useState } from 'preact/hooks';
import { all, post, del } from './api.js';
import { Action, Field, Form, Loaded, leaf, useLoad } from './ui.jsx';

const SERVICE_TYPES = ['kms', 'x509-store', 'x509-service', 'credential-status', 'vical-service'];
const TREE_KINDS = new Set(['tenant', ...SERVICE_TYPES]);

export const serviceLink = (r) => `#/s/${r.type}/${r._id}`;

function Node({ item, depth, onChange }) {
  const [open, setOpen] = useState(false);
  const isService = SERVICE_TYPES.includes(item.type);
  return (
    <li>
      <div class="node">
        {item.type === 'tenant'
          ? <button type="button" class="link" aria-expanded={open} onClick={() => setOpen(!open)}>{open ? '▾' : '▸'} {leaf(item._id)}</button>
          : <a href={serviceLink(item)}>{leaf(item._id)}</a>}
        <span class="tag">{item.type}</span>
        {isService && item.dependencies?.length > 0 && <span class="muted"> uses {item.dependencies.join(', ')}</span>}
        <Action label="Delete" kind="danger small" busyLabel="Deleting"
          confirm={`Delete ${item._id}${item.type === 'tenant' ? ' and everything under it' : ''}? This cannot be undone.`}
          run={() => del(`/v1/${item._id}/resource-api/resources/delete${item.type === 'tenant' ? '-recursive' : ''}`)}
          onDone={onChange} />
      </div>
      {open && item.type === 'tenant' && <Children target={item._id} depth={depth + 1} />}
    </li>
  );
}

function Children({ target, depth }) {
  const state = useLoad(() => all(`/v1/${target}/resource-api/resources/list?limit=1000`), [target]);
  return (
    <Loaded state={state} what={`${target}`}>
      {(items) => {
        const shown = items.filter((i) => TREE_KINDS.has(i.type));
        return (
          <>
            <ul class="tree">
              {shown.map((i) => <Node item={i} depth={depth} onChange={state.reload} />)}
              {shown.length === 0 && <li class="empty">Nothing here yet.</li>}
            </ul>
            <CreateUnder target={target} onDone={state.reload} />
          </>
        );
      }}
    </Loaded>
  );
}

function CreateUnder({ target, onDone }) {
  const [what, setWhat] = useState(null);
  if (!what) {
    return (
      <div class="row">
        <button type="button" class="small" onClick={() => setWhat('tenant')}>+ Tenant under {leaf(target)}</button>
        <button type="button" class="small" onClick={() => setWhat('service')}>+ Service under {leaf(target)}</button>
      </div>
    );
  }
  const done = () => { setWhat(null); onDone(); };
  if (what === 'tenant') {
    return (
      <Form title={`New tenant under ${target}`} label="Create tenant" onDone={done}
        submit={(f) => post(`/v1/${target}.${f.get('id')}/resource-api/tenants/create`, { name: f.get('name') })}>
        <Field name="id" label="Id (letters, digits, - and _)" required />
        <Field name="name" label="Name" required />
      </Form>
    );
  }
  return (
    <Form title={`New service under ${target}`} label="Create service" onDone={done}
      submit={(f) => {
        const deps = String(f.get('deps') || '').split(',').map((s) => s.trim()).filter(Boolean);
        return post(`/v1/${target}.${f.get('id')}/resource-api/services/create`,
          { type: f.get('type'), ...(deps.length ? { dependencies: deps } : {}) });
      }}>
      <Field name="id" label="Id" required />
      <Field label="Type"><select name="type">{SERVICE_TYPES.map((t) => <option value={t}>{t}</option>)}</select></Field>
      <Field name="deps" label="Dependencies (paths, comma-separated)" placeholder={`${target}.kms`} />
    </Form>
  );
}

export function TreePage({ org }) {
  return (
    <section>
      <h2>Resources of {org}</h2>
      <Children target={org} depth={0} />
    </section>
  );
}
