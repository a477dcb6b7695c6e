// Copies files the TypeScript compiler does not emit into dist/: the capture hook script and the
// shipped security rule files.
import { chmodSync, copyFileSync, mkdirSync, readdirSync } from 'node:fs';
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
