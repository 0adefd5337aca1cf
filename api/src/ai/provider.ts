// The interface every AI provider implements: one completion, with the tokens it really used.

export interface CompletionRequest {
  /** Our model id, e.g. `openai/gpt-4.1-mini`. */
  modelId: string;
  /** The provider's own name for it, e.g. `gpt-4.1-mini`. */
  providerModelName: string;
  qualityLevel: string;
  capability: string;
  prompt: string;
  /** The longest answer the capability may write. */
  maxOutputTokens: number;
  signal?: AbortSignal;
}

export interface Completion {
  text: string;
  inputTokens: number;
  outputTokens: number;
}

export interface AIProvider {
  /** `local` or `openai-compatible`. */
  readonly name: string;
  complete(request: CompletionRequest): Promise<Completion>;
}

/** Tokens in a text, the way English text averages out for GPT-style tokenizers: ~4 characters a token. */
export function countTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}
