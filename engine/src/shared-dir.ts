// Where the project's `shared/` folder is (Hasura's reference data: its metadata schema and test
// fixtures). CI clones the repository with shared/ beside it; ORG_CREDITS_SHARED_DIR overrides.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

export function sharedDir(): string {
  const candidates = [process.env.ORG_CREDITS_SHARED_DIR, resolve(import.meta.dirname, '..', '..', '..', 'shared'), '/work/shared'].filter(
    (dir): dir is string => Boolean(dir),
  );
  const found = candidates.find((dir) => existsSync(join(dir, 'hasura-reference')));
  if (!found) throw new Error(`shared/hasura-reference not found (looked in ${candidates.join(', ')}); set ORG_CREDITS_SHARED_DIR`);
  return found;
}
