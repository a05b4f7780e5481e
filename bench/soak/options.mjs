// Command-line and environment options of the soak run, validated and turned into the
// population and rate plan every other module reads.
import { parseArgs } from 'node:util';

const USAGE = `Usage: node bench/soak.mjs [--duration SECONDS] [--connections N] [--steady N] [--slow N]
                           [--malformed N] [--publish-rate N] [--sample-every SECONDS] [--keep-state]
  --duration        length of the load phase (env SOAK_DURATION_SEC; default 600)
  --connections     client connections at once, all kinds together (env SOAK_CONNECTIONS; default 3000)
  --steady          steady readers for the loss check (default 100)
  --slow            slow-reader slots (default 10)
  --malformed       malformed-frame sender slots (default 10)
  --publish-rate    background REST publishes per second to churn channels (default 100)
  --sample-every    metrics sampling interval (default 10, shorter for short runs)
  --keep-state      keep the temp config/state directory (and the server's log) after the run`;

function intOption(raw, name, min, max) {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${name} must be a whole number in [${min}, ${max}], got "${raw}"`);
  return n;
}

/**
 * Reads argv and env into a frozen plan. Throws with a usage message on bad input.
 * Invariants: churn slots ≥ 1; steady + slow + malformed + churn = connections.
 */
export function readOptions(argv = process.argv.slice(2), env = process.env) {
  const { values } = parseArgs({
    args: argv,
    options: {
      duration: { type: 'string' },
      connections: { type: 'string' },
      steady: { type: 'string' },
      slow: { type: 'string' },
      malformed: { type: 'string' },
      'publish-rate': { type: 'string' },
      'sample-every': { type: 'string' },
      'keep-state': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const durationSec = intOption(values.duration ?? env.SOAK_DURATION_SEC ?? 600, '--duration', 10, 24 * 3600);
  const connections = intOption(values.connections ?? env.SOAK_CONNECTIONS ?? 3000, '--connections', 50, 20_000);
  const steady = intOption(values.steady ?? 100, '--steady', 1, 1000);
  const slow = intOption(values.slow ?? 10, '--slow', 0, 200);
  const malformed = intOption(values.malformed ?? 10, '--malformed', 0, 200);
  const churn = connections - steady - slow - malformed;
  if (churn < 1) throw new Error(`--connections ${connections} leaves no churning clients after ${steady} steady, ${slow} slow and ${malformed} malformed`);
  const publishRate = intOption(values['publish-rate'] ?? 100, '--publish-rate', 0, 400);
  // About ten samples for short runs, one every 10 s otherwise.
  const defaultSample = Math.min(10, Math.max(2, Math.round(durationSec / 10)));
  const sampleEverySec = intOption(values['sample-every'] ?? defaultSample, '--sample-every', 1, 600);
  return Object.freeze({
    durationSec,
    connections,
    steady,
    slow,
    malformed,
    churn,
    sampleEverySec,
    keepState: values['keep-state'] === true,
    // Churners open over this ramp (15 % of the run, at most 15 s) so the server is not hit
    // with thousands of handshakes in one burst.
    rampSec: Math.min(15, durationSec * 0.15),
    rates: Object.freeze({
      seqPerSec: 20, // sequence-numbered triggers (each to the steady public + presence channel)
      backgroundPerSec: publishRate, // triggers to churn rooms
      firehosePerSec: slow > 0 ? 30 : 0, // 8 KB triggers to the channel slow readers hold
    }),
    rooms: 300, // churn rooms per kind (public, private-, presence-)
    hardStopSec: durationSec + 180, // the whole run, teardown included, never outlives this
  });
}

export { USAGE };
