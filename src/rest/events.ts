/**
 * POST /apps/{id}/events and /batch_events (protocol §7.1): validation, socket_id exclusion,
 * cache-channel storage (in Core.publish) and the `info` attributes. Each channel's frame is
 * serialised once and fanned out by topic.
 */
import type { Maybe } from '../maybe.js';
import type { ChannelSummary } from '../adapter/occupancy.js';
import type { App } from '../apps/registry.js';
import { channelNameProblem, eventNameProblem } from '../channels/names.js';
import type { Occupancy } from '../adapter/occupancy.js';
import type { Publisher } from '../connection/core.js';
import { HttpError, Status } from './http.js';
import { channelAttributes, parseInfo } from './channels.js';

export interface EventInput {
  readonly name: string;
  readonly data: string;
  readonly channels: readonly string[];
  readonly socketId: string | undefined;
  readonly info: ReadonlySet<string> | undefined;
}

const SOCKET_ID = /^\d+\.\d+$/;

/** Validates one event object (the body of /events, or one batch item). */
export function parseEvent(app: App, body: Record<string, unknown>, where: string): EventInput {
  const limits = app.limits;
  const nameProblem = eventNameProblem(body.name, limits.maxEventNameLength);
  if (nameProblem) throw new HttpError(Status.BAD_REQUEST, `${where}${nameProblem}`);
  if (body.data === undefined) throw new HttpError(Status.BAD_REQUEST, `${where}Missing "data"`);
  // SDKs send data as a string; other JSON values are encoded as the SDKs would encode them.
  const data = typeof body.data === 'string' ? body.data : JSON.stringify(body.data);
  const bytes = Buffer.byteLength(data, 'utf8');
  if (bytes > limits.maxPayloadBytes) {
    throw new HttpError(Status.PAYLOAD_TOO_LARGE, `${where}"data" is ${bytes} bytes; the limit is ${limits.maxPayloadBytes} bytes`);
  }
  let channels: unknown = body.channels ?? (body.channel === undefined ? undefined : [body.channel]);
  if (!Array.isArray(channels) || channels.length === 0) {
    throw new HttpError(Status.BAD_REQUEST, `${where}"channels" must be a non-empty list (or give "channel")`);
  }
  if (channels.length > limits.maxChannelsPerTrigger) {
    throw new HttpError(Status.BAD_REQUEST, `${where}${channels.length} channels given; the limit is ${limits.maxChannelsPerTrigger}`);
  }
  for (const ch of channels) {
    const problem = channelNameProblem(ch, limits.maxChannelNameLength);
    if (problem) throw new HttpError(Status.BAD_REQUEST, `${where}${problem}`);
  }
  channels = [...new Set(channels as string[])];
  const socketId = body.socket_id;
  if (socketId !== undefined && (typeof socketId !== 'string' || !SOCKET_ID.test(socketId))) {
    throw new HttpError(Status.BAD_REQUEST, `${where}"socket_id" must look like 1234.5678`);
  }
  const info = body.info === undefined ? undefined : parseInfo(body.info, where);
  return { name: body.name as string, data, channels: channels as string[], socketId, info };
}

/** Publishes one validated event; returns its `info` attributes per channel when asked. */
export function publishEvent(publisher: Publisher, occupancy: Pick<Occupancy, 'channel'>, app: App, ev: EventInput): Maybe<Record<string, Record<string, number>> | undefined> {
  for (const channel of ev.channels) publisher.publish(app, channel, ev.name, ev.data, ev.socketId);
  const info = ev.info;
  if (info === undefined) return undefined;
  const summaries = ev.channels.map((channel) => occupancy.channel(app, channel));
  const build = (all: readonly ChannelSummary[]): Record<string, Record<string, number>> => {
    const out: Record<string, Record<string, number>> = {};
    ev.channels.forEach((channel, i) => {
      out[channel] = channelAttributes(channel, all[i] as ChannelSummary, info, false);
    });
    return out;
  };
  return summaries.some((v) => v instanceof Promise) ? Promise.all(summaries).then(build) : build(summaries as ChannelSummary[]);
}
