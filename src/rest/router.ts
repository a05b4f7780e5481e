/**
 * The Pusher HTTP API (protocol §7): routes under /apps/{app_id}, request authentication,
 * message counting and the status table. Handlers are synchronous over local state.
 */
import { ClusterUnavailable, mapMaybe, type Maybe } from '../adapter/adapter.js';
import type { App, AppRegistry } from '../apps/registry.js';
import { parseQuery, verifyRestRequest } from '../auth/rest-auth.js';
import type { Core } from '../connection/core.js';
import type { Logger } from '../log.js';
import type { MessageMeter } from '../quota/meter.js';
import { channelInfo, channelUsers, listChannels } from './channels.js';
import { parseEvent, publishEvent } from './events.js';
import { HttpError, json, jsonBody, text, type HttpRequest, type HttpResponse } from './http.js';

export interface RestDeps {
  readonly core: Core;
  readonly apps: AppRegistry;
  readonly meter: MessageMeter;
  readonly logger: Logger;
  readonly now: () => number;
  /** Returns a 429 error when the app is over its REST request rate, else undefined. */
  readonly rateLimit?: (app: App) => HttpError | undefined;
  readonly onRequest?: (app: App | undefined, route: string, status: number) => void;
}

export const QUOTA_REMAINING_HEADER = 'X-Herald-Quota-Remaining';

interface Route {
  readonly method: string;
  readonly pattern: RegExp;
  readonly name: string;
  readonly publish: boolean;
  readonly run: (deps: RestDeps, app: App, m: RegExpExecArray, req: HttpRequest, q: ReadonlyMap<string, string>) => unknown;
}

const ROUTES: readonly Route[] = [
  { method: 'POST', pattern: /^\/apps\/[^/]+\/events$/, name: 'events', publish: true, run: events },
  { method: 'POST', pattern: /^\/apps\/[^/]+\/batch_events$/, name: 'batch_events', publish: true, run: batchEvents },
  { method: 'GET', pattern: /^\/apps\/[^/]+\/channels$/, name: 'channels', publish: false, run: (d, a, _m, _r, q) => listChannels(d.core, a, q) },
  {
    method: 'GET',
    pattern: /^\/apps\/[^/]+\/channels\/([^/]+)$/,
    name: 'channel',
    publish: false,
    run: (d, a, m, _r, q) => channelInfo(d.core, a, m[1] ?? '', q),
  },
  {
    method: 'GET',
    pattern: /^\/apps\/[^/]+\/channels\/([^/]+)\/users$/,
    name: 'channel_users',
    publish: false,
    run: (d, a, m) => channelUsers(d.core, a, m[1] ?? ''),
  },
  {
    method: 'POST',
    pattern: /^\/apps\/[^/]+\/users\/([^/]+)\/terminate_connections$/,
    name: 'terminate_connections',
    publish: false,
    run: terminate,
  },
];

function events(deps: RestDeps, app: App, _m: RegExpExecArray, req: HttpRequest): unknown {
  const ev = parseEvent(app, jsonBody(req.body), '');
  if (ev.info !== undefined) deps.meter.add(app, 1);
  return mapMaybe(publishEvent(deps.core, app, ev), (channels) => (channels === undefined ? {} : { channels }));
}

function batchEvents(deps: RestDeps, app: App, _m: RegExpExecArray, req: HttpRequest): unknown {
  const batch = jsonBody(req.body).batch;
  if (!Array.isArray(batch) || batch.length === 0) throw new HttpError(400, '"batch" must be a non-empty list');
  if (batch.length > app.limits.maxBatchSize) {
    throw new HttpError(400, `Batch has ${batch.length} events; the limit is ${app.limits.maxBatchSize}`);
  }
  const parsed = batch.map((item, i) => {
    if (typeof item !== 'object' || item === null) throw new HttpError(400, `batch[${i}] must be an object`);
    return parseEvent(app, item as Record<string, unknown>, `batch[${i}]: `);
  });
  if (parsed.some((ev) => ev.info !== undefined)) deps.meter.add(app, 1);
  const infos = parsed.map((ev) => publishEvent(deps.core, app, ev));
  if (parsed.every((ev) => ev.info === undefined)) return {};
  return Promise.all(infos).then((all) => ({ batch: all.map((channels, i) => channels?.[parsed[i]?.channels[0] ?? ''] ?? {}) }));
}

/** Percent-decodes one path segment; bad encoding is a 400, not a handler failure. */
function decodePathPart(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `${what} in the path is not valid percent-encoding`);
  }
}

/** Closes every connection signed in as the user with 4009 (protocol/README.md, issue 3 choices). */
function terminate(deps: RestDeps, app: App, m: RegExpExecArray): unknown {
  const userId = decodePathPart(m[1] ?? '', 'User id');
  if (userId.length > app.limits.maxUserIdLength) {
    throw new HttpError(400, `User id is ${userId.length} characters; the limit is ${app.limits.maxUserIdLength}`);
  }
  deps.core.terminateUser(app, userId);
  return {};
}

export class RestApi {
  constructor(readonly deps: RestDeps) {}

  /** Answers synchronously when every part of the answer is local (always, on one node). */
  handle(req: HttpRequest): Maybe<HttpResponse> {
    let app: App | undefined;
    let routeName = 'unknown';
    let res: Maybe<HttpResponse>;
    try {
      const route = ROUTES.find((r) => r.pattern.test(req.path));
      if (route === undefined) throw new HttpError(404, `No such endpoint: ${req.method} ${req.path}`);
      routeName = route.name;
      if (route.method !== req.method) throw new HttpError(405, `${req.path} expects ${route.method}`);
      const appId = decodePathPart(req.path.split('/')[2] ?? '', 'App id');
      app = this.deps.apps.byId(appId);
      if (app === undefined) throw new HttpError(404, `Unknown app id "${appId}"`);
      res = this.#run(route, app, req);
    } catch (err) {
      res = this.#error(err, app, req);
    }
    const finish = (r: HttpResponse): HttpResponse => {
      if (app !== undefined) r.headers[QUOTA_REMAINING_HEADER] = String(this.deps.meter.remaining(app));
      this.deps.onRequest?.(app, routeName, r.status);
      return r;
    };
    return res instanceof Promise ? res.catch((err: unknown) => this.#error(err, app, req)).then(finish) : finish(res);
  }

  #run(route: Route, app: App, req: HttpRequest): Maybe<HttpResponse> {
    const query = parseQuery(req.rawQuery);
    const nowSec = Math.floor(this.deps.now() / 1000);
    const auth = verifyRestRequest({ method: req.method, path: req.path, query, body: req.body }, (k) => (k === app.key ? app.secret : undefined), nowSec);
    if (!auth.ok) {
      this.deps.core.deps.observer.authFailed(app, 'rest');
      throw new HttpError(401, auth.reason);
    }
    if (!app.enabled) throw new HttpError(403, `App ${app.id} is disabled`);
    const limited = this.deps.rateLimit?.(app);
    if (limited) throw limited;
    const meter = this.deps.meter;
    // A publish that could reach only this node's clients is refused, not half-delivered: the
    // backend's retry after Redis returns then reaches everyone once ("nothing accepted is lost").
    if (route.publish && !this.deps.core.deps.adapter.healthy()) throw new ClusterUnavailable('Redis is unreachable, so other nodes cannot be reached');
    if (route.publish && meter.isOver(app)) {
      const resets = new Date(meter.resetsAtMs()).toISOString();
      throw new HttpError(403, `App ${app.id} is over quota: ${app.limits.maxMessagesPerDay} messages per day; resets at ${resets}`);
    }
    meter.add(app, 1); // every API call is a message (§8); a publish with info adds one in its handler
    const m = route.pattern.exec(req.path) as RegExpExecArray;
    return mapMaybe(route.run(this.deps, app, m, req, query), (body) => json(body));
  }

  #error(err: unknown, app: App | undefined, req: HttpRequest): HttpResponse {
    if (err instanceof ClusterUnavailable) return text(503, err.message, { 'Retry-After': '1' });
    if (err instanceof HttpError) {
      // 429 and 403 repeat on every request while an app is over its rate or quota (or disabled);
      // those states are logged once where they arise (the quota at 80 % and 100 %), so per request they are debug.
      const level = err.status === 429 || err.status === 403 ? 'debug' : 'info';
      this.deps.logger[level]({ app: app?.id, status: err.status, path: req.path, reason: err.message }, 'rest request refused');
      return text(err.status, err.message, { ...err.headers });
    }
    this.deps.logger.error({ err, app: app?.id, path: req.path }, 'rest handler failed');
    return text(500, 'Internal server error');
  }
}
