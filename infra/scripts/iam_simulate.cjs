// Evaluates AWS calls against IAM policies with @cloud-copilot/iam-simulate (installed by
// infra/scripts/bootstrap.sh into .tools/node). Reads a JSON array on stdin:
//   [{"id", "principal", "action", "resource", "context": {...}, "identityPolicies": [{name, policy}],
//     "resourcePolicy"?: {...}}]
// and writes [{"id", "result": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | "Error", "detail"?}].
const path = require('path');
const modules = process.env.IAM_SIMULATE_MODULES || path.join(__dirname, '..', '..', '.tools', 'node', 'node_modules');
const { createRequire } = require('module');
const { runSimulation } = createRequire(path.join(modules, 'index.js'))('@cloud-copilot/iam-simulate');

async function main() {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const out = [];
  for (const s of JSON.parse(input)) {
    const simulation = {
      request: {
        principal: s.principal,
        action: s.action,
        resource: { resource: s.resource, accountId: s.accountId || '123456789012' },
        contextVariables: s.context || {},
      },
      identityPolicies: s.identityPolicies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    };
    if (s.resourcePolicy) simulation.resourcePolicy = s.resourcePolicy;
    const r = await runSimulation(simulation, {});
    if (r.resultType === 'error') {
      out.push({ id: s.id, result: 'Error', detail: JSON.stringify(r.errors).slice(0, 2000) });
    } else {
      out.push({ id: s.id, result: r.overallResult });
    }
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => { console.error(e); process.exit(2); });
