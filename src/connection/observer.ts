/**
 * What the core reports to the parts around it (webhooks, quotas, metrics) without knowing
 * them. Every call is O(1) and synchronous; observers queue their own work.
 */
import type { App } from '../apps/registry.js';

export interface CoreObserver {
  channelOccupied?(app: App, channel: string): void;
  channelVacated?(app: App, channel: string): void;
  memberAdded?(app: App, channel: string, userId: string): void;
  memberRemoved?(app: App, channel: string, userId: string): void;
  clientEvent?(app: App, channel: string, event: string, data: unknown, socketId: string, userId?: string): void;
  cacheMiss?(app: App, channel: string): void;
  subscriptionCount?(app: App, channel: string, count: number): void;
  connectionOpened?(app: App): void;
  connectionClosed?(app: App, code: number | undefined, socketId?: string): void;
  /** `socketId` is given for failures on a connection (channel auth, sign-in). */
  authFailed?(app: App, what: 'channel' | 'signin' | 'rest', socketId?: string): void;
  /** Messages delivered to connections (one per recipient), for quotas and metrics. */
  delivered?(app: App, messages: number, bytesEach: number): void;
  received?(app: App, bytes: number): void;
  /** A connection or public subscription refused by a per-address limit (quota/per-address.ts). */
  addressLimited?(app: App, limit: AddressLimit): void;
}

export type AddressLimit = 'too_many_connections' | 'connection_rate' | 'public_subscribes';

/** Fans every call out to several observers. */
export function combineObservers(observers: readonly CoreObserver[]): Required<CoreObserver> {
  const call =
    <K extends keyof CoreObserver>(name: K) =>
    (...args: Parameters<Required<CoreObserver>[K]>): void => {
      for (const o of observers) (o[name] as ((...a: unknown[]) => void) | undefined)?.(...args);
    };
  return {
    channelOccupied: call('channelOccupied'),
    channelVacated: call('channelVacated'),
    memberAdded: call('memberAdded'),
    memberRemoved: call('memberRemoved'),
    clientEvent: call('clientEvent'),
    cacheMiss: call('cacheMiss'),
    subscriptionCount: call('subscriptionCount'),
    connectionOpened: call('connectionOpened'),
    connectionClosed: call('connectionClosed'),
    authFailed: call('authFailed'),
    delivered: call('delivered'),
    received: call('received'),
    addressLimited: call('addressLimited'),
  };
}
