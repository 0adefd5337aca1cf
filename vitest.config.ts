// One Vitest run for every Node package of the workspace; each package keeps its own config
// (vitest.config.ts in its folder) and is listed here as a project.
import { existsSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

const packages = ['db', 'hasura', 'engine', 'api', 'client', 'web', 'bench', 'deploy'];

export default defineConfig({
  test: {
    projects: packages.filter((dir) => existsSync(`${dir}/vitest.config.ts`)).map((dir) => `${dir}/vitest.config.ts`),
  },
});
