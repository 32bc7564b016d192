import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

// Every ```ts block of the README is compiled against the built package, through its public
// entry points, the way a user's code would be.
const root = resolve(__dirname, '..');
const dir = join(root, 'test', '.readme-snippets');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function snippets(): { line: number; code: string }[] {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  const out: { line: number; code: string }[] = [];
  const re = /^```ts\n([\s\S]*?)^```/gm;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    out.push({ line: text.slice(0, m.index).split('\n').length, code: m[1]! });
  }
  return out;
}

describe('README', () => {
  it('has TypeScript snippets for the core and every integration', () => {
    const all = snippets()
      .map((s) => s.code)
      .join('\n');
    for (const entry of ['express', 'fastify', 'kafkajs', 'redis', 'grpc', 'otel']) {
      expect(all).toContain(`from 'routing-context/${entry}'`);
    }
  });

  it('compiles every TypeScript snippet', () => {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const files = snippets().map(({ line, code }) => {
      const file = join(dir, `readme-line-${line}.ts`);
      writeFileSync(file, `export {};\n${code}`);
      return file;
    });
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
    const diagnostics = ts.getPreEmitDiagnostics(program).map((d) => {
      const where = d.file
        ? `${d.file.fileName.replace(`${dir}/`, '')}:${d.file.getLineAndCharacterOfPosition(d.start ?? 0).line}`
        : '';
      return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
    expect(diagnostics).toEqual([]);
  });
});
