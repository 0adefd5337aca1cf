// Picks the AI provider: the OpenAI-compatible one when its key is configured, the local one otherwise.
import { createLocalProvider, type LocalProviderOptions } from './local.ts';
import { createOpenAIProvider } from './openai.ts';
import type { AIProvider } from './provider.ts';

export { createLocalProvider, type LocalProviderOptions } from './local.ts';
export { createOpenAIProvider, type OpenAIProviderOptions } from './openai.ts';
export { type AIProvider, type Completion, type CompletionRequest, countTokens } from './provider.ts';

export interface AIConfig {
  openaiApiKey?: string | undefined;
  aiBaseUrl?: string | undefined;
}

export function createAIProvider(config: AIConfig, local: LocalProviderOptions = {}): AIProvider {
  if (config.openaiApiKey) {
    return createOpenAIProvider({ apiKey: config.openaiApiKey, baseUrl: config.aiBaseUrl ?? 'https://api.openai.com/v1' });
  }
  return createLocalProvider(local);
}
