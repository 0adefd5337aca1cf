// prefers-reduced-motion: people who ask the system for less motion get no smooth scrolling and no
// animated chart (the stylesheet stops the CSS animations and transitions: styles/main.css).
import { onScopeDispose, type Ref, readonly, ref } from 'vue';

const QUERY = '(prefers-reduced-motion: reduce)';

function mediaQuery(): MediaQueryList | null {
  return typeof globalThis.matchMedia === 'function' ? globalThis.matchMedia(QUERY) : null;
}

/** Whether the person asked for reduced motion, now. */
export function prefersReducedMotion(): boolean {
  return mediaQuery()?.matches ?? false;
}

/** The same, following a change of the setting while the page is open. */
export function usePrefersReducedMotion(): Readonly<Ref<boolean>> {
  const query = mediaQuery();
  const reduced = ref(query?.matches ?? false);
  if (query) {
    const onChange = (event: MediaQueryListEvent) => {
      reduced.value = event.matches;
    };
    query.addEventListener?.('change', onChange);
    onScopeDispose(() => query.removeEventListener?.('change', onChange));
  }
  return readonly(reduced);
}
