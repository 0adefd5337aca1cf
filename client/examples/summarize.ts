// A service that summarizes a document for an org and pays for it in credits.
//
//   HASURA_GRAPHQL_URL=http://127.0.0.1:8080/v1/graphql \
//   HASURA_GRAPHQL_ADMIN_SECRET=… \
//   ORG_ID=0a000000-0000-4000-8000-000000000001 \
//   pnpm --filter @org-credits/client example
//
// (ORG_ID above is the seeded demo org Acme Labs.) The "AI call" here is a stand-in that keeps the
// first sentences; replace it with your provider and report the token usage it returns.
import { CreditsError, createCreditsClient, createGraphQLTransport } from '../src/index.ts';

const url = process.env.HASURA_GRAPHQL_URL ?? 'http://127.0.0.1:8080/v1/graphql';
const adminSecret = process.env.HASURA_GRAPHQL_ADMIN_SECRET;
const orgId = process.env.ORG_ID ?? '0a000000-0000-4000-8000-000000000001';
if (!adminSecret) {
  console.error('set HASURA_GRAPHQL_ADMIN_SECRET (or change the auth below to { serviceToken })');
  process.exit(1);
}

const document = `Acme Labs moved its support inbox to the new helpdesk in October. Response times fell from
nine hours to two. The team now wants AI summaries of long threads and suggested replies. Costs must
stay under the monthly budget, so every call is metered in credits.`;

const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

const credits = createCreditsClient({ transport: createGraphQLTransport({ url, auth: { adminSecret } }) });

try {
  const { hold, settlement, result } = await credits.withCredits(
    { orgId, capability: 'summarization', qualityLevel: 'fast', estimate: { inputTokens: tokens(document) } },
    async (held) => {
      // Your AI call goes here, on the plan's model for this quality level.
      console.log(`calling ${held.modelId} with ${held.amountCredits} credits held`);
      const summary = document.split('. ').slice(0, 2).join('. ');
      return { usage: { inputTokens: tokens(document), outputTokens: tokens(summary) }, result: summary };
    },
  );
  console.log(`held ${hold.amountCredits} on ${hold.modelId}, charged ${settlement.chargedCredits}, ${settlement.availableCredits} left`);
  console.log(result);
} catch (error) {
  if (error instanceof CreditsError) {
    console.error(`refused: ${error.code} (${error.action ?? 'no action'}): ${error.message}`);
    process.exit(2);
  }
  throw error;
}
