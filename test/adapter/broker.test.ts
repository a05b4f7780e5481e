/**
 * Conformance of the broker seam (src/adapter/broker.ts), run against the local and the Redis
 * implementation; then fan-out between Redis nodes.
 */
import { describe, expect, it } from 'vitest';
import { waitFor } from '../helpers/wait.js';
import { app, freshPrefix, hasRedis, impls, redisNode, useNodes } from './harness.js';

useNodes();

describe.each(impls)('broker conformance: $name', (impl) => {
  impl.it('never delivers a node its own publishes', async () => {
    const n = await impl.node();
    await n.cluster.broker.watch(app, 'news');
    n.cluster.broker.publish(app, 'news', 'frame-1');
    await new Promise((r) => setTimeout(r, 100));
    expect(n.sink.delivered).toEqual([]);
    n.cluster.broker.unwatch(app, 'news');
  });

  impl.it('terminateUser reaches this node too', async () => {
    const n = await impl.node();
    n.cluster.broker.terminateUser(app, 'u9');
    expect(n.sink.terminated).toEqual([['a1', 'u9']]);
  });
});

describe.skipIf(!hasRedis)('broker across Redis nodes', () => {
  it('fans out to nodes that watch the channel, with the exclusion and without echo', async () => {
    const prefix = freshPrefix();
    const a = await redisNode({ prefix });
    const b = await redisNode({ prefix });
    const c = await redisNode({ prefix });
    await b.cluster.broker.watch(app, 'news');
    a.cluster.broker.publish(app, 'news', 'frame-1', '1.2');
    a.cluster.broker.publish(app, 'news', 'frame-2');
    await waitFor(() => b.sink.delivered.length === 2, 'two deliveries on b');
    expect(b.sink.delivered).toEqual([
      ['a1', 'news', 'frame-1', '1.2'],
      ['a1', 'news', 'frame-2', undefined],
    ]);
    expect(a.sink.delivered).toEqual([]);
    expect(c.sink.delivered).toEqual([]); // c never watched the channel
  });

  it('stops delivering once a node unwatches the channel', async () => {
    const prefix = freshPrefix();
    const a = await redisNode({ prefix });
    const b = await redisNode({ prefix });
    await b.cluster.broker.watch(app, 'news');
    a.cluster.broker.publish(app, 'news', 'before');
    await waitFor(() => b.sink.delivered.length === 1, 'the first delivery');
    b.cluster.broker.unwatch(app, 'news');
    await b.cluster.broker.watch(app, 'other'); // SUBSCRIBE after UNSUBSCRIBE on one connection: the unwatch is done
    a.cluster.broker.publish(app, 'news', 'after');
    a.cluster.broker.publish(app, 'other', 'marker');
    await waitFor(() => b.sink.delivered.length === 2, 'the marker');
    expect(b.sink.delivered.map((d) => d[2])).toEqual(['before', 'marker']);
  });

  it('terminateUser reaches every node', async () => {
    const prefix = freshPrefix();
    const a = await redisNode({ prefix });
    const b = await redisNode({ prefix });
    a.cluster.broker.terminateUser(app, 'u9');
    await waitFor(() => b.sink.terminated.length === 1, 'terminate on b');
    expect(a.sink.terminated).toEqual([['a1', 'u9']]);
    expect(b.sink.terminated).toEqual([['a1', 'u9']]);
  });
});
