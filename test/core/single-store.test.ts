import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '../..');
const scratch = mkdtempSync(join(tmpdir(), 'rc-store-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('one context store per process', () => {
  it('is shared by the ESM build, the CJS build and a duplicate install', () => {
    // A second copy of the package, as a duplicate install in another node_modules would be.
    const copy = join(scratch, 'node_modules', 'routing-context');
    mkdirSync(copy, { recursive: true });
    cpSync(join(root, 'dist'), join(copy, 'dist'), { recursive: true });
    cpSync(join(root, 'package.json'), join(copy, 'package.json'));
    const script = join(scratch, 'check.mjs');
    writeFileSync(
      script,
      `
import { createRequire } from 'node:module';
import * as esm from ${JSON.stringify(join(root, 'dist/index.js'))};
const require = createRequire(import.meta.url);
const cjs = require(${JSON.stringify(join(root, 'dist/index.cjs'))});
const dup = await import(${JSON.stringify(join(copy, 'dist/index.js'))});
const dupCjs = require(${JSON.stringify(join(copy, 'dist/index.cjs'))});
const seen = await esm.withRoutingKey('from-esm', async () => {
  await new Promise((r) => setTimeout(r, 1));
  return [cjs.getRoutingKey(), dup.getRoutingKey(), dupCjs.getRoutingKey()];
});
const back = cjs.withRoutingKey('from-cjs', () => esm.getRoutingKey());
cjs.configureRouting({ headers: ['x-shared'] });
const config = esm.extractRoutingKey({ 'x-shared': 'cfg' });
console.log(JSON.stringify({ distinctModules: esm.getRoutingKey !== cjs.getRoutingKey, seen, back, config }));
`,
    );
    const out = JSON.parse(execFileSync(process.execPath, [script], { encoding: 'utf8' }));
    expect(out).toEqual({
      distinctModules: true,
      seen: ['from-esm', 'from-esm', 'from-esm'],
      back: 'from-cjs',
      config: 'cfg',
    });
  });
});
