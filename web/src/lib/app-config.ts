import { type InjectionKey, inject } from 'vue';
import type { AppConfig } from '../config.ts';

export const APP_CONFIG: InjectionKey<AppConfig> = Symbol('app-config');

export function useAppConfig(): AppConfig {
  const config = inject(APP_CONFIG, null);
  if (!config) throw new Error('no app config provided');
  return config;
}
