// `pnpm dev`: for now, the seeded database (the engine, api and web join as they land).
import { spawnSync } from 'node:child_process';

const reset = process.argv.includes('--reset');
const result = spawnSync('pnpm', ['exec', 'tsx', 'db/src/cli.ts', reset ? 'reset' : 'start'], { stdio: 'inherit' });
process.exit(result.status ?? 1);
