#!/usr/bin/env node
// routing-context demo: one command shows request-level isolation working.
//
//   npm run demo                      (= npm run build && node examples/demo/run.mjs)
//   node examples/demo/run.mjs [--routes-api] [--json] [--rounds n]
//
// A sandbox `pr-142` forks `orders` and `fulfilment`; a sandbox `pr-7` forks only `fulfilment`.
// Requests for each sandbox, and baseline requests, go through web → orders → Kafka → fulfilment
// → Redis at the same time. The demo prints which version handled every hop and exits 1 if any
// hop went to the wrong version. See examples/demo/README.md.

// The services import routing-context by its public name, which resolves to the built dist/, and
// the libraries they wrap. Say what is missing instead of failing with a module-resolution error.
const needed = [
  ['routing-context', 'the package is not built: run `npm run demo` (it builds first) or `npm run build`'],
  ['routing-context/express', 'the package is not fully built: run `npm run build`'],
  ['routing-context/fastify', 'the package is not fully built: run `npm run build`'],
  ['routing-context/http', 'the package is not fully built: run `npm run build`'],
  ['routing-context/kafkajs', 'the package is not fully built: run `npm run build`'],
  ['routing-context/redis', 'the package is not fully built: run `npm run build`'],
  ['express', 'the dev dependencies are missing: run `npm install`'],
  ['fastify', 'the dev dependencies are missing: run `npm install`'],
  ['kafkajs', 'the dev dependencies are missing: run `npm install`'],
  ['ioredis', 'the dev dependencies are missing: run `npm install`'],
];
for (const [specifier, how] of needed) {
  try {
    await import(specifier);
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    process.stderr.write(`demo: cannot start — ${specifier} not found: ${how}\n`);
    process.exit(2);
  }
}

const { main } = await import('./main.mjs');
const code = await main();
// Client libraries may keep pooled sockets open for a while; the demo is done.
process.exit(code);
