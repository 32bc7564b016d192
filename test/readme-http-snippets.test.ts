// The README's Express and Fastify examples (examples/express-minimal.ts, fastify-minimal.ts):
// they compile strictly against the built package's public entry points, and they RUN: each is
// transpiled, started as its own process, and a routed POST must come back with its key, which
// must also reach the downstream service the example calls.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const dir = join(root, 'test', '.http-examples');
const EXAMPLES = ['express-minimal', 'fastify-minimal'];
const children: ChildProcess[] = [];

afterAll(() => {
  for (const child of children) child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const probe = http.createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolvePort(port));
    });
  });
}

describe('HTTP examples', () => {
  it('compile with strict settings through the public entry points', () => {
    const files = EXAMPLES.map((name) => join(root, 'examples', `${name}.ts`));
    const program = ts.createProgram(files, {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      types: ['node'],
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
    });
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    expect(diagnostics).toEqual([]);
    for (const file of files) {
      const code = readFileSync(file, 'utf8');
      expect(code).not.toMatch(/from '\.\.?\//); // public entry points only
      // The README shows them whole: short enough to read at a glance.
      expect(
        code.split('\n').filter((l) => l.trim() !== '' && !l.startsWith('//')).length,
      ).toBeLessThanOrEqual(15);
    }
  });

  it.each(EXAMPLES)('%s runs and propagates the key downstream', async (name) => {
    mkdirSync(dir, { recursive: true });
    const source = readFileSync(join(root, 'examples', `${name}.ts`), 'utf8');
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const file = join(dir, `${name}.mjs`);
    writeFileSync(file, js);

    const seen: Array<string | undefined> = [];
    const downstream = http.createServer((req, res) => {
      seen.push(req.headers.baggage as string | undefined);
      res.end('ok');
    });
    await new Promise<void>((r) => downstream.listen(0, '127.0.0.1', r));
    const port = await freePort();
    let stderr = '';
    const child = spawn(process.execPath, [file], {
      env: {
        ...process.env,
        PORT: String(port),
        DOWNSTREAM_URL: `http://127.0.0.1:${(downstream.address() as AddressInfo).port}/stock`,
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (c: Buffer) => (stderr += c));
    children.push(child);
    try {
      const post = (key: string) =>
        fetch(`http://127.0.0.1:${port}/orders`, {
          method: 'POST',
          headers: { baggage: `sd-routing-key=${key}`, 'content-type': 'application/json' },
          body: JSON.stringify({ item: key }),
        });
      // Wait until the example listens (or fail with what it printed).
      let ready = false;
      for (let attempt = 0; attempt < 100 && !ready; attempt++) {
        if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${stderr}`);
        ready = await post('warm-up').then(
          () => true,
          () => new Promise<boolean>((r) => setTimeout(() => r(false), 100)),
        );
      }
      expect(ready, stderr).toBe(true);
      seen.length = 0;
      const keys = ['pr-1', 'pr-2', 'pr-3', 'pr-4'];
      const answers = await Promise.all(keys.map(async (key) => (await post(key)).json()));
      expect(answers).toEqual(
        keys.map((key) => ({ routingKey: key, body: { item: key }, downstreamStatus: 200 })),
      );
      expect(seen.sort()).toEqual(keys.map((key) => `sd-routing-key=${key}`));
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => downstream.close(r));
    }
  });
});
