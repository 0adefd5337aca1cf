// An OpenAI-compatible provider: the chat completions endpoint of any server that speaks it
// (OpenAI itself, or a gateway in front of other vendors), used when its key is configured.
import { tokenCount } from '../actions/inputs.ts';
import { AppError } from '../errors.ts';
import type { AIProvider, Completion, CompletionRequest } from './provider.ts';

export interface OpenAIProviderOptions {
  apiKey: string;
  /** Up to and including `/v1`, e.g. `https://gateway.example/v1`. */
  baseUrl: string;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * How long one completion may take. Shorter than Hasura's 60 s timeout of runPlayground, so that a
   * slow provider fails (and its hold is released) while the caller still waits for the answer,
   * with the reserve and settle around it. @default 45000
   */
  timeoutMs?: number;
}

interface ChatCompletionResponse {
  choices?: { message?: { content?: string | null } }[];
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  error?: { message?: string };
}

export function createOpenAIProvider(options: OpenAIProviderOptions): AIProvider {
  const doFetch = options.fetch ?? globalThis.fetch;
  const url = `${options.baseUrl.replace(/\/+$/, '')}/chat/completions`;
  return {
    name: 'openai-compatible',
    async complete(request: CompletionRequest): Promise<Completion> {
      const signals = [AbortSignal.timeout(options.timeoutMs ?? 45_000), ...(request.signal ? [request.signal] : [])];
      let response: Response;
      try {
        response = await doFetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${options.apiKey}` },
          body: JSON.stringify({
            model: request.providerModelName,
            messages: [{ role: 'user', content: request.prompt }],
            max_tokens: request.maxOutputTokens,
          }),
          signal: AbortSignal.any(signals),
        });
      } catch (error) {
        // fetch's own words go to the log: they can hold the URL, with whatever it carries.
        console.error('[ai] the AI provider did not answer:', error);
        throw new AppError('AI_PROVIDER_ERROR', 'the AI provider did not answer; nothing was charged');
      }
      let body: ChatCompletionResponse;
      try {
        body = (await response.json()) as ChatCompletionResponse;
      } catch {
        throw new AppError('AI_PROVIDER_ERROR', `the AI provider answered HTTP ${response.status} without JSON`);
      }
      if (!response.ok) {
        // The provider's own words stay in the log: they can name the account, its quota and part of
        // the key, which the org's members who see this answer have no business reading.
        console.error(`[ai] the AI provider answered HTTP ${response.status}: ${body.error?.message ?? 'no message'}`);
        throw new AppError('AI_PROVIDER_ERROR', `the AI provider answered HTTP ${response.status}; nothing was charged`);
      }
      const text = body.choices?.[0]?.message?.content;
      const inputTokens = body.usage?.prompt_tokens;
      const outputTokens = body.usage?.completion_tokens;
      if (typeof text !== 'string' || !Number.isInteger(inputTokens) || !Number.isInteger(outputTokens)) {
        throw new AppError('AI_PROVIDER_ERROR', 'the AI provider answered without a message and its token usage');
      }
      // Counts the settle would refuse (negative, absurd) are the provider's fault: the call fails
      // here, so its hold is released, rather than leaving the hold open with nothing charged.
      if (!tokenCount.safeParse(inputTokens).success || !tokenCount.safeParse(outputTokens).success) {
        throw new AppError(
          'AI_PROVIDER_ERROR',
          `the AI provider answered impossible token counts (${inputTokens} in, ${outputTokens} out)`,
        );
      }
      return { text, inputTokens: inputTokens as number, outputTokens: outputTokens as number };
    },
  };
}
