// The AI providers: the deterministic local one, and the OpenAI-compatible one against a fake
// chat-completions server on 127.0.0.1 (the outer edge: a vendor's API).
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createAIProvider, createLocalProvider, createOpenAIProvider } from '../src/ai/index.ts';
import type { CompletionRequest } from '../src/ai/provider.ts';
import { AppError } from '../src/errors.ts';

const request = (overrides: Partial<CompletionRequest> = {}): CompletionRequest => ({
  modelId: 'openai/gpt-4.1-mini',
  providerModelName: 'gpt-4.1-mini',
  qualityLevel: 'fast',
  capability: 'summarization',
  prompt: 'Summarize the quarterly report on credit usage across the three teams.',
  maxOutputTokens: 1500,
  ...overrides,
});

describe('the local provider', () => {
  it('answers the same request with the same text, and a different prompt with different text', async () => {
    const ai = createLocalProvider({ delay: async () => undefined });
    const a = await ai.complete(request());
    const b = await ai.complete(request());
    const c = await ai.complete(request({ prompt: 'Suggest questions about onboarding.' }));
    expect(a).toEqual(b);
    expect(c.text).not.toBe(a.text);
  });

  it('counts tokens from the text lengths, about four characters a token', async () => {
    const ai = createLocalProvider({ delay: async () => undefined });
    const prompt = 'x'.repeat(400);
    const out = await ai.complete(request({ prompt }));
    expect(out.inputTokens).toBe(100);
    expect(out.outputTokens).toBe(Math.ceil(out.text.length / 4));
    expect(out.outputTokens).toBeGreaterThan(10);
    expect(out.outputTokens).toBeLessThanOrEqual(1500);
  });

  it('writes longer answers and takes longer at higher quality levels', async () => {
    const waits: number[] = [];
    const ai = createLocalProvider({
      delay: async (ms) => {
        waits.push(ms);
      },
    });
    const lengths: number[] = [];
    for (const qualityLevel of ['fast', 'enhanced', 'premium']) lengths.push((await ai.complete(request({ qualityLevel }))).outputTokens);
    expect(lengths[0]!).toBeLessThan(lengths[1]!);
    expect(lengths[1]!).toBeLessThan(lengths[2]!);
    expect(waits[0]!).toBeLessThan(waits[1]!);
    expect(waits[1]!).toBeLessThan(waits[2]!);
  });

  it('never writes past the capability maximum', async () => {
    const ai = createLocalProvider({ delay: async () => undefined });
    const out = await ai.complete(request({ qualityLevel: 'premium', maxOutputTokens: 20, prompt: 'y'.repeat(8000) }));
    expect(out.outputTokens).toBeLessThanOrEqual(20);
  });

  it('is the default when no key is configured', () => {
    expect(createAIProvider({}).name).toBe('local');
    expect(createAIProvider({ openaiApiKey: 'sk-x', aiBaseUrl: 'http://127.0.0.1:1/v1' }).name).toBe('openai-compatible');
  });
});

describe('the OpenAI-compatible provider', () => {
  const seen: { url: string | undefined; auth: string | undefined; body: unknown }[] = [];
  let reply: { status: number; body: unknown } = { status: 200, body: {} };
  const server = createServer(async (req: IncomingMessage, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    seen.push({ url: req.url, auth: req.headers.authorization, body: JSON.parse(text) });
    res.writeHead(reply.status, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body));
  });
  const listening = new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const baseUrl = async () => {
    await listening;
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/`;
  };

  it('calls chat completions with the provider model name and the key, and reports the usage the server counted', async () => {
    reply = {
      status: 200,
      body: {
        choices: [{ message: { role: 'assistant', content: 'Three teams used 1,200 credits.' } }],
        usage: { prompt_tokens: 17, completion_tokens: 9 },
      },
    };
    const ai = createOpenAIProvider({ apiKey: 'sk-test-123', baseUrl: await baseUrl() });
    const out = await ai.complete(request());
    expect(out).toEqual({ text: 'Three teams used 1,200 credits.', inputTokens: 17, outputTokens: 9 });
    expect(seen.at(-1)).toEqual({
      url: '/v1/chat/completions',
      auth: 'Bearer sk-test-123',
      body: { model: 'gpt-4.1-mini', messages: [{ role: 'user', content: request().prompt }], max_tokens: 1500 },
    });
  });

  it("turns an error answer into AI_PROVIDER_ERROR with its status; the vendor's message goes to the log only", async () => {
    reply = { status: 401, body: { error: { message: 'Incorrect API key provided: sk-proj-****wXyZ. You can find your API key at …' } } };
    const ai = createOpenAIProvider({ apiKey: 'sk-test-123', baseUrl: await baseUrl() });
    const logged = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    const error = await ai.complete(request()).catch((e: unknown) => e);
    const log = logged.mock.calls.flat().join(' ');
    logged.mockRestore();
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'AI_PROVIDER_ERROR', message: 'the AI provider answered HTTP 401; nothing was charged' });
    expect(log).toContain('Incorrect API key provided');
  });

  it('refuses an answer without token usage, since the call could not be charged', async () => {
    reply = { status: 200, body: { choices: [{ message: { content: 'hi' } }] } };
    const ai = createOpenAIProvider({ apiKey: 'sk-test-123', baseUrl: await baseUrl() });
    await expect(ai.complete(request())).rejects.toMatchObject({ code: 'AI_PROVIDER_ERROR' });
  });

  it('refuses impossible token counts, which no settle would take', async () => {
    const ai = createOpenAIProvider({ apiKey: 'sk-test-123', baseUrl: await baseUrl() });
    for (const usage of [
      { prompt_tokens: -5, completion_tokens: 9 },
      { prompt_tokens: 17, completion_tokens: 20_000_000 },
    ]) {
      reply = { status: 200, body: { choices: [{ message: { content: 'hi' } }], usage } };
      await expect(ai.complete(request())).rejects.toMatchObject({
        code: 'AI_PROVIDER_ERROR',
        message: expect.stringContaining('impossible token counts'),
      });
    }
  });

  it('reports a server that does not answer', async () => {
    const ai = createOpenAIProvider({ apiKey: 'k', baseUrl: 'http://127.0.0.1:9/v1' });
    await expect(ai.complete(request())).rejects.toMatchObject({ code: 'AI_PROVIDER_ERROR' });
  });

  it("keeps fetch's own words (which can hold the URL) in the log, not in the answer members see", async () => {
    const ai = createOpenAIProvider({ apiKey: 'k', baseUrl: 'https://gwuser:gw-s3cret-token@ai-gateway.invalid/v1' });
    const error = await ai.complete(request()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'AI_PROVIDER_ERROR', message: 'the AI provider did not answer; nothing was charged' });
    expect(JSON.stringify(error)).not.toContain('s3cret');
  });
});
