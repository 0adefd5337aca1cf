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
      pricingMode
      minimumCredits
      minimumExplanation
      typicalCredits
      typicalExplanation
      maximumCredits
      maximumExplanation
    }
  }
`;

export type CreditEstimate = NonNullable<CreditEstimateQuery['estimateCredits']>;
export type LevelCostsData = LevelCostsQuery;
export type LevelCost = NonNullable<LevelCostsQuery['fast']>;

/** The typical cost of one run at each of the three quality levels, in one request. A level the
 * plan lacks may answer an error for its alias; the others still arrive (errorPolicy all). */
export const LevelCostsDocument: TypedDocumentNode<LevelCostsQuery, LevelCostsQueryVariables> = gql`
  query LevelCosts($capability: String!) {
    fast: estimateCredits(capability: $capability, qualityLevel: "fast") {
      modelId
      typicalCredits
    }
    enhanced: estimateCredits(capability: $capability, qualityLevel: "enhanced") {
      modelId
      typicalCredits
    }
    premium: estimateCredits(capability: $capability, qualityLevel: "premium") {
      modelId
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
