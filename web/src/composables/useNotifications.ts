import { computed, type Ref } from 'vue';
import { MarkNotificationsReadDocument, type NotificationRow, NotificationsDocument } from '../graphql/notifications.ts';
import type { AppError } from '../lib/errors.ts';
import { useGqlMutation, useGqlQuery } from '../lib/graphql-vue.ts';
import { useSessionStore } from '../stores/session.ts';
import { useMembership } from './useMembership.ts';

export interface UseNotificationsOptions {
  /** How many of the newest to load. @default 20 */
  limit?: number;
  /** Refresh every n ms. @default 60000 */
  pollInterval?: number;
  /** The clock, for read_at. @default () => new Date() */
  now?: () => Date;
}

export interface UseNotificationsReturn {
  notifications: Readonly<Ref<NotificationRow[]>>;
  /** Unread notifications the signed-in person can mark read (see `canMarkRead`). */
  unreadCount: Readonly<Ref<number>>;
  /** Whether this person may mark the notification read: their own always; the organization's
   * (user_id null, one read state for everyone) only as an owner or admin — as the server allows. */
  canMarkRead: (notification: NotificationRow) => boolean;
  markRead: (ids: string[]) => Promise<void>;
  markAllRead: () => Promise<void>;
  loading: Readonly<Ref<boolean>>;
  error: Readonly<Ref<AppError | null>>;
}

export function useNotifications(options: UseNotificationsOptions = {}): UseNotificationsReturn {
  const { limit = 20, pollInterval = 60_000, now = () => new Date() } = options;
  const session = useSessionStore();
  const { canManage } = useMembership();
  const query = useGqlQuery(NotificationsDocument, () => ({ orgId: session.orgId ?? '', limit }), {
    enabled: () => session.signedIn,
    pollInterval,
  });
  const mutation = useGqlMutation(MarkNotificationsReadDocument, { refetchQueries: ['Notifications'] });
  const notifications = computed(() => query.data.value?.notifications ?? []);
  const canMarkRead = (n: NotificationRow) => (n.user_id === null ? canManage.value : n.user_id === session.userId);
  const markable = computed(() => notifications.value.filter((n) => !n.read_at && canMarkRead(n)));
  const markRead = async (ids: string[]) => {
    if (!ids.length) return;
    try {
      await mutation.mutate({ ids, readAt: now().toISOString() });
    } catch {
      // Shown through `error`.
    }
  };
  return {
    notifications,
    unreadCount: computed(() => markable.value.length),
    canMarkRead,
    markRead,
    markAllRead: () => markRead(markable.value.map((n) => n.id)),
    loading: query.loading,
    error: computed(() => query.error.value ?? mutation.error.value),
  };
}
