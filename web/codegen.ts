// GraphQL Code Generator: types for the operations in src/graphql from the engine's live schema.
// Run with the engine up (`pnpm --filter ./web codegen`); not part of CI yet, so the hand-written
// TypedDocumentNode types in src/graphql are what the build checks until then.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: [
    {
      [process.env.GRAPHQL_SCHEMA_URL ?? 'http://localhost:8080/v1/graphql']: {
        headers: process.env.HASURA_GRAPHQL_ADMIN_SECRET ? { 'x-hasura-admin-secret': process.env.HASURA_GRAPHQL_ADMIN_SECRET } : {},
      },
    },
  ],
  documents: ['src/graphql/*.ts'],
  generates: {
    'src/graphql/generated/': {
      preset: 'client',
      config: {
        scalars: { numeric: 'string', uuid: 'string', timestamptz: 'string', date: 'string', bigint: 'string', jsonb: 'unknown' },
        enumsAsTypes: true,
      },
    },
  },
};

export default config;
