// Copies files the TypeScript compiler does not emit into dist/: the capture hook script and the
// shipped security rule files. Then makes the package's bin executable, which the compiler does not either:
// `npx claude-telemetry` run in this folder executes it as it is (`npm link` and installs set the bit).
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const copies = [['src/capture/hook.sh', 'dist/capture/hook.sh', 0o755]];
for (const name of readdirSync(`${root}src/detect/rules`)
  .filter((n) => n.endsWith('.yaml'))
  .sort())
  copies.push([`src/detect/rules/${name}`, `dist/detect/rules/${name}`, 0o644]);

for (const [from, to, mode] of copies) {
  const src = `${root}${from}`;
  const dst = `${root}${to}`;
  mkdirSync(dirname(dst), { recursive: true });
  copyFileSync(src, dst);
  chmodSync(dst, mode);
  console.log(`postbuild: ${from} -> ${to}`);
}

const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8'));
for (const bin of Object.values(pkg.bin ?? {})) {
  chmodSync(`${root}${bin}`, 0o755);
  console.log(`postbuild: ${bin} made executable`);
}
