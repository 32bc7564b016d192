// A local stand-in for the Signadot Routes API (HTTP flavour), so `--routes-api` can show
// `routesApi()` at work without a cluster. It answers
//   GET /api/v1/workloads/routing-rules?baselineKind=&baselineNamespace=&baselineName=
//       [&routingKey=][&destinationSandboxName=]
// with `{"routingRules":[{routingKey, baseline:{kind,namespace,name}, destinationSandbox:{name}}]}`,
// filtered by whichever query parameters are present, like the real route server.

import http from 'node:http';

const RULES_PATH = '/api/v1/workloads/routing-rules';

/**
 * @typedef {{ kind: string, namespace: string, name: string }} Workload
 * @typedef {{ routingKey: string, baseline: Workload, destinationSandbox: { name: string } }} RoutingRule
 */

/**
 * Builds the rules of a demo topology: for each workload, which routing key goes to which sandbox.
 * @param {Record<string, Record<string, string>>} routesByWorkload - workload name → { routingKey → sandbox }
 * @param {{ kind: string, namespace: string }} where - kind and namespace shared by the workloads
 * @returns {RoutingRule[]}
 */
export function rulesFor(routesByWorkload, where) {
  const rules = [];
  for (const [name, routes] of Object.entries(routesByWorkload)) {
    for (const [routingKey, sandbox] of Object.entries(routes)) {
      rules.push({
        routingKey,
        baseline: { kind: where.kind, namespace: where.namespace, name },
        destinationSandbox: { name: sandbox },
      });
    }
  }
  return rules;
}

/**
 * Starts the emulator on 127.0.0.1 (port 0 unless told otherwise).
 * @param {RoutingRule[]} rules
 * @param {{ port?: number }} [options]
 * @returns {Promise<{ url: string, requests: () => number, close: () => Promise<void> }>}
 */
export async function startRoutesApiEmulator(rules, options = {}) {
  let served = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://routes.local');
    if (req.method !== 'GET' || url.pathname !== RULES_PATH) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `no route for ${req.method} ${url.pathname}` }));
      return;
    }
    served++;
    const q = url.searchParams;
    const matches = (value, param) => !q.has(param) || q.get(param) === value;
    const routingRules = rules.filter(
      (rule) =>
        matches(rule.baseline.kind, 'baselineKind') &&
        matches(rule.baseline.namespace, 'baselineNamespace') &&
        matches(rule.baseline.name, 'baselineName') &&
        matches(rule.routingKey, 'routingKey') &&
        matches(rule.destinationSandbox.name, 'destinationSandboxName'),
    );
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ routingRules }));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const address = /** @type {import('node:net').AddressInfo} */ (server.address());
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests: () => served,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve(undefined));
      }),
  };
}
