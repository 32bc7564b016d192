// Checks what each hop did against what the routes say it should have done, and prints the table.

/**
 * @typedef {{ id: string, sandbox?: string, via: string, key: string | undefined,
 *             expect: { orders: string, fulfilment: string } }} DemoRequest
 * @typedef {{ id: string, sandbox: string | null, via: string, routingKey: string | null, status: number,
 *             web: string | null, router: string | null, orders: string | null, ordersDetail: string | null,
 *             fulfilment: string[], fulfilmentDetail: string[], skippedBy: string[],
 *             cacheKeys: string[], keys: { web: string | null, router: string | null, orders: string | null,
 *             fulfilment: (string | null)[] }, expected: { orders: string, fulfilment: string, cacheKey: string },
 *             problems: string[] }} Row
 */

/**
 * One row per request, with every wrong hop listed in `problems`.
 * @param {{ requests: DemoRequest[], answers: { status: number }[],
 *           journal: import('./services.mjs').Journal, written: string[], keyPrefix: string,
 *           versions: string[], selective: boolean }} input
 * @returns {Row[]}
 */
export function checkRows({ requests, answers, journal, written, keyPrefix, versions, selective }) {
  return requests.map((request, i) => {
    const entry = journal.requests.get(request.id) ?? { took: [], skippedBy: [] };
    const key = request.key;
    const name = `${keyPrefix}:ship:ord-${request.id}`;
    const expected = { ...request.expect, cacheKey: key === undefined ? name : `${key}:${name}` };
    const cacheKeys = written.filter((k) => k === name || k.endsWith(`:${name}`)).sort();
    const problems = [];
    const status = answers[i]?.status ?? 0;
    const shown = (/** @type {string | undefined} */ k) => (k === undefined ? 'no key' : `key ${k}`);
    const hopKey = (
      /** @type {string} */ hop,
      /** @type {{ key: string | undefined } | undefined} */ seen,
    ) => {
      if (seen !== undefined && seen.key !== key)
        problems.push(`${hop} ran with ${shown(seen.key)}, expected ${shown(key)}`);
    };

    if (status !== 201) problems.push(`web answered HTTP ${status}, expected 201`);
    if (entry.web === undefined) problems.push('web: never reached');
    hopKey('web', entry.web);
    if (entry.router === undefined) problems.push('router: never reached');
    else if (entry.router.version !== expected.orders)
      problems.push(`router sent it to orders@${entry.router.version}, expected orders@${expected.orders}`);
    if (entry.orders === undefined) problems.push('orders: never reached');
    else if (entry.orders.version !== expected.orders)
      problems.push(`handled by orders@${entry.orders.version}, expected orders@${expected.orders}`);
    hopKey('orders', entry.orders);
    const tookHops = [...entry.took].sort((a, b) => a.version.localeCompare(b.version));
    const took = tookHops.map((hop) => hop.version);
    if (took.length === 0)
      problems.push(`no fulfilment consumer took the message, expected fulfilment@${expected.fulfilment}`);
    else if (took.length > 1 || took[0] !== expected.fulfilment)
      problems.push(
        `taken by fulfilment@${took.join(', fulfilment@')}, expected fulfilment@${expected.fulfilment} only`,
      );
    for (const hop of entry.took) hopKey(`fulfilment@${hop.version}`, hop);
    const skippedBy = [...entry.skippedBy].sort();
    if (selective) {
      const others = versions.filter((v) => v !== expected.fulfilment).sort();
      if (skippedBy.join() !== others.join())
        problems.push(`skipped by [${skippedBy.join(', ')}], expected [${others.join(', ')}]`);
    }
    if (cacheKeys.length !== 1 || cacheKeys[0] !== expected.cacheKey)
      problems.push(`cache keys written [${cacheKeys.join(', ')}], expected [${expected.cacheKey}]`);

    return {
      id: request.id,
      sandbox: request.sandbox ?? null,
      via: request.via,
      routingKey: key ?? null,
      status,
      web: entry.web?.version ?? null,
      router: entry.router?.version ?? null,
      orders: entry.orders?.version ?? null,
      ordersDetail: entry.orders?.detail ?? null,
      fulfilment: took,
      fulfilmentDetail: tookHops.map((hop) => hop.detail ?? ''),
      skippedBy,
      cacheKeys,
      keys: {
        web: entry.web?.key ?? null,
        router: entry.router?.key ?? null,
        orders: entry.orders?.key ?? null,
        fulfilment: tookHops.map((hop) => hop.key ?? null),
      },
      expected,
      problems,
    };
  });
}

/**
 * @param {string[][]} cells - header row first
 * @returns {string} a Markdown table, columns padded
 */
function table(cells) {
  const widths = cells[0].map((_, c) => Math.max(...cells.map((row) => row[c].length)));
  const line = (/** @type {string[]} */ row) =>
    `| ${row.map((cell, c) => cell.padEnd(widths[c])).join(' | ')} |`;
  return [
    line(cells[0]),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...cells.slice(1).map(line),
  ].join('\n');
}

/**
 * The human-readable result.
 * @param {{ ok: boolean, runId: string, routes: string, routesApiRequests?: number, broken: string | null,
 *           topic: string, consumerGroups: string[], versions: string[], routingKeys: Record<string, string>, rows: Row[],
 *           seconds: number }} report
 * @returns {string}
 */
export function renderReport(report) {
  const out = [];
  out.push('');
  out.push('Topology: web (baseline) → router → orders → Kafka → fulfilment → Redis');
  out.push(`  sandbox pr-142 (routing key ${report.routingKeys['pr-142']}) forks orders and fulfilment`);
  out.push(`  sandbox pr-7   (routing key ${report.routingKeys['pr-7']}) forks fulfilment only`);
  out.push(
    report.routes === 'routes-api'
      ? `  routes: routesApi() against the local Routes API emulator (${report.routesApiRequests} rule requests served)`
      : '  routes: staticRoutes() (run with --routes-api to use routesApi() against a Routes API emulator)',
  );
  out.push(`  Kafka topic ${report.topic}`);
  if (report.broken !== null) out.push(`  BROKEN ON PURPOSE: ${report.broken}`);
  out.push('');
  const header = [
    '#',
    'sandbox',
    'key sent via',
    'web',
    'router → orders',
    'orders',
    'Kafka → fulfilment',
    'cache key written',
    'ok',
  ];
  const rows = report.rows.map((row) => [
    row.id,
    row.sandbox ?? '—',
    row.via,
    row.web ?? '—',
    row.router ?? '—',
    row.orders === null ? '—' : `${row.orders} (${row.ordersDetail})`,
    row.fulfilment.length === 0
      ? '—'
      : row.fulfilment.map((v, i) => `${v} (${row.fulfilmentDetail[i]})`).join(', '),
    row.cacheKeys.join(', ') || '—',
    row.problems.length === 0 ? 'ok' : 'WRONG',
  ]);
  out.push(table([header, ...rows]));
  out.push('');
  out.push('Kafka consumer groups: each gets every message and skips those routed elsewhere.');
  const groups = report.consumerGroups.map((group, g) => {
    const version = report.versions[g];
    const took = report.rows.filter((row) => row.fulfilment.includes(version)).map((row) => row.id);
    const skipped = report.rows.filter((row) => row.skippedBy.includes(version)).map((row) => row.id);
    return [`fulfilment@${version}`, group, took.join(' ') || '—', skipped.join(' ') || '—'];
  });
  out.push(table([['consumer', 'group id', 'took', 'skipped'], ...groups]));
  out.push('');
  out.push('Visible differences: orders@pr-142 gives 10% off (total 90 instead of 100); fulfilment ships');
  out.push('standard in the baseline, express in pr-142 and by drone in pr-7. Cache keys written in a');
  out.push("routed request start with its routing key (routedRedis); the baseline's keys are untouched.");
  out.push('');
  const wrong = report.rows.flatMap((row) =>
    row.problems.map((p) => `  ${row.id} (${row.sandbox ?? 'baseline'}, ${row.via}): ${p}`),
  );
  if (wrong.length === 0) out.push(`demo: OK — every hop went to the right version (${report.seconds} s)`);
  else out.push(`demo: FAILED — ${wrong.length} wrong hop(s):`, ...wrong);
  return `${out.join('\n')}\n`;
}
