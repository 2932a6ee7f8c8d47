// An x509-service: its IACAs, what each signed (with state), revocation, issuing, CRLs.
import { useState } from 'preact/hooks';
import { all, get, post } from './api.js';
import { Action, Field, Form, Json, Loaded, Table, leaf, useLoad, when } from './ui.jsx';

const REASONS = ['unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged', 'superseded',
  'cessationOfOperation', 'privilegeWithdrawn', 'aACompromise'];

function Revoke({ service, cert, onDone }) {
  const [reason, setReason] = useState('keyCompromise');
  return (
    <span class="row">
      <label class="sr-only" for={`reason-${cert.serialNumber}`}>Reason</label>
      <select id={`reason-${cert.serialNumber}`} value={reason} onChange={(e) => setReason(e.currentTarget.value)}>
        {REASONS.map((r) => <option value={r}>{r}</option>)}
      </select>
      <Action label="Revoke" kind="danger small" busyLabel="Revoking and republishing the CRL"
        confirm={`Revoke ${cert.subject || cert.serialNumber} (${reason})? Verifiers will reject it once the CRL is fetched.`}
        run={() => post(`/v1/${service}/x509-service-api/certificates/revoke`, { serialNumber: cert.serialNumber, reason })}
        onDone={onDone} />
    </span>
  );
}

function Signed({ service, iaca }) {
  const state = useLoad(() => all(`/v1/${service}/x509-service-api/certificates/issued?iaca=${encodeURIComponent(iaca.serialNumber)}&limit=1000`), [service, iaca.serialNumber]);
  return (
    <Loaded state={state} what="the certificates it signed">
      {(rows) => (
        <Table label={`Certificates signed by ${iaca.subject}`} rows={rows} empty="It has signed nothing yet." columns={[
          ['Subject', (r) => r.subject || '—'],
          ['Profile', (r) => r.profile],
          ['Serial', (r) => <code>{r.serialNumber}</code>],
          ['Not after', (r) => when(r.notAfter)],
          ['State', (r) => <span class={`state ${r.state}`}>{r.state}{r.revocation?.reason ? ` (${r.revocation.reason})` : ''}</span>],
          ['', (r) => (r.state === 'valid' ? <Revoke service={service} cert={r} onDone={state.reload} /> : null)],
        ]} />
      )}
    </Loaded>
  );
}

function Crls({ service }) {
  const state = useLoad(() => get(`/v1/${service}/x509-service-api/crls`), [service]);
  return (
    <section>
      <h3>CRLs <button type="button" class="small" onClick={state.reload}>Refresh</button></h3>
      <Loaded state={state} what="CRLs">
        {(rows) => (
          <Table label="CRLs" rows={rows} empty="No IACA, so no CRL." columns={[
            ['IACA', (r) => r.iacaSubject || r.iaca],
            ['Number', (r) => r.number ?? '—'],
            ['This update', (r) => when(r.thisUpdate)],
            ['Next update', (r) => when(r.nextUpdate)],
            ['Revoked', (r) => r.revokedCount],
            ['URL', (r) => (/^https?:\/\//.test(r.url || '') ? <a href={r.url} rel="noreferrer">{r.url}</a> : r.url || '—')],
            ['Last error', (r) => (r.lastPublishError ? <span class="bad">{r.lastPublishError}</span> : 'none')],
          ]} />
        )}
      </Loaded>
    </section>
  );
}

const keyDesc = (path) => ({ type: 'kms-hosted-key-descriptor', keyIdPath: path });

function IssueIaca({ service, onDone }) {
  return (
    <Form title="Issue an IACA" label="Issue IACA" onDone={onDone}
      result={(r) => <>Issued {r.certificateData?.commonName || 'the IACA'}{r.storedCertificateIds ? `, stored as ${r.storedCertificateIds.join(', ')}` : ''}.</>}
      submit={(f) => post(`/v1/${service}/x509-service-api/iso/iacas`, {
        ...(f.get('stored') ? { storedCertificateId: f.get('stored') } : {}),
        iacaKeyDesc: keyDesc(f.get('key')),
        certificateData: {
          country: f.get('country'), commonName: f.get('cn'),
          ...(f.get('state') ? { stateOrProvinceName: f.get('state') } : {}),
          issuerAlternativeNameConf: { uri: f.get('uri') },
        },
      })}>
      <Field name="key" label="KMS key path (of an attached kms service)" required placeholder="org.tenant.kms.iaca-key" />
      <Field name="cn" label="Common name" required />
      <Field name="country" label="Country (ISO 3166-1 alpha-2)" required placeholder="US" />
      <Field name="state" label="State or province (optional)" placeholder="US-CA" />
      <Field name="uri" label="Issuer alternative name URI" required placeholder="https://dmv.example.gov" />
      <Field name="stored" label="Stored certificate id (optional)" />
    </Form>
  );
}

function IssueDs({ service, iacas, onDone }) {
  const [mode, setMode] = useState('kms');
  return (
    <Form title="Issue a Document Signer" label="Issue Document Signer" onDone={onDone}
      result={(r) => <>Issued {r.certificateData?.commonName || 'the Document Signer'}, valid until {when(r.certificateData?.notAfter)}.</>}
      submit={(f) => {
        const iaca = iacas.find((i) => i.serialNumber === f.get('iaca'));
        return post(`/v1/${service}/x509-service-api/iso/document-signers`, {
          ...(f.get('stored') ? { storedCertificateId: f.get('stored') } : {}),
          iacaSigner: { type: "iaca-pem-cert-descriptor", iacaPemEncodedCertificate: iaca?.certificatePEM, iacaKeyDesc: keyDesc(f.get('iacaKey')) },
          certificateData: { country: f.get('country'), commonName: f.get('cn'), ...(f.get('state') ? { stateOrProvinceName: f.get('state') } : {}) },
          dsKeyDescriptor: mode === 'kms' ? keyDesc(f.get('dsKey')) : { type: 'pkcs10-csr', csrPem: f.get('csr') },
        });
      }}>
      <Field label="Signed by (IACA)"><select name="iaca" required>{iacas.filter((i) => i.state === 'valid').map((i) => <option value={i.serialNumber}>{i.subject}</option>)}</select></Field>
      <Field name="iacaKey" label="The IACA's KMS key path" required />
      <Field name="cn" label="Common name" required />
      <Field name="country" label="Country (the IACA's)" required />
      <Field name="state" label="State or province (the IACA's, if it has one)" />
      <fieldset class="field"><legend>The Document Signer's key</legend>
        <label><input type="radio" name="mode" checked={mode === 'kms'} onChange={() => setMode('kms')} /> a key in KMS</label>
        <label><input type="radio" name="mode" checked={mode === 'csr'} onChange={() => setMode('csr')} /> a pasted CSR (PKCS#10 PEM)</label>
      </fieldset>
      {mode === 'kms' ? <Field name="dsKey" label="DS KMS key path" required />
        : <Field label="CSR (PEM)"><textarea name="csr" rows={6} required placeholder="-----BEGIN CERTIFICATE REQUEST-----" /></Field>}
      <Field name="stored" label="Stored certificate id (optional)" />
    </Form>
  );
}

export function X509Page({ service }) {
  const iacas = useLoad(() => all(`/v1/${service}/x509-service-api/certificates/issued?limit=1000`), [service]);
  const [open, setOpen] = useState(null);
  return (
    <section>
      <h2>X.509 service {leaf(service)} <span class="muted">{service}</span></h2>
      <h3>IACAs</h3>
      <Loaded state={iacas} what="IACAs">
        {(rows) => (
          <>
            <Table label="IACAs" rows={rows} empty="No IACA issued yet." columns={[
              ['Subject', (r) => r.subject],
              ['Serial', (r) => <code>{r.serialNumber}</code>],
              ['Not after', (r) => when(r.notAfter)],
              ['State', (r) => <span class={`state ${r.state}`}>{r.state}</span>],
              ['', (r) => <button type="button" class="small" aria-expanded={open === r.serialNumber}
                onClick={() => setOpen(open === r.serialNumber ? null : r.serialNumber)}>What it signed</button>],
            ]} />
            {rows.filter((r) => r.serialNumber === open).map((r) => <div class="card"><h4>Signed by {r.subject}</h4><Signed service={service} iaca={r} /></div>)}
            <div class="forms">
              <IssueIaca service={service} onDone={iacas.reload} />
              {rows.length > 0 && <IssueDs service={service} iacas={rows} onDone={() => { const o = open; setOpen(null); setTimeout(() => setOpen(o), 0); }} />}
            </div>
          </>
        )}
      </Loaded>
      <Crls service={service} />
    </section>
  );
}

export { Json };
