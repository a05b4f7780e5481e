// Minimal WebSocket client on a raw net.Socket, written for the load generator.
// It does the HTTP/1.1 upgrade by hand, parses unmasked server frames, and sends
// client frames with an all-zero masking key (valid per RFC 6455 §5.3; the XOR is a
// no-op, so the payload bytes go out as they are). It trades generality for low CPU:
// no extensions, no fragmentation on send, text frames only.
import net from 'node:net';

const HANDSHAKE_KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const CRLF2 = Buffer.from('\r\n\r\n');
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

/** Counters shared by every socket in this process (cheap global accounting). */
export const wsStats = { frames: 0, bytes: 0, closedUnexpectedly: 0, errors: 0 };

/** Throttled reading: a socket pauses after each read and is resumed at most once per `ms`.
 *  Sockets are split into SLICES groups resumed in turn (one group every ms/SLICES), which
 *  spreads the generator's work evenly. Used only by max-rate scenarios, so that the generator
 *  reads large batches instead of one frame per syscall; the server's work is unchanged (its
 *  writes land in the kernel's receive buffers either way). */
const SLICES = 10;
const throttle = { ms: 0, timer: null, paused: Array.from({ length: SLICES }, () => []), next: 0 };
let sliceCounter = 0;
export function setReadThrottle(ms) {
  if (throttle.timer) clearInterval(throttle.timer);
  throttle.timer = null;
  throttle.ms = ms;
  resumeAll();
  if (ms > 0) {
    throttle.timer = setInterval(() => {
      const k = throttle.next;
      throttle.next = (k + 1) % SLICES;
      const list = throttle.paused[k];
      throttle.paused[k] = [];
      for (let i = 0; i < list.length; i++) list[i].resume();
    }, Math.max(1, ms / SLICES));
    throttle.timer.unref();
  }
}

function resumeAll() {
  for (let k = 0; k < SLICES; k++) {
    const list = throttle.paused[k];
    throttle.paused[k] = [];
    for (const s of list) s.resume();
  }
}

/** Read everything that is waiting now (used at measurement-window edges): resume every
 *  paused socket and give the event loop a few turns to read them. */
export async function flushReads() {
  resumeAll();
  for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
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
    this.noThrottle = false; // exempt from throttled reading (probe sockets)
    this.open = false;
    this.closed = false;
    this.pending = null; // handshake bytes not yet parsed
    this.hdr = null; // partial frame header carried over between reads
    this.need = 0; // payload bytes still to come for the current frame
    this.parts = null; // pieces of the current frame's payload (null: counting only)
    this.curB0 = 0;
    this.skippedLen = 0;
    this.frag = null; // fragmented message parts
    this.user = null; // free slot for scenario state
    this.slice = sliceCounter++ % SLICES;
    this.userClosing = false;
    // onread: libuv reads straight into one shared buffer (no allocation per read), and
    // pause() really stops reading (readStop) instead of buffering in the stream.
    const sock = net.connect({
      host: o.host,
      port: o.port,
      localAddress: o.localAddress,
      noDelay: true,
      onread: { buffer: READ_BUFFER, callback: (nread, buf) => this.#onData(buf.subarray(0, nread)) },
    });
    this.sock = sock;
    sock.on('connect', () => {
      sock.write(
        `GET ${o.path} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${HANDSHAKE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
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

  /** Every byte received; `chunk` is a view of the shared READ_BUFFER, valid only during this
   *  call: anything kept past it is copied. Returning false pauses the socket (throttling). */
  #onData(chunk) {
    if (this.open) {
      this.#parse(chunk, 0);
    } else {
      this.#handshake(chunk);
    }
    if (throttle.ms > 0 && this.open && !this.noThrottle && !this.closed) {
      throttle.paused[this.slice].push(this.sock);
      return false;
    }
    return true;
  }

  #handshake(chunk) {
    const buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    const end = buf.indexOf(CRLF2);
    if (end < 0) {
      this.pending = Buffer.from(buf);
      return;
    }
    // "HTTP/1.1 101"
    if (buf[9] !== 0x31 || buf[10] !== 0x30 || buf[11] !== 0x31) {
      const line = buf.subarray(0, Math.min(end, 200)).toString('latin1').split('\r\n')[0];
      this.sock.destroy();
      this.#finish(new Error(`upgrade refused: ${line}`));
      return;
    }
    this.open = true;
    if (this.onOpen) this.onOpen(this);
    if (end + 4 < buf.length) this.#parse(buf, end + 4);
  }

  /** Streaming frame parser: frames wholly inside `buf` are dispatched without copying; a
   *  frame split over reads is either skipped (count-only sockets) or gathered piecewise. */
  #parse(buf, off) {
    const n = buf.length;
    while (off < n && !this.closed) {
      if (this.need > 0) {
        const take = Math.min(this.need, n - off);
        if (this.parts !== null) this.parts.push(Buffer.from(buf.subarray(off, off + take)));
        off += take;
        this.need -= take;
        if (this.need === 0) {
          const payload = this.parts === null ? null : Buffer.concat(this.parts);
          this.parts = null;
          if (payload === null) this.#countSkipped();
          else this.#frame(this.curB0, payload);
        }
        continue;
      }
      // header: at most 10 bytes from the server (unmasked)
      let h = buf;
      let ho = off;
      let had = 0;
      if (this.hdr !== null) {
        had = this.hdr.length;
        h = Buffer.concat([this.hdr, buf.subarray(off, off + Math.min(10, n - off))]);
        ho = 0;
        this.hdr = null;
      }
      const avail = h.length - ho;
      if (avail < 2) {
        this.hdr = Buffer.from(h.subarray(ho));
        return;
      }
      const b0 = h[ho];
      let len = h[ho + 1] & 0x7f;
      let hl = 2;
      if (len === 126) {
        hl = 4;
        if (avail < 4) {
          this.hdr = Buffer.from(h.subarray(ho));
          return;
        }
        len = h.readUInt16BE(ho + 2);
      } else if (len === 127) {
        hl = 10;
        if (avail < 10) {
          this.hdr = Buffer.from(h.subarray(ho));
          return;
        }
        len = h.readUInt32BE(ho + 6);
      }
      off += hl - had; // bytes of this read that belonged to the header
      const op = b0 & 0x0f;
      if (n - off >= len) {
        const payload = buf.subarray(off, off + len);
        off += len;
        if (this.countOnly && op === 1 && (b0 & 0x80) !== 0) {
          wsStats.frames++;
          wsStats.bytes += len;
        } else {
          this.#frame(b0, payload);
        }
        continue;
      }
      // payload continues in later reads
      this.need = len;
      this.curB0 = b0;
      this.parts = this.countOnly && op === 1 && (b0 & 0x80) !== 0 ? null : [];
      if (this.parts === null) this.skippedLen = len;
    }
  }

  #countSkipped() {
    wsStats.frames++;
    wsStats.bytes += this.skippedLen;
  }

  #frame(b0, payload) {
    const op = b0 & 0x0f;
    const fin = (b0 & 0x80) !== 0;
    if (op === 1 || op === 0) {
      if (!fin || op === 0) {
        this.frag = this.frag ?? [];
        this.frag.push(Buffer.from(payload));
        if (!fin) return;
        const whole = Buffer.concat(this.frag);
        this.frag = null;
        this.#dispatch(whole);
        return;
      }
      this.#dispatch(payload);
    } else if (op === 8) {
      this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
      this.closeReason = payload.length > 2 ? payload.subarray(2).toString() : '';
      this.sock.end();
    } else if (op === 9) {
      this.#sendFrame(0x8a, payload);
    }
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
export function sourceAddress(i, perAddress = 2000) {
  return `127.0.0.${2 + Math.floor(i / perAddress)}`;
}
