// @org-credits/client: hold and charge AI credits from another service.
export { CreditsError, type CreditsErrorDetails, CreditsTransportError, isRetryable } from './errors.ts';
export { createGraphQLTransport, type GraphQLAuth, type GraphQLTransportOptions } from './graphql.ts';
export type {
  CreditEstimateHint,
  CreditsTransport,
  CreditUsage,
  ReleaseResult,
  ReserveRequest,
  ReserveResult,
  SettleResult,
} from './types.ts';
export {
  type CreditHold,
  type CreditsClient,
  type CreditsClientOptions,
  type CreditsOutcome,
  createCreditsClient,
  type WithCreditsOptions,
  type WithCreditsResult,
} from './with-credits.ts';
