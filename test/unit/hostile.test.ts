/**
 * The pure parts of issue 11: unsafe defaults refused in config (finding 7), per-address keys
 * and X-Forwarded-For trust (finding 4), bounded log lines and redacted webhook URLs (finding
 * 8), and the JSON depth scan (finding 2).
 */
import { describe, expect, it } from 'vitest';
import { loadConfig, MIN_SECRET_LENGTH, parseConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/config/schema.js';
import { closeCodeLabel } from '../../src/metrics/metrics.js';
import { LogLimiter } from '../../src/ops/log-limit.js';
import { AddressLimits, addressKey, clientAddress, trustedProxyList } from '../../src/quota/per-address.js';
import { redactUrl } from '../../src/webhooks/delivery.js';
import { jsonTooDeep, MAX_JSON_DEPTH } from '../../src/wire/json-depth.js';

describe('finding 7: defaults that invite compromise', () => {
  it('refuses to serve the public development app on a non-loopback address unless allowed', () => {
    // Regression: with no config file and host 0.0.0.0 Herald only warned, serving app-key/app-secret to the network.
    expect(() => loadConfig(undefined, { HERALD_HOST: '0.0.0.0' })).toThrow(ConfigError);
    expect(() => loadConfig(undefined, { HERALD_HOST: '0.0.0.0' })).toThrow(/development app.*HERALD_ALLOW_PUBLIC_DEV_APP/);
    expect(loadConfig(undefined, { HERALD_HOST: '0.0.0.0', HERALD_ALLOW_PUBLIC_DEV_APP: '1' }).config.host).toBe('0.0.0.0');
    for (const host of ['127.0.0.1', 'localhost', '::1', '127.8.9.10']) expect(loadConfig(undefined, { HERALD_HOST: host }).config.host).toBe(host);
  });

  it(`refuses app secrets shorter than ${MIN_SECRET_LENGTH} characters`, () => {
    const app = { id: 'a1', key: 'k1', secret: 'short-secret' };
    expect(() => parseConfig({ apps: [app] }, 'herald.json')).toThrow(/"apps\[0\]\.secret" is 12 characters; use at least 16/);
    expect(parseConfig({ apps: [{ ...app, secret: 'x'.repeat(MIN_SECRET_LENGTH) }] }, 'herald.json').apps).toHaveLength(1);
  });

  it('refuses a trusted proxy that is not an address or subnet', () => {
    const apps = [{ id: 'a1', key: 'k1', secret: 'x'.repeat(MIN_SECRET_LENGTH) }];
    expect(() => parseConfig({ apps, trustedProxies: ['10.0.0.0/33'] }, 'h.json')).toThrow(/"trustedProxies" "10\.0\.0\.0\/33" has an invalid prefix/);
    expect(() => parseConfig({ apps, trustedProxies: ['proxy.local'] }, 'h.json')).toThrow(/is not an IP address/);
    expect(parseConfig({ apps, trustedProxies: ['10.0.0.0/8', '::1', '192.168.1.2'] }, 'h.json').trustedProxies).toHaveLength(3);
  });
});

describe('finding 4: client addresses', () => {
  it('groups IPv6 by /64 and unwraps IPv4-mapped addresses', () => {
    expect(addressKey('203.0.113.9')).toBe('203.0.113.9');
    expect(addressKey('2001:db8:1:2:3:4:5:6')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2::9')).toBe(addressKey('2001:0db8:0001:0002:ffff::1'));
    expect(addressKey('::ffff:198.51.100.4')).toBe('198.51.100.4');
    expect(addressKey('0000:0000:0000:0000:0000:ffff:7f00:0001')).toBe('127.0.0.1');
  });

  it('believes X-Forwarded-For only from trusted proxies, right to left', () => {
    const proxies = trustedProxyList(['10.0.0.0/8']);
    expect(clientAddress('198.51.100.1', '1.2.3.4', proxies)).toBe('198.51.100.1');
    expect(clientAddress('10.0.0.5', '1.2.3.4', proxies)).toBe('1.2.3.4');
    expect(clientAddress('10.0.0.5', '6.6.6.6, 1.2.3.4, 10.9.9.9', proxies)).toBe('1.2.3.4');
    expect(clientAddress('10.0.0.5', 'garbage, 10.1.1.1', proxies)).toBe('10.1.1.1');
    expect(clientAddress('10.0.0.5', '', proxies)).toBe('10.0.0.5');
  });

  it('tracks at most maxAddresses addresses at once, refusing new ones with the rate verdict', () => {
    // A client rotating through IPv6 /64 prefixes must not grow the table without bound.
    let now = 0;
    const limits = new AddressLimits(
      () => ({ maxConnectionsPerIp: 5, ipConnectionsPerSec: 1, ipConnectionBurst: 5, ipPublicSubscribesPerSec: 1, ipPublicSubscribeBurst: 1 }),
      () => now,
      3,
    );
    for (const a of ['a', 'b', 'c']) expect(limits.connect(a)).toBe('ok');
    expect(limits.connect('d')).toBe('connection_rate');
    expect(limits.connect('a')).toBe('ok'); // a known address is still served
    expect(limits.size).toBe(3);
    limits.disconnect('c');
    now += 10_000; // c's buckets refill: the sweep frees its slot
    expect(limits.connect('d')).toBe('ok');
  });

  it('frees an address record once it has no connection and full buckets', () => {
    let now = 0;
    const limits = new AddressLimits(
      () => ({ maxConnectionsPerIp: 2, ipConnectionsPerSec: 1, ipConnectionBurst: 2, ipPublicSubscribesPerSec: 1, ipPublicSubscribeBurst: 1 }),
      () => now,
    );
    expect(limits.connect('a')).toBe('ok');
    expect(limits.connect('a')).toBe('ok');
    expect(limits.connect('a')).toBe('too_many_connections');
    limits.disconnect('a');
    expect(limits.connect('a')).toBe('connection_rate');
    now += 1000;
    expect(limits.connect('a')).toBe('ok');
    expect(limits.publicSubscribe('a')).toBe(true);
    expect(limits.publicSubscribe('a')).toBe(false);
    limits.disconnect('a');
    limits.disconnect('a');
    limits.sweep();
    expect(limits.size).toBe(1); // buckets not yet refilled
    now += 5000;
    limits.sweep();
    expect(limits.size).toBe(0);
  });
});

describe('finding 8: logs and labels stay bounded', () => {
  it('lets ten lines per key through per window and counts the rest', () => {
    let now = 0;
    const limiter = new LogLimiter(() => now);
    const allowed = Array.from({ length: 25 }, () => limiter.allow('401')).filter((v) => v !== undefined);
    expect(allowed).toHaveLength(10);
    expect(limiter.allow('400')).toBe(0);
    now += 10_000;
    expect(limiter.allow('401')).toBe(15);
    expect(limiter.allow('401')).toBe(0);
  });

  it('redacts webhook URLs to scheme, host and port', () => {
    expect(redactUrl('https://hooks.example.com/services/T0K3N?key=abc')).toBe('https://hooks.example.com/…');
    expect(redactUrl('http://user:pw@10.0.0.1:8080/')).toBe('http://10.0.0.1:8080/…');
    expect(redactUrl('http://example.com')).toBe('http://example.com');
    expect(redactUrl('not a url')).toBe('(invalid URL)');
  });

  it('labels only known close codes', () => {
    expect(closeCodeLabel(1006)).toBe('1006');
    expect(closeCodeLabel(4101)).toBe('4101');
    expect(closeCodeLabel(4999)).toBe('other');
    expect(closeCodeLabel(3000)).toBe('other');
    expect(closeCodeLabel(undefined)).toBe('none');
  });
});

describe('finding 2: JSON depth', () => {
  it(`counts nesting outside strings and stops at ${MAX_JSON_DEPTH}`, () => {
    const nest = (n: number): string => `${'['.repeat(n)}${']'.repeat(n)}`;
    expect(jsonTooDeep(nest(MAX_JSON_DEPTH))).toBe(false);
    expect(jsonTooDeep(nest(MAX_JSON_DEPTH + 1))).toBe(true);
    expect(jsonTooDeep(JSON.stringify({ s: '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[' }))).toBe(false);
    expect(jsonTooDeep(JSON.stringify({ s: 'a\\"[[[[' }), 1)).toBe(false);
    expect(jsonTooDeep('{"a":{"b":[1]}}', 2)).toBe(true);
  });
});
