// Minimal WebSocket client on a raw net.Socket, written for the load generator.
// It does the HTTP/1.1 upgrade by hand, parses unmasked server frames, and sends
// client frames with an all-zero masking key (valid per RFC 6455 §5.3; the XOR is a
// no-op, so the payload bytes go out as they are). It trades generality for low CPU:
// no extensions, no fragmentation on send, text frames only.
import net from 'node:net';

const HANDSHAKE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const CRLF2 = Buffer.from('\r\n\r\n');

/** Counters shared by every socket in this process (cheap global accounting). */
export const wsStats = { frames: 0, bytes: 0, closedUnexpectedly: 0, errors: 0 };

/** Throttled reading: sockets pause after each read and are resumed together every `ms`.
 *  Used only by max-rate scenarios, so that the generator reads large batches instead of
 *  one frame per syscall; it does not change what the server has to do. */
const throttle = { ms: 0, timer: null, paused: [] };
export function setReadThrottle(ms) {
  if (throttle.timer) clearInterval(throttle.timer);
  throttle.timer = null;
  throttle.ms = ms;
  const paused = throttle.paused;
  throttle.paused = [];
  for (const s of paused) s.resume();
  if (ms > 0) {
    throttle.timer = setInterval(() => {
      const list = throttle.paused;
      throttle.paused = [];
      for (let i = 0; i < list.length; i++) list[i].resume();
    }, ms);
    throttle.timer.unref();
  }
}

export class RawWs {
  /**
   * @param {object} o
   * @param {string} o.host
   * @param {number} o.port
   * @param {string} o.path
   * @param {string} [o.localAddress]
   * @param {(ws: RawWs, payload: Buffer) => void} [o.onMessage] called for every text frame
   * @param {(ws: RawWs) => void} [o.onOpen] after the 101 response
   * @param {(ws: RawWs, err?: Error) => void} [o.onClose]
   */
  constructor(o) {
    this.onMessage = o.onMessage ?? null;
    this.onOpen = o.onOpen ?? null;
    this.onClose = o.onClose ?? null;
    this.countOnly = false; // when true, text frames are only counted (wsStats.frames), not dispatched
    this.open = false;
    this.closed = false;
    this.pending = null; // unparsed bytes
    this.frag = null; // fragmented message parts
    this.user = null; // free slot for scenario state
    this.userClosing = false;
    const sock = net.connect({ host: o.host, port: o.port, localAddress: o.localAddress, noDelay: true });
    this.sock = sock;
    sock.on('connect', () => {
      sock.write(
        `GET ${o.path} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${HANDSHAKE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    sock.on('data', (chunk) => this.#onData(chunk));
    sock.on('error', (err) => {
      wsStats.errors++;
      this.#finish(err);
    });
    sock.on('close', () => this.#finish());
  }

  #finish(err) {
    if (this.closed) return;
    this.closed = true;
    this.open = false;
    if (!this.userClosing) wsStats.closedUnexpectedly++;
    if (this.onClose) this.onClose(this, err);
  }

  #onData(chunk) {
    if (throttle.ms > 0 && this.open) {
      this.sock.pause();
      throttle.paused.push(this.sock);
    }
    let buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let off = 0;
    if (!this.open) {
      const end = buf.indexOf(CRLF2);
      if (end < 0) {
        this.pending = buf;
        return;
      }
      // "HTTP/1.1 101"
      if (buf[9] !== 0x31 || buf[10] !== 0x30 || buf[11] !== 0x31) {
        const line = buf.subarray(0, Math.min(end, 200)).toString('latin1').split('\r\n')[0];
        this.userClosing = false;
        this.sock.destroy();
        this.#finish(new Error(`upgrade refused: ${line}`));
        return;
      }
      off = end + 4;
      this.open = true;
      if (this.onOpen) this.onOpen(this);
    }
    const n = buf.length;
    while (n - off >= 2) {
      const b0 = buf[off];
      let len = buf[off + 1] & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (n - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        hdr = 4;
      } else if (len === 127) {
        if (n - off < 10) break;
        len = buf.readUInt32BE(off + 6);
        hdr = 10;
      }
      if (n - off < hdr + len) break;
      const start = off + hdr;
      off = start + len;
      const op = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (op === 1 || op === 0) {
        if (!fin || op === 0) {
          this.frag = this.frag ?? [];
          this.frag.push(Buffer.from(buf.subarray(start, off)));
          if (!fin) continue;
          const whole = Buffer.concat(this.frag);
          this.frag = null;
          this.#dispatch(whole);
          continue;
        }
        this.#dispatch(buf.subarray(start, off));
      } else if (op === 8) {
        this.closeCode = len >= 2 ? buf.readUInt16BE(start) : 1005;
        this.closeReason = len > 2 ? buf.subarray(start + 2, off).toString() : '';
        this.sock.end();
        return;
      } else if (op === 9) {
        this.#sendFrame(0x8a, buf.subarray(start, off));
      }
      if (this.closed) return;
    }
    if (off < n) this.pending = off === 0 ? buf : Buffer.from(buf.subarray(off));
  }

  #dispatch(payload) {
    wsStats.frames++;
    wsStats.bytes += payload.length;
    if (!this.countOnly && this.onMessage) this.onMessage(this, payload);
  }

  #sendFrame(b0, payload) {
    const len = payload.length;
    const hdr = len < 126 ? 6 : len < 65536 ? 8 : 14;
    const out = Buffer.allocUnsafe(hdr + len);
    out[0] = b0;
    if (len < 126) {
      out[1] = 0x80 | len;
    } else if (len < 65536) {
      out[1] = 0x80 | 126;
      out.writeUInt16BE(len, 2);
    } else {
      out[1] = 0x80 | 127;
      out.writeUInt32BE(0, 2);
      out.writeUInt32BE(len, 6);
    }
    out.writeUInt32BE(0, hdr - 4); // zero masking key
    payload.copy(out, hdr);
    this.sock.write(out);
  }

  /** Send a text frame (string). */
  send(str) {
    if (this.closed) return;
    const len = Buffer.byteLength(str);
    const hdr = len < 126 ? 6 : len < 65536 ? 8 : 14;
    const out = Buffer.allocUnsafe(hdr + len);
    out[0] = 0x81;
    if (len < 126) {
      out[1] = 0x80 | len;
    } else if (len < 65536) {
      out[1] = 0x80 | 126;
      out.writeUInt16BE(len, 2);
    } else {
      out[1] = 0x80 | 127;
      out.writeUInt32BE(0, 2);
      out.writeUInt32BE(len, 6);
    }
    out.writeUInt32BE(0, hdr - 4);
    out.write(str, hdr);
    this.sock.write(out);
  }

  /** Abortive close (RST): no TIME_WAIT left on the client's ephemeral port. */
  kill() {
    this.userClosing = true;
    if (this.closed) return;
    if (typeof this.sock.resetAndDestroy === 'function' && this.sock.readyState !== 'opening') this.sock.resetAndDestroy();
    else this.sock.destroy();
  }
}

/** Source addresses to spread client sockets over (each has its own ephemeral port range). */
export function sourceAddress(i, perAddress = 8000) {
  return `127.0.0.${2 + Math.floor(i / perAddress)}`;
}
