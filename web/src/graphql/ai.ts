import { gql, type TypedDocumentNode } from '@apollo/client';
import type {
  CheckAiAccessQuery,
  CheckAiAccessQueryVariables,
  CreditEstimateQuery,
  CreditEstimateQueryVariables,
  LevelCostsQuery,
  LevelCostsQueryVariables,
  RunPlaygroundMutation,
  RunPlaygroundMutationVariables,
} from './operations.gen.ts';

export const CreditEstimateDocument: TypedDocumentNode<CreditEstimateQuery, CreditEstimateQueryVariables> = gql`
  query CreditEstimate($capability: String!, $qualityLevel: String!, $inputTokens: Int, $outputTokens: Int) {
    estimateCredits(capability: $capability, qualityLevel: $qualityLevel, inputTokens: $inputTokens, outputTokens: $outputTokens) {
      capability
      qualityLevel
      modelId
      modelDisplayName
      pricingMode
      baseCredits
      inputCreditsPer1kTokens
      outputCreditsPer1kTokens
      minimumCredits
      minimumExplanation
      typicalCredits
      typicalInputTokens
      typicalOutputTokens
      typicalExplanation
      maximumCredits
      maximumExplanation
    }
  }
`;

export type CreditEstimate = NonNullable<CreditEstimateQuery['estimateCredits']>;
export type LevelCostsData = LevelCostsQuery;
export type LevelCost = NonNullable<LevelCostsQuery['fast']>;

/** The typical cost of one run at each quality level the org's plan offers for the capability, in
 * one request. A level the plan lacks is left out with @include: Hasura answers a request whose
 * action fails with errors and no data at all, so asking for it would lose the others too. */
export const LevelCostsDocument: TypedDocumentNode<LevelCostsQuery, LevelCostsQueryVariables> = gql`
  query LevelCosts($capability: String!, $fast: Boolean!, $enhanced: Boolean!, $premium: Boolean!) {
    fast: estimateCredits(capability: $capability, qualityLevel: "fast") @include(if: $fast) {
      modelId
      pricingMode
      typicalCredits
    }
    enhanced: estimateCredits(capability: $capability, qualityLevel: "enhanced") @include(if: $enhanced) {
      modelId
      pricingMode
      typicalCredits
    }
    premium: estimateCredits(capability: $capability, qualityLevel: "premium") @include(if: $premium) {
      modelId
      pricingMode
      typicalCredits
    }
  }
`;

export type AIAccessCheck = NonNullable<CheckAiAccessQuery['checkAIAccess']>;

export const CheckAIAccessDocument: TypedDocumentNode<CheckAiAccessQuery, CheckAiAccessQueryVariables> = gql`
  query CheckAIAccess($capability: String!, $qualityLevel: String!) {
    checkAIAccess(capability: $capability, qualityLevel: $qualityLevel) {
      allowed
      reason
      message
      action
      requiredPlanCode
      modelId
      modelDisplayName
      estimatedCredits
      rateLimitHourRemaining
      rateLimitDayRemaining
      retryAfterSeconds
      availableCredits
    }
  }
`;

export type PlaygroundRun = NonNullable<RunPlaygroundMutation['runPlayground']>;

/** Reserve → the AI provider → settle, done by the api in one action. */
export const RunPlaygroundDocument: TypedDocumentNode<RunPlaygroundMutation, RunPlaygroundMutationVariables> = gql`
  mutation RunPlayground($capability: String!, $qualityLevel: String!, $prompt: String!, $idempotencyKey: String!) {
    runPlayground(capability: $capability, qualityLevel: $qualityLevel, prompt: $prompt, idempotencyKey: $idempotencyKey) {
      reservationId
      output
      modelId
      inputTokens
      outputTokens
      chargedCredits
      availableCredits
    }
  }
`;
