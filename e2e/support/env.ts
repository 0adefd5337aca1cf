// What the global setup started, read from the environment it set.
function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the journeys through playwright test (global-setup.ts starts the stack)`);
  return value;
}

export const stackEnv = {
  web: () => required('E2E_WEB_URL'),
  graphql: () => required('E2E_GRAPHQL_URL'),
  api: () => required('E2E_API_URL'),
  database: () => required('E2E_DATABASE_URL'),
  adminSecret: () => required('E2E_ADMIN_SECRET'),
  jwtKey: () => required('E2E_JWT_KEY'),
  actionSecret: () => required('E2E_ACTION_SECRET'),
};
