// The dry run on a CPU machine: everything the GPU machine will do, from the same bundle, except what needs a GPU.
// It packs .device/, copies exactly what the device tool carries (the tree as git sees it, without ignored files,
// plus .device/) into a temporary folder, and runs check.sh --dry there: Node comes from .device/node.xz, node_modules/
// and dist/ from the tarballs, so a package or file missing from the bundle fails here first. The addon is the build
// it is given, in place of the one the GPU machine makes: BYOL_TORCH_BINARY when set (as lib/native.ts loads it),
// else the one built here (build/Release); its LibTorch must be the torch of BYOL_PYTHON (else .byol/python), which
// the build stage checks.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

function pythonHere(root) {
  if (process.env.BYOL_PYTHON) return process.env.BYOL_PYTHON;
  const resolved = join(root, '.byol', 'python');
  return existsSync(resolved) ? readFileSync(resolved, 'utf8').trim() : 'python3';
}

/** Copies the carried tree (git ls-files + untracked, not ignored) and .device/ into `target`. */
function copyCarried(root, target) {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: root, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
  let count = 0;
  for (const file of new Set(files)) {
    const source = join(root, file);
    if (!existsSync(source) || lstatSync(source).isDirectory()) continue;
    mkdirSync(dirname(join(target, file)), { recursive: true });
    copyFileSync(source, join(target, file));
    chmodSync(join(target, file), lstatSync(source).mode & 0o777);
    count++;
  }
  execFileSync('cp', ['-a', join(root, '.device'), join(target, '.device')]);
  return count;
}

/** @returns {Promise<boolean>} whether the dry run failed */
export async function dryRunHere({ root, out, keep, forward }) {
  console.log('== pack (scripts/device/pack.sh)');
  const pack = spawnSync('bash', [join(root, 'scripts', 'device', 'pack.sh')], { stdio: 'inherit' });
  if (pack.status !== 0) {
    console.error(`check --cpu: scripts/device/pack.sh failed (exit ${pack.status ?? pack.signal}); nothing was run`);
    return true;
  }
  const explicit = process.env.BYOL_TORCH_BINARY;
  const addon = explicit ? resolve(explicit) : join(root, 'build', 'Release', 'byol_torch.node');
  if (!existsSync(addon)) {
    console.error(
      explicit
        ? `check --cpu: BYOL_TORCH_BINARY: expected an addon at ${addon}; the dry run loads it in place of the GPU machine's build`
        : `check --cpu: expected the addon built here at ${addon} (npm run build:native), or one named by BYOL_TORCH_BINARY; the dry run loads it in place of the GPU machine's build`,
    );
    return true;
  }
  console.log(`== the addon under test: ${addon}${explicit ? ' (BYOL_TORCH_BINARY)' : ''}`);
  const copy = mkdtempSync(join(tmpdir(), 'byol-device-dry-'));
  const files = copyCarried(root, copy);
  console.log(`== copied ${files} tree files and .device/ to ${copy} (what the device tool carries)`);
  rmSync(out, { recursive: true, force: true });
  const env = { ...process.env, OUT: out, BYOL_DEVICE_PREBUILT_ADDON: addon, BYOL_PYTHON: pythonHere(root), ...(explicit ? { BYOL_TORCH_BINARY: addon } : {}) };
  const code = await new Promise((done) => {
    const child = spawn('bash', ['scripts/device/check.sh', '--dry', ...forward], { cwd: copy, env, stdio: 'inherit' });
    child.on('close', (status, signal) => done(status ?? (signal ? 1 : 0)));
  });
  if (keep) console.log(`(the copy is kept: ${copy})`);
  else rmSync(copy, { recursive: true, force: true });
  return code !== 0;
}
