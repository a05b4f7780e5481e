// Pusher REST request signing (auth_version 1.0) and a lean keep-alive HTTP/1.1 client.
//
// Signing follows the protocol reference §7.3: query params except auth_signature, keys
// lowercased and sorted, joined k=v with '&' using unescaped values; string to sign is
// "POST\n<path>\n<query>"; signature = hex HMAC-SHA256(secret, string). body_md5 = hex MD5
// of the raw body. Every request is signed exactly as the Pusher SDKs sign it; callers may
// sign a request once and send the same bytes many times within the 600 s window (the
// server does the same verification work for each copy).
import crypto from 'node:crypto';
import net from 'node:net';

export function signQuery(method, path, params, secret) {
  const keys = Object.keys(params)
    .filter((k) => k !== 'auth_signature')
    .map((k) => [k.toLowerCase(), params[k]])
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const query = keys.map(([k, v]) => `${k}=${v}`).join('&');
  const toSign = `${method}\n${path}\n${query}`;
  const sig = crypto.createHmac('sha256', secret).update(toSign).digest('hex');
  return { query, sig, toSign };
}

/** Build the full HTTP/1.1 request bytes for POST /apps/{id}/events with the given JSON body. */
export function buildEventRequest({ host, port, appId, key, secret, body, timestamp, path }) {
  const reqPath = path ?? `/apps/${appId}/events`;
  const bodyMd5 = crypto.createHash('md5').update(body).digest('hex');
  const params = {
    auth_key: key,
    auth_timestamp: String(timestamp ?? Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    body_md5: bodyMd5,
  };
  const { query, sig } = signQuery('POST', reqPath, params, secret);
  // Values here are URL-safe already (hex, digits, key chars), so the signed string and the wire query match.
  const bodyBuf = Buffer.from(body);
  const head =
    `POST ${reqPath}?${query}&auth_signature=${sig} HTTP/1.1\r\nHost: ${host}:${port}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${bodyBuf.length}\r\n\r\n`;
  return Buffer.concat([Buffer.from(head), bodyBuf]);
}

/** Self-check against the worked example in the protocol reference (§7.3). */
export function selfCheckSigner() {
  const { sig } = signQuery(
    'POST',
    '/apps/3/events',
    {
      auth_key: '278d425bdf160c739803',
      auth_timestamp: '1353088179',
      auth_version: '1.0',
      body_md5: crypto.createHash('md5').update('{"name":"foo","channels":["project-3"],"data":"{\\"some\\":\\"data\\"}"}').digest('hex'),
    },
    '7ad3773142a6692b25b8',
  );
  if (sig !== 'da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c') {
    throw new Error(`REST signer self-check failed: ${sig}`);
  }
}

/** Channel / presence auth: "key:hex(HMAC-SHA256(secret, socket_id:channel[:channel_data]))". */
export function channelAuth(key, secret, socketId, channel, channelData) {
  const s = channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
  return `${key}:${crypto.createHmac('sha256', secret).update(s).digest('hex')}`;
}

const CRLF2 = Buffer.from('\r\n\r\n');

/** REST client connections come from their own loopback addresses (127.0.0.200-203). */
export const restSourceAddress = (i) => `127.0.0.${200 + (i % 4)}`;

/**
 * One keep-alive HTTP/1.1 connection, one request in flight at a time (no pipelining).
 * request(buf, cb) writes pre-built request bytes; cb(status, body, err) on the response.
 */
export class HttpConn {
  constructor(host, port, localAddress) {
    this.host = host;
    this.port = port;
    this.localAddress = localAddress;
    this.cb = null;
    this.pending = null;
    this.sock = null;
    this.dead = false;
  }

  #connect() {
    const sock = net.connect({ host: this.host, port: this.port, localAddress: this.localAddress, noDelay: true });
    sock.on('data', (c) => this.#onData(c));
    sock.on('error', () => {});
    sock.on('close', () => {
      if (this.sock === sock) this.sock = null;
      this.pending = null;
      const cb = this.cb;
      this.cb = null;
      if (cb) cb(0, null, new Error('connection closed'));
    });
    this.sock = sock;
  }

  request(buf, cb) {
    if (this.dead) return cb(0, null, new Error('closed'));
    if (this.cb) throw new Error('HttpConn: request already in flight');
    if (!this.sock) this.#connect();
    this.cb = cb;
    this.sock.write(buf);
  }

  #onData(chunk) {
    let buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    const end = buf.indexOf(CRLF2);
    if (end < 0) {
      this.pending = buf;
      return;
    }
    const head = buf.toString('latin1', 0, end);
    const status = Number(head.slice(9, 12));
    const lower = head.toLowerCase();
    const cl = lower.indexOf('\r\ncontent-length:');
    let bodyEnd;
    let body;
    if (cl >= 0) {
      const len = parseInt(lower.slice(cl + 17, lower.indexOf('\r\n', cl + 2) >>> 0), 10);
      bodyEnd = end + 4 + len;
      if (buf.length < bodyEnd) {
        this.pending = buf;
        return;
      }
      body = buf.subarray(end + 4, bodyEnd);
    } else if (lower.includes('transfer-encoding: chunked')) {
      // Parse chunks: <hex>\r\n<data>\r\n ... 0\r\n\r\n
      let p = end + 4;
      const parts = [];
      for (;;) {
        const le = buf.indexOf('\r\n', p);
        if (le < 0) {
          this.pending = buf;
          return;
        }
        const size = parseInt(buf.toString('latin1', p, le), 16);
        if (size === 0) {
          if (buf.length < le + 4) {
            this.pending = buf;
            return;
          }
          bodyEnd = le + 4;
          break;
        }
        if (buf.length < le + 2 + size + 2) {
          this.pending = buf;
          return;
        }
        parts.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
      body = Buffer.concat(parts);
    } else {
      bodyEnd = end + 4;
      body = buf.subarray(bodyEnd, bodyEnd);
    }
    if (bodyEnd < buf.length) this.pending = Buffer.from(buf.subarray(bodyEnd));
    if (lower.includes('\r\nconnection: close')) {
      // The server will close this connection (soketi does after every response): the next
      // request opens a new one, as any HTTP client would.
      const s = this.sock;
      this.sock = null;
      this.pending = null;
      this.reconnects = (this.reconnects ?? 0) + 1;
      s.removeAllListeners('close');
      s.on('close', () => {});
      s.destroy();
    }
    const cb = this.cb;
    this.cb = null;
    if (cb) cb(status, body, null);
  }

  close() {
    this.dead = true;
    if (this.sock) {
      if (typeof this.sock.resetAndDestroy === 'function' && this.sock.readyState === 'open') this.sock.resetAndDestroy();
      else this.sock.destroy();
    }
  }
}

/**
 * Closed-loop load over `conns` keep-alive connections for `durationMs` (after `warmupMs`).
 * nextRequest(i) returns the request bytes for the next request on connection i.
 * onResponse(status, body, latencyMs) is optional. Returns counts and latencies from the
 * measured window only. `measure` hooks let callers snapshot CPU at window edges.
 */
export function closedLoop({ host, port, conns, warmupMs, durationMs, nextRequest, onWindowStart, onWindowEnd, localAddress = restSourceAddress }) {
  return new Promise((resolve) => {
    const lat = [];
    let ok = 0;
    let okAll = 0;
    let bad = 0;
    let badStatus = null;
    let measuring = false;
    let stopping = false;
    let active = 0;
    let tStart = 0;
    let tEnd = 0;
    const pool = [];
    for (let i = 0; i < conns; i++) pool.push(new HttpConn(host, port, localAddress ? localAddress(i) : undefined));
    const fire = (i) => {
      if (stopping) {
        if (--active === 0) finish();
        return;
      }
      const t0 = performance.now();
      const c = pool[i];
      c.request(nextRequest(i), (status, body, err) => {
        if (status === 200) okAll++;
        if (measuring) {
          if (status === 200) {
            ok++;
            lat.push(performance.now() - t0);
          } else {
            bad++;
            if (badStatus === null) badStatus = err ? String(err.message) : `${status} ${body?.toString().slice(0, 200)}`;
          }
        }
        if (err) {
          // connection lost: back off a little so a dead server does not spin the loop
          setTimeout(() => fire(i), 10);
          return;
        }
        fire(i);
      });
    };
    const finish = () => {
      for (const c of pool) c.close();
      resolve({ ok, okAll, bad, badStatus, lat, seconds: (tEnd - tStart) / 1000, reconnects: pool.reduce((a, c) => a + (c.reconnects ?? 0), 0) });
    };
    active = conns;
    for (let i = 0; i < conns; i++) fire(i);
    setTimeout(() => {
      measuring = true;
      tStart = performance.now();
      if (onWindowStart) onWindowStart();
      setTimeout(() => {
        measuring = false;
        tEnd = performance.now();
        if (onWindowEnd) onWindowEnd();
        stopping = true;
        // Safety: resolve even if some responses never come back.
        setTimeout(() => {
          if (active > 0) {
            active = 0;
            finish();
          }
        }, 5000).unref();
      }, durationMs);
    }, warmupMs);
  });
}
