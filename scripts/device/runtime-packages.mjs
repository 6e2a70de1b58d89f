// The npm packages the GPU machine needs, found from what the code there actually loads, so the bundle follows
// the code instead of a hand-kept list:
//   - every bare specifier dist/**/*.js imports (static `import ... from 'x'`, `import 'x'`, dynamic `import('x')`,
//     `require('x')`): what the CLI, the tests and the benchmarks load through the public API;
//   - the packages the addon build itself reads: node-addon-api (its C++ headers; CMakeLists.txt asks
//     `require('node-addon-api').include_dir`) and node-api-headers (Node's C headers, which cmake-js would
//     otherwise pass as CMAKE_JS_INC);
// and then, recursively, each one's dependencies and optionalDependencies that are installed (sharp's prebuilt
// libvips is an optional dependency). Nothing here is hard-coded beyond the two build packages.
//
//   node scripts/device/runtime-packages.mjs            prints one package folder per line (relative to the repo)
//   node scripts/device/runtime-packages.mjs --json     prints {roots, packages: [{name, dir, importedBy}]}
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const BUILD_PACKAGES = ['node-addon-api', 'node-api-headers'];

/** The package name of a bare specifier ('@scope/name/sub' -> '@scope/name'), or null for builtins and paths. */
function packageName(specifier) {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:')) return null;
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  return builtinModules.includes(name) ? null : name;
}

function* jsFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* jsFiles(path);
    else if (entry.name.endsWith('.js')) yield path;
  }
}

// Specifiers in string literals after `from`, bare `import`, `import(` and `require(`. Comments are stripped first
// so that a package named in prose is not carried.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)(['"])([^'"\n]+)\1/g;

/** Bare imports of dist/: name -> the dist files that import it. */
export function importedPackages(distDir = join(root, 'dist')) {
  if (!existsSync(join(distDir, 'index.js'))) {
    throw new Error(`${distDir}: expected the compiled TypeScript (dist/index.js); run \`npm run build:ts\` first`);
  }
  const found = new Map();
  for (const file of jsFiles(distDir)) {
    const code = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    for (const match of code.matchAll(SPECIFIER)) {
      const name = packageName(match[2]);
      if (!name) continue;
      if (!found.has(name)) found.set(name, []);
      found.get(name).push(relative(root, file));
    }
  }
  return found;
}

/** Where Node would find `name` when required from package folder `from` (nested node_modules first). */
function resolvePackageDir(name, from) {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root || dir === dirname(dir)) return null;
  }
}

/** Every package folder the roots need, with why (the root it was reached from). */
export function runtimePackages() {
  const imports = importedPackages();
  const roots = [...new Set([...imports.keys(), ...BUILD_PACKAGES])].sort();
  const packages = new Map();
  const visit = (name, from, why) => {
    const dir = resolvePackageDir(name, from);
    if (!dir) return false;
    if (packages.has(dir)) return true;
    packages.set(dir, { name, dir: relative(root, dir), importedBy: why });
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    // Optional dependencies absent here (other platforms' prebuilt binaries) are skipped, as npm skipped them.
    for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) visit(dep, dir, why);
    return true;
  };
  const missing = roots.filter((name) => !visit(name, root, imports.get(name)?.[0] ?? 'the addon build (CMakeLists.txt)'));
  if (missing.length) {
    throw new Error(`expected these packages under node_modules/ (run \`npm ci\`): ${missing.join(', ')}`);
  }
  return { roots, packages: [...packages.values()].sort((a, b) => a.dir.localeCompare(b.dir)) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = runtimePackages();
  if (process.argv.includes('--json')) console.log(JSON.stringify(result, null, 2));
  else console.log(result.packages.map((p) => p.dir).join('\n'));
}
