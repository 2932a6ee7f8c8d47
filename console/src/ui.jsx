// Small shared pieces: loading, errors, tables, forms, confirmations.
import { useEffect, useState, useCallback } from 'preact/hooks';

/** Loads `f()` on mount and whenever `deps` change; `reload` runs it again. */
export function useLoad(f, deps) {
  const [state, setState] = useState({ loading: true, data: null, error: null });
  const run = useCallback(() => {
    setState((s) => ({ ...s, loading: true, error: null }));
    f().then((data) => setState({ loading: false, data, error: null }))
      .catch((error) => setState({ loading: false, data: null, error }));
  }, deps);
  useEffect(run, [run]);
  return { ...state, reload: run };
}

export function Failure({ error }) {
  if (!error) return null;
  const id = error.body?.id;
  return (
    <div class="error" role="alert">
      <strong>{error.status ? `${error.status}${id ? ` ${id}` : ''}` : 'Error'}</strong>: {error.message}
    </div>
  );
}

export function Loading({ what }) {
  return <p class="busy" aria-busy="true"><span class="spinner" aria-hidden="true" /> Loading {what}…</p>;
}

/** A loaded section: spinner, error, or the children rendered with the data. */
export function Loaded({ state, what, children }) {
  if (state.loading && !state.data) return <Loading what={what} />;
  if (state.error) return <Failure error={state.error} />;
  return children(state.data);
}

/** A button that runs an async action, shows progress while it runs and its error after. */
/** Runs async work with progress and keeps its error: `[busy, error, run]`. */
function useRun() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const run = async (work) => {
    setBusy(true);
    setError(null);
    try {
      return await work();
    } catch (e) {
      setError(e);
      return undefined;
    } finally {
      setBusy(false);
    }
  };
  return [busy, error, run];
}

export function Action({ label, busyLabel, run: work, confirm: question, kind = '', onDone, disabled }) {
  const [busy, error, run] = useRun();
  const go = () => {
    if (question && !window.confirm(question)) return;
    run(async () => onDone?.(await work()));
  };
  return (
    <span class="action">
      <button type="button" class={kind} onClick={go} disabled={busy || disabled} aria-busy={busy}>
        {busy ? <><span class="spinner" aria-hidden="true" /> {busyLabel || 'Working'}…</> : label}
      </button>
      <Failure error={error} />
    </span>
  );
}

/** A form whose submit runs an async action with progress, its error, and its result. */
export function Form({ title, submit, onDone, children, label = 'Submit', result }) {
  const [busy, error, run] = useRun();
  const [out, setOut] = useState(null);
  const go = (e) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    setOut(null);
    run(async () => {
      const data = await submit(form);
      setOut(data ?? {});
      onDone?.(data);
    });
  };
  return (
    <form class="card" onSubmit={go} aria-busy={busy}>
      {title && <h3>{title}</h3>}
      {children}
      <button type="submit" disabled={busy}>{busy ? <><span class="spinner" aria-hidden="true" /> Working…</> : label}</button>
      <Failure error={error} />
      {out && result && <div class="ok" role="status">{result(out)}</div>}
    </form>
  );
}

export function Field({ name, label, value, placeholder, required, type = 'text', children }) {
  return (
    <label class="field">
      <span>{label}</span>
      {children || <input name={name} type={type} value={value} placeholder={placeholder} required={required} />}
    </label>
  );
}

/** A table of objects: `columns` is [header, value-of-row] pairs. */
export function Table({ rows, columns, empty = 'None.', label }) {
  if (!rows || rows.length === 0) return <p class="empty">{empty}</p>;
  return (
    <div class="table" role="region" aria-label={label} tabIndex={0}>
      <table>
        <thead><tr>{columns.map(([h]) => <th scope="col">{h}</th>)}</tr></thead>
        <tbody>{rows.map((r) => <tr>{columns.map(([, f]) => <td>{f(r)}</td>)}</tr>)}</tbody>
      </table>
    </div>
  );
}

export const when = (t) => (t ? new Date(typeof t === 'number' ? t * (t < 1e12 ? 1000 : 1) : t).toLocaleString() : '—');

export function Json({ value }) {
  return <details class="json"><summary>JSON</summary><pre>{JSON.stringify(value, null, 2)}</pre></details>;
}

export const leaf = (id) => String(id).split('.').pop();
