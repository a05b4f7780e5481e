/**
 * A free TCP port on 127.0.0.1, for what cannot listen on port 0 and report its port: a
 * redis-server we start, a Herald restarted on the same port, a URL on which nothing listens.
 * The port is bound on 0 and released, so another process may take it in between; servers the
 * tests run themselves listen on port 0 instead.
 */
import { createServer } from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') return reject(new Error(`unexpected listen address ${String(addr)}`));
      srv.close(() => resolve(addr.port));
    });
  });
}
