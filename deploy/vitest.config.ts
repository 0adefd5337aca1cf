import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'deploy',
    root: import.meta.dirname,
    include: ['test/**/*.test.ts'],
    globalSetup: ['../db/src/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
});
