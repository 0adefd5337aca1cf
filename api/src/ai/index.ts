// Picks the AI provider: the OpenAI-compatible one when its key is configured; otherwise the local
// one in development, and in production none (every AI call answers AI_PROVIDER_ERROR: a product
// in production never hands out generated stand-in text as if a model had written it).
import { AppError } from '../errors.ts';
import { createLocalProvider, type LocalProviderOptions } from './local.ts';
import { createOpenAIProvider } from './openai.ts';
import type { AIProvider } from './provider.ts';

export { createLocalProvider, type LocalProviderOptions } from './local.ts';
export { createOpenAIProvider, type OpenAIProviderOptions } from './openai.ts';
export { type AIProvider, type Completion, type CompletionRequest, countTokens } from './provider.ts';

export interface AIConfig {
  openaiApiKey?: string | undefined;
  aiBaseUrl?: string | undefined;
  /** In production the local provider is never used. @default false */
  production?: boolean | undefined;
}

/** The name of the provider that stands in when production has no AI provider configured. */
export const NO_AI_PROVIDER = 'none';

function noProviderError(): AppError {
  return new AppError('AI_PROVIDER_ERROR', 'no AI provider is configured on this api: set OPENAI_API_KEY (and AI_BASE_URL for a gateway)');
}

/** Production without OPENAI_API_KEY: every call fails with AI_PROVIDER_ERROR. */
export function createUnconfiguredProvider(): AIProvider {
  return {
    name: NO_AI_PROVIDER,
    async complete() {
      throw noProviderError();
    },
  };
}

/** Throws AI_PROVIDER_ERROR when no provider is configured, so an AI action fails before it holds any credits. */
export function requireAIProvider(ai: AIProvider): void {
  if (ai.name === NO_AI_PROVIDER) throw noProviderError();
}

export function createAIProvider(config: AIConfig, local: LocalProviderOptions = {}): AIProvider {
  if (config.openaiApiKey) {
    return createOpenAIProvider({ apiKey: config.openaiApiKey, baseUrl: config.aiBaseUrl ?? 'https://api.openai.com/v1' });
  }
  if (config.production) return createUnconfiguredProvider();
  return createLocalProvider(local);
}
