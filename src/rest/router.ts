/**
 * The Pusher HTTP API (protocol §7): routes under /apps/{app_id}, request authentication,
 * message counting and the status table. Handlers are synchronous over local state.
 */
import { ClusterUnavailable } from '../adapter/cluster.js';
import { mapMaybe, type Maybe } from '../maybe.js';
import type { App, AppRegistry } from '../apps/registry.js';
import { checkCredentials, parseQuery, verifyRestRequest, type RestAuthProblem } from '../auth/rest-auth.js';
import type { Publisher, UserTermination } from '../connection/core.js';
import type { Logger } from '../log.js';
import { LogLimiter } from '../ops/log-limit.js';
import type { MessageMeter } from '../quota/meter.js';
import { channelInfo, channelUsers, listChannels, type ChannelDirectory } from './channels.js';
import { parseEvent, publishEvent } from './events.js';
import { HttpError, json, jsonBody, Status, text, type HttpRequest, type HttpResponse } from './http.js';

export interface RestDeps {
  readonly publisher: Publisher;
  readonly users: UserTermination;
  /** Cluster-wide channel answers (occupancy, presence, cache) and the clock for cache ttl. */
  readonly channels: ChannelDirectory;
  /** False while other nodes cannot be reached: publishes are refused with 503 then. */
  readonly clusterHealthy: () => boolean;
  readonly authFailed: (app: App) => void;
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
  { method: 'GET', pattern: /^\/apps\/[^/]+\/channels$/, name: 'channels', publish: false, run: (d, a, _m, _r, q) => listChannels(d.channels, a, q) },
  {
    method: 'GET',
    pattern: /^\/apps\/[^/]+\/channels\/([^/]+)$/,
    name: 'channel',
    publish: false,
    run: (d, a, m, _r, q) => channelInfo(d.channels, a, m[1] ?? '', q),
  },
  {
    method: 'GET',
    pattern: /^\/apps\/[^/]+\/channels\/([^/]+)\/users$/,
    name: 'channel_users',
    publish: false,
    run: (d, a, m) => channelUsers(d.channels, a, m[1] ?? ''),
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
  return mapMaybe(publishEvent(deps.publisher, deps.channels.occupancy, app, ev), (channels) => (channels === undefined ? {} : { channels }));
}

function batchEvents(deps: RestDeps, app: App, _m: RegExpExecArray, req: HttpRequest): unknown {
  const batch = jsonBody(req.body).batch;
  if (!Array.isArray(batch) || batch.length === 0) throw new HttpError(Status.BAD_REQUEST, '"batch" must be a non-empty list');
  if (batch.length > app.limits.maxBatchSize) {
    throw new HttpError(Status.BAD_REQUEST, `Batch has ${batch.length} events; the limit is ${app.limits.maxBatchSize}`);
  }
  const parsed = batch.map((item, i) => {
    if (typeof item !== 'object' || item === null) throw new HttpError(Status.BAD_REQUEST, `batch[${i}] must be an object`);
    return parseEvent(app, item as Record<string, unknown>, `batch[${i}]: `);
  });
  if (parsed.some((ev) => ev.info !== undefined)) deps.meter.add(app, 1);
  const infos = parsed.map((ev) => publishEvent(deps.publisher, deps.channels.occupancy, app, ev));
  if (parsed.every((ev) => ev.info === undefined)) return {};
  return Promise.all(infos).then((all) => ({ batch: all.map((channels, i) => channels?.[parsed[i]?.channels[0] ?? ''] ?? {}) }));
}

/** Percent-decodes one path segment; bad encoding is a 400, not a handler failure. */
function decodePathPart(raw: string, what: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(Status.BAD_REQUEST, `${what} in the path is not valid percent-encoding`);
  }
}

/** Closes every connection signed in as the user with 4009 (protocol/README.md, issue 3 choices). */
function terminate(deps: RestDeps, app: App, m: RegExpExecArray): unknown {
  const userId = decodePathPart(m[1] ?? '', 'User id');
  if (userId.length > app.limits.maxUserIdLength) {
    throw new HttpError(Status.BAD_REQUEST, `User id is ${userId.length} characters; the limit is ${app.limits.maxUserIdLength}`);
  }
  deps.users.terminateUser(app, userId);
  return {};
}

/** A request that failed authentication: 401, the same whether or not the app id exists. */
class Unauthenticated extends HttpError {
  constructor(
    readonly problem: RestAuthProblem,
    reason: string,
  ) {
    super(401, reason);
  }
}

interface Resolved {
  readonly route: Route;
  /** Undefined when no app has the path's id: it then fails authentication like a wrong key. */
  readonly app: App | undefined;
}

const NO_KEYS = (): undefined => undefined;

/** What a handled request is known to be, for the response headers, the metric and the log. */
interface Outcome {
  routeName: string;
  app: App | undefined;
  authenticated: boolean;
}

export class RestApi {
  readonly #refusals: LogLimiter;

  constructor(readonly deps: RestDeps) {
    this.#refusals = new LogLimiter(deps.now);
  }

  /**
   * Refuses a request from its method, path and query alone, before its body is read: unknown
   * endpoint (404), wrong method (405), or credentials that fail without the body (401).
   * Undefined when the request must be read and handled.
   */
  precheck(method: string, path: string, rawQuery: string): HttpResponse | undefined {
    const outcome: Outcome = { routeName: 'unknown', app: undefined, authenticated: false };
    try {
      const { route, app } = this.#resolve(method, path);
      outcome.routeName = route.name;
      outcome.app = app;
      const checked = checkCredentials(parseQuery(rawQuery), this.#secretFor(app), this.#nowSec());
      if (!checked.ok) throw new Unauthenticated(checked.error.problem, checked.error.reason);
      return undefined;
    } catch (err) {
      return this.#finish(this.#error(err, outcome, method, path), outcome);
    }
  }

  /** Answers synchronously when every part of the answer is local (always, on one node). */
  handle(req: HttpRequest): Maybe<HttpResponse> {
    const outcome: Outcome = { routeName: 'unknown', app: undefined, authenticated: false };
    let res: Maybe<HttpResponse>;
    try {
      const { route, app } = this.#resolve(req.method, req.path);
      outcome.routeName = route.name;
      outcome.app = app;
      res = this.#run(route, app, req, outcome);
    } catch (err) {
      res = this.#error(err, outcome, req.method, req.path);
    }
    return res instanceof Promise
      ? res.catch((err: unknown) => this.#error(err, outcome, req.method, req.path)).then((r) => this.#finish(r, outcome))
      : this.#finish(res, outcome);
  }

  #resolve(method: string, path: string): Resolved {
    const route = ROUTES.find((r) => r.pattern.test(path));
    if (route === undefined) throw new HttpError(Status.NOT_FOUND, `No such endpoint: ${method} ${path.slice(0, 100)}`);
    if (route.method !== method) throw new HttpError(Status.METHOD_NOT_ALLOWED, `${path.slice(0, 100)} expects ${route.method}`);
    let appId: string;
    try {
      appId = decodeURIComponent(path.split('/')[2] ?? '');
    } catch {
      return { route, app: undefined };
    }
    return { route, app: this.deps.apps.byId(appId) };
  }

  #secretFor(app: App | undefined): (key: string) => string | undefined {
    return app === undefined ? NO_KEYS : (k) => (k === app.key ? app.secret : undefined);
  }

  #nowSec(): number {
    return Math.floor(this.deps.now() / 1000);
  }

  /** Only an authenticated caller learns the app's quota. */
  #finish(r: HttpResponse, outcome: Outcome): HttpResponse {
    if (outcome.authenticated && outcome.app !== undefined) r.headers[QUOTA_REMAINING_HEADER] = String(this.deps.meter.remaining(outcome.app));
    this.deps.onRequest?.(outcome.app, outcome.routeName, r.status);
    return r;
  }

  #run(route: Route, app: App | undefined, req: HttpRequest, outcome: Outcome): Maybe<HttpResponse> {
    const query = parseQuery(req.rawQuery);
    const auth = verifyRestRequest({ method: req.method, path: req.path, query, body: req.body }, this.#secretFor(app), this.#nowSec());
    if (!auth.ok) {
      if (app !== undefined) this.deps.authFailed(app);
      throw new Unauthenticated(auth.error.problem, auth.error.reason);
    }
    if (app === undefined) throw new Unauthenticated('unknown_key', 'Unknown auth_key'); // unreachable: no app, no key
    outcome.authenticated = true;
    if (!app.enabled) throw new HttpError(Status.FORBIDDEN, `App ${app.id} is disabled`);
    const limited = this.deps.rateLimit?.(app);
    if (limited) throw limited;
    const meter = this.deps.meter;
    // A publish that could reach only this node's clients is refused, not half-delivered: the
    // backend's retry after Redis returns then reaches everyone once ("nothing accepted is lost").
    if (route.publish && !this.deps.clusterHealthy()) throw new ClusterUnavailable('Redis is unreachable, so other nodes cannot be reached');
    if (route.publish && meter.isOver(app)) {
      const resets = new Date(meter.resetsAtMs()).toISOString();
      throw new HttpError(Status.FORBIDDEN, `App ${app.id} is over quota: ${app.limits.maxMessagesPerDay} messages per day; resets at ${resets}`);
    }
    meter.add(app, 1); // every API call is a message (§8); a publish with info adds one in its handler
    const m = route.pattern.exec(req.path) as RegExpExecArray;
    return mapMaybe(route.run(this.deps, app, m, req, query), (body) => json(body));
  }

  /**
   * The answer to a refused request, logged without request text for unauthenticated callers
   * (only the endpoint name, the status and a fixed word for the problem) and at most ten lines
   * per status per 10 s: refusals repeat for as long as a caller keeps sending them.
   */
  #error(err: unknown, outcome: Outcome, method: string, path: string): HttpResponse {
    if (err instanceof ClusterUnavailable) return text(Status.UNAVAILABLE, err.message, { 'Retry-After': '1' });
    if (err instanceof HttpError) {
      const suppressed = this.#refusals.allow(String(err.status));
      if (suppressed !== undefined) {
        const line: Record<string, unknown> = { route: outcome.routeName, status: err.status, suppressedSinceLast: suppressed };
        if (err instanceof Unauthenticated) {
          line.problem = err.problem;
          if (outcome.app !== undefined) line.app = outcome.app.id;
        } else if (outcome.authenticated && outcome.app !== undefined) {
          line.app = outcome.app.id;
          line.reason = err.message.slice(0, 200);
        }
        // 429 and 403 repeat on every request while an app is over its rate or quota (or disabled);
        // those states are logged once where they arise (the quota at 80 % and 100 %), so per request they are debug.
        const level = err.status === 429 || err.status === 403 ? 'debug' : 'info';
        this.deps.logger[level](line, 'rest request refused');
      }
      return text(err.status, err.message, { ...err.headers });
    }
    const suppressed = this.#refusals.allow('500');
    if (suppressed !== undefined) {
      this.deps.logger.error({ err, app: outcome.app?.id, route: outcome.routeName, method, path: path.slice(0, 100), suppressedSinceLast: suppressed }, 'rest handler failed');
    }
    return text(Status.INTERNAL_ERROR, 'Internal server error');
  }
}
