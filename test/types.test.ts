// The public TypeScript types: complete (no `any` anywhere in the built declarations, comments aside) and
// strict enough to reject wrong calls (test/types/public-api.ts, compiled against dist/ as the package 'byol-torch').
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const dist = join(root, 'dist');

function declarations(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? declarations(join(dir, entry.name)) : entry.name.endsWith('.d.ts') ? [join(dir, entry.name)] : [],
  );
}

/** Every `any` type in a declaration file (the parser's AnyKeyword nodes: comments and words never count). */
function anyTypes(file: string, text = readFileSync(file, 'utf8')): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (node.kind === ts.SyntaxKind.AnyKeyword) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart());
      found.push(`${relative(root, file)}:${line + 1}: ${text.split('\n')[line].trim()}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('public types', () => {
  it('dist/*.d.ts contain no `any`', () => {
    const files = declarations(dist);
    expect(files.length).toBeGreaterThan(10);
    expect(files.map((f) => relative(dist, f))).toContain('index.d.ts');
    expect(files.flatMap((f) => anyTypes(f))).toEqual([]);
  });

  it('the `any` scan finds an any and ignores the word in comments', () => {
    const text = '/** any function of any batch */\nexport declare function f(x: any): Promise<Array<any>>;\n// any\n';
    expect(anyTypes(join(dist, 'probe.d.ts'), text)).toHaveLength(2);
  });

  /** Compiles `files` (in a temp folder with `extra` files) against dist/ as 'byol-torch'; returns tsc's output. */
  function compile(files: string[], extra: Record<string, string> = {}): string {
    const dir = mkdtempSync(join(tmpdir(), 'byol-types-'));
    try {
      for (const [name, text] of Object.entries(extra)) writeFileSync(join(dir, name), text);
      const compilerOptions = {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
        typeRoots: [join(root, 'node_modules/@types')],
        paths: { 'byol-torch': [join(dist, 'index.d.ts')] },
      };
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files }));
      execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8', stdio: 'pipe' });
      return '';
    } catch (error) {
      return String((error as { stdout?: string }).stdout || error);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('right calls type-check with exact types, wrong calls are rejected', () => {
    expect(compile([join(root, 'test/types/public-api.ts')])).toBe('');
  });

  it('a wrong call the types accepted would fail the compile (an unused @ts-expect-error)', () => {
    const probe = "import { randn } from 'byol-torch';\n// @ts-expect-error\nrandn([2, 3]);\n";
    expect(compile(['probe.ts'], { 'probe.ts': probe })).toMatch(/probe\.ts\(2,1\): error TS2578: Unused '@ts-expect-error' directive/);
  });
});
