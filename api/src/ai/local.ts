// A deterministic provider that runs here, so the product works offline: generated text that
// depends only on the prompt, model and quality level; token counts from the text lengths; and a
// latency that grows with the quality level (the delay is injectable so tests do not wait).
import { createHash } from 'node:crypto';
import { type AIProvider, type Completion, type CompletionRequest, countTokens } from './provider.ts';

export interface LocalProviderOptions {
  /** How to wait for the simulated latency. @default setTimeout */
  delay?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Simulated latency per quality level, in ms. @default { fast: 40, enhanced: 120, premium: 300 } */
  latencyMs?: Record<string, number>;
}

const DEFAULT_LATENCY: Record<string, number> = { fast: 40, enhanced: 120, premium: 300 };
/** Answers grow with the quality level, as a share of the capability's maximum output. */
const ANSWER_SHARE: Record<string, number> = { fast: 0.15, enhanced: 0.3, premium: 0.5 };

const WORDS = [
  'credits',
  'summary',
  'question',
  'answer',
  'model',
  'context',
  'detail',
  'insight',
  'example',
  'plan',
  'team',
  'usage',
  'quality',
  'result',
  'review',
  'topic',
  'point',
  'idea',
  'draft',
  'note',
  'clear',
  'brief',
  'useful',
  'key',
  'main',
  'next',
  'likely',
  'related',
  'open',
  'simple',
];

function defaultDelay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

export function createLocalProvider(options: LocalProviderOptions = {}): AIProvider {
  const delay = options.delay ?? defaultDelay;
  const latency = { ...DEFAULT_LATENCY, ...options.latencyMs };
  return {
    name: 'local',
    async complete(request: CompletionRequest): Promise<Completion> {
      const inputTokens = countTokens(request.prompt);
      const share = ANSWER_SHARE[request.qualityLevel] ?? ANSWER_SHARE.fast!;
      // A little longer for longer prompts, never past the capability's maximum.
      const wanted = Math.round(request.maxOutputTokens * share) + Math.min(40, Math.floor(inputTokens / 20));
      const target = Math.max(1, Math.min(request.maxOutputTokens, wanted));
      const text = generate(request, target);
      await delay((latency[request.qualityLevel] ?? latency.fast ?? 0) + Math.floor(target / 10), request.signal);
      return { text, inputTokens, outputTokens: countTokens(text) };
    },
  };
}

/** Text of about `tokens` tokens, seeded by the request: the same request gives the same text. */
function generate(request: CompletionRequest, tokens: number): string {
  const seed = createHash('sha256')
    .update(`${request.modelId}\0${request.qualityLevel}\0${request.capability}\0${request.prompt}`)
    .digest();
  const topic = request.prompt.trim().split(/\s+/).slice(0, 6).join(' ') || 'your request';
  const head = `[${request.modelId}, ${request.qualityLevel}] On "${topic}":`;
  const targetChars = tokens * 4;
  let text = head;
  for (let i = 0; text.length + 8 < targetChars; i++) {
    const word = WORDS[(seed[i % seed.length]! + i * 7) % WORDS.length]!;
    text += i % 12 === 11 ? `. ${word[0]!.toUpperCase()}${word.slice(1)}` : ` ${word}`;
  }
  text = text.slice(0, Math.max(4, targetChars - 1));
  return `${text}.`;
}
