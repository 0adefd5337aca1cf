// After `vite build`: the JavaScript a first visit downloads before anything else (the entry
// chunk and every chunk it imports statically), gzipped, must stay within the budget.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET_BYTES = 200 * 1024;
const dist = join(import.meta.dirname, '..', 'dist');
const manifest = JSON.parse(readFileSync(join(dist, '.vite', 'manifest.json'), 'utf8'));

const entries = Object.entries(manifest).filter(([, chunk]) => chunk.isEntry);
if (entries.length !== 1) throw new Error(`expected one entry chunk, found ${entries.length}`);

const seen = new Set();
function visit(key) {
  if (seen.has(key)) return;
  seen.add(key);
  for (const imported of manifest[key].imports ?? []) visit(imported);
}
visit(entries[0][0]);

let total = 0;
const rows = [];
for (const key of seen) {
  const file = manifest[key].file;
  if (!file.endsWith('.js')) continue;
  const size = gzipSync(readFileSync(join(dist, file)), { level: 9 }).length;
  total += size;
  rows.push(`  ${file}  ${(size / 1024).toFixed(1)} KB`);
}
const lazy = Object.values(manifest).filter((c) => c.file.endsWith('.js') && !rows.some((r) => r.includes(c.file))).length;
process.stdout.write(`initial JS (entry + static imports, gzip -9):\n${rows.join('\n')}\n`);
process.stdout.write(`total ${(total / 1024).toFixed(1)} KB of ${BUDGET_BYTES / 1024} KB budget; ${lazy} lazy chunks\n`);
if (total > BUDGET_BYTES) {
  process.stderr.write('initial JavaScript is over budget\n');
  process.exit(1);
}
