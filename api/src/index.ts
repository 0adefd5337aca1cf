// @org-credits/api: the actions service.
export { actions } from './actions/index.ts';
export { type AIProvider, createAIProvider, createLocalProvider, createOpenAIProvider } from './ai/index.ts';
export { type AppDeps, createApp, SECRET_HEADER } from './app.ts';
export { type Config, ConfigError, loadConfig } from './config.ts';
export { AppError, ERROR_CODES, type ErrorCode } from './errors.ts';
export { createInProcessTransport } from './in-process-transport.ts';
export { type RunningServer, type StartOptions, start } from './server.ts';
