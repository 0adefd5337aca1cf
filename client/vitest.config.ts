import { defineProject } from 'vitest/config';

export default defineProject({
  test: {
    name: 'client',
    root: import.meta.dirname,
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
