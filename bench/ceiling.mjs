// Bare uWS "ceiling": the least work a Pusher-shaped server can do on this machine.
// /app/:key websocket: sends connection_established, subscribes on pusher:subscribe and
// answers subscription_succeeded, answers pusher:ping, forwards client-* events to the other
// subscribers of the channel. POST /apps/:id/events: parses the JSON body only to find the
// channels and publishes the raw body to them. No auth, no presence, no limits.
//
// Usage: node ceiling.mjs <port> [host]
import uWS from 'uWebSockets.js';

const port = Number(process.argv[2] ?? 0);
const host = process.argv[3] ?? '127.0.0.1';
const dec = new TextDecoder();
let nextId = 1;

const app = uWS.App();

app.ws('/app/:key', {
  compression: uWS.DISABLED,
  maxPayloadLength: 100 * 1024,
  maxBackpressure: 64 * 1024 * 1024,
  idleTimeout: 0,
  upgrade: (res, req, context) => {
    res.upgrade(
      { id: `${nextId++}.${(Math.random() * 1e9) | 0}` },
      req.getHeader('sec-websocket-key'),
      req.getHeader('sec-websocket-protocol'),
      req.getHeader('sec-websocket-extensions'),
      context,
    );
  },
  open: (ws) => {
    const d = ws.getUserData();
    ws.send(
      `{"event":"pusher:connection_established","data":"{\\"socket_id\\":\\"${d.id}\\",\\"activity_timeout\\":120}"}`,
      false,
    );
  },
  message: (ws, message) => {
    let m;
    try {
      m = JSON.parse(dec.decode(message));
    } catch {
      return;
    }
    const ev = m.event;
    if (ev === 'pusher:subscribe') {
      const ch = m.data?.channel;
      if (typeof ch !== 'string') return;
      ws.subscribe(ch);
      ws.send(`{"event":"pusher_internal:subscription_succeeded","channel":${JSON.stringify(ch)},"data":"{}"}`, false);
    } else if (ev === 'pusher:unsubscribe') {
      const ch = m.data?.channel;
      if (typeof ch === 'string') ws.unsubscribe(ch);
    } else if (ev === 'pusher:ping') {
      ws.send('{"event":"pusher:pong","data":"{}"}', false);
    } else if (typeof ev === 'string' && ev.startsWith('client-') && typeof m.channel === 'string') {
      // The sender is subscribed, so ws.publish reaches every other subscriber and skips the sender.
      if (ws.isSubscribed(m.channel)) ws.publish(m.channel, message, false);
    }
  },
});

app.post('/apps/:id/events', (res) => {
  let aborted = false;
  res.onAborted(() => {
    aborted = true;
  });
  const parts = [];
  res.onData((chunk, isLast) => {
    parts.push(Buffer.from(chunk.slice(0)));
    if (!isLast) return;
    const body = parts.length === 1 ? parts[0] : Buffer.concat(parts);
    let channels = null;
    try {
      const j = JSON.parse(body.toString());
      channels = Array.isArray(j.channels) ? j.channels : typeof j.channel === 'string' ? [j.channel] : null;
    } catch {
      channels = null;
    }
    if (aborted) return;
    if (!channels) {
      res.cork(() => res.writeStatus('400 Bad Request').end('{}'));
      return;
    }
    // app.publish: this uWS build delivers nothing from ws.publish on an unsubscribed socket.
    for (const ch of channels) app.publish(ch, body, false);
    res.cork(() => res.writeHeader('Content-Type', 'application/json').end('{}'));
  });
});

app.get('/ready', (res) => {
  res.end('ok');
});

app.any('/*', (res) => {
  res.writeStatus('404 Not Found').end('');
});

app.listen(host, port, (token) => {
  if (!token) {
    console.error(`ceiling: cannot listen on ${host}:${port}`);
    process.exit(1);
  }
  console.log(`ceiling listening on ${host}:${uWS.us_socket_local_port(token)}`);
});

const stop = () => process.exit(0);
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
