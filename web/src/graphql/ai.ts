import { gql, type TypedDocumentNode } from '@apollo/client';
import type { Numeric, Uuid } from './scalars.ts';

export interface CreditEstimate {
  capability: string;
  qualityLevel: string;
  modelId: string;
  pricingMode: 'per_call' | 'per_token';
  minimumCredits: Numeric;
  minimumExplanation: string;
  typicalCredits: Numeric;
  typicalExplanation: string;
  maximumCredits: Numeric;
  maximumExplanation: string;
}

export interface CreditEstimateVariables {
  capability: string;
  qualityLevel: string;
  inputTokens?: number | null;
  outputTokens?: number | null;
  [key: string]: unknown;
}

export const CreditEstimateDocument: TypedDocumentNode<{ estimateCredits: CreditEstimate | null }, CreditEstimateVariables> = gql`
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

export interface LevelCost {
  modelId: string;
  typicalCredits: Numeric;
}

export interface LevelCostsData {
  fast: LevelCost | null;
  enhanced: LevelCost | null;
  premium: LevelCost | null;
}

/** The typical cost of one run at each of the three quality levels, in one request. A level the
 * plan lacks may answer an error for its alias; the others still arrive (errorPolicy all). */
export const LevelCostsDocument: TypedDocumentNode<LevelCostsData, { capability: string; [key: string]: unknown }> = gql`
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

export interface AIAccessCheck {
  allowed: boolean;
  reason: string | null;
  message: string | null;
  action: string | null;
  requiredPlanCode: string | null;
  modelId: string | null;
  modelDisplayName: string | null;
  estimatedCredits: Numeric | null;
  rateLimitHourRemaining: number | null;
  rateLimitDayRemaining: number | null;
  retryAfterSeconds: number | null;
  availableCredits: Numeric;
}

export const CheckAIAccessDocument: TypedDocumentNode<
  { checkAIAccess: AIAccessCheck | null },
  { capability: string; qualityLevel: string; [key: string]: unknown }
> = gql`
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

export interface PlaygroundRun {
  reservationId: Uuid;
  output: string;
  modelId: string;
  inputTokens: number;
  outputTokens: number;
  chargedCredits: Numeric;
  availableCredits: Numeric;
}

export interface RunPlaygroundVariables {
  capability: string;
  qualityLevel: string;
  prompt: string;
  idempotencyKey: string;
  [key: string]: unknown;
}

/** Reserve → the AI provider → settle, done by the api in one action. */
export const RunPlaygroundDocument: TypedDocumentNode<{ runPlayground: PlaygroundRun | null }, RunPlaygroundVariables> = gql`
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
