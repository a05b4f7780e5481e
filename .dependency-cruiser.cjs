/**
 * Herald's layering (README.md § Architecture), checked by `npm test` (npm run lint:deps).
 * Each rule names what it protects; a violation prints the import that broke it.
 */
module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'No import cycles anywhere in src/ (type-only imports included): the code reads top-down.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'uws-only-in-transport',
      severity: 'error',
      comment: 'Only src/transport/ imports uWebSockets.js (design rule 2): everything else is testable without a socket.',
      from: { path: '^src/', pathNot: '^src/transport/' },
      to: { path: 'uWebSockets\\.js|uws-js-unofficial|@btc-vision/uwebsockets\\.js' },
    },
    {
      name: 'nothing-imports-transport-but-the-root',
      severity: 'error',
      comment: 'Transports plug into the core; only the composition root (server.ts) and the CLI (main.ts) know them.',
      from: { path: '^src/', pathNot: '^src/(transport/|server\\.ts$|main\\.ts$)' },
      to: { path: '^src/transport/' },
    },
    {
      name: 'protocol-rules-are-pure',
      severity: 'error',
      comment: 'Protocol rules (wire, auth, channels, quota arithmetic) import neither transports, adapters, the core nor REST.',
      from: { path: '^src/(wire|auth|channels)/|^src/quota/(per-address|daily|meter)\\.ts$' },
      to: { path: '^src/(transport|adapter|rest|webhooks|metrics|ops)/|^src/server\\.ts$' },
    },
    {
      name: 'core-knows-no-transport-or-rest',
      severity: 'error',
      comment: 'The connection core imports no transport, REST, metrics or ops code: they depend on it, not the reverse.',
      from: { path: '^src/connection/' },
      to: { path: '^src/(transport|rest|metrics|ops|webhooks)/|^src/server\\.ts$' },
    },
    {
      name: 'adapters-never-call-into-the-core',
      severity: 'error',
      comment: 'Cluster implementations reach the core only through the sink they are given, never by import.',
      from: { path: '^src/adapter/' },
      to: { path: '^src/(connection|channels|rest|transport|webhooks|quota|metrics|ops)/|^src/server\\.ts$' },
    },
    {
      name: 'redis-internals-stay-inside',
      severity: 'error',
      comment: 'The Redis connections, key builder, mirror and scripts are private to the Redis implementation.',
      from: { path: '^src/', pathNot: '^src/adapter/([a-z]+-redis|redis-[a-z]+)\\.ts$' },
      to: { path: '^src/adapter/redis-(node|keys|scripts)\\.ts$' },
    },
    {
      name: 'importers-read-config-only',
      severity: 'error',
      comment: 'The migration importers (src/migrate/) translate files into a config: they may use src/config/, never the running server.',
      from: { path: '^src/migrate/' },
      to: { path: '^src/(transport|adapter|connection|channels|rest|webhooks|quota|metrics|ops|state)/|^src/server\\.ts$' },
    },
    {
      name: 'one-place-chooses-the-cluster',
      severity: 'error',
      comment: 'Outside the implementations only adapter/create.ts picks local or Redis.',
      from: { path: '^src/', pathNot: '^src/adapter/(create\\.ts|[a-z]+-(local|redis)\\.ts)$' },
      to: { path: '^src/adapter/[a-z]+-(local|redis)\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
