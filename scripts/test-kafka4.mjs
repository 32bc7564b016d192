#!/usr/bin/env node
// Runs the Kafka tests against a Kafka 4.x broker (default 4.1.2; KAFKA_VERSION=4.x.y to pick
// another), started from the Maven jars by the suite's global set-up like the default 3.9.x one.
//
//   npm run test:kafka4
//   KAFKA_VERSION=4.0.2 node scripts/test-kafka4.mjs
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const version = process.env.KAFKA_VERSION || '4.1.2';
if (!version.startsWith('4.')) {
  process.stderr.write(`KAFKA_VERSION=${version} is not a 4.x version\n`);
  process.exit(2);
}
const env = { ...process.env, KAFKA_VERSION: version };
delete env.KAFKA_BROKERS; // always start the 4.x broker, never reuse a running one
process.stderr.write(`Running the Kafka tests on Kafka ${version}\n`);
const vitest = resolve(root, 'node_modules/vitest/vitest.mjs');
const args = ['run', 'test/kafka', 'test/routes-api', ...process.argv.slice(2)];
const result = spawnSync(process.execPath, [vitest, ...args], { cwd: root, env, stdio: 'inherit' });
process.exit(result.status ?? 1);
