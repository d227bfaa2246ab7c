// Summarises a V8 .cpuprofile (node --cpu-prof): where a process spent its
// CPU, by package and by function (self time), so the README can say what
// limits a benchmark with numbers rather than guesses.
import { readFileSync } from 'node:fs';

const PACKAGES = [
  [/node_modules\/@grpc\/grpc-js\//, '@grpc/grpc-js'],
  [/node_modules\/@bufbuild\/protobuf\/|\/proto\/dist\/gen\//, 'protobuf encode/decode'],
  [/node_modules\/pg(-[a-z]+)?\//, 'pg (PostgreSQL client)'],
  [/node_modules\/(pino|thread-stream|sonic-boom)/, 'pino (logging)'],
  [/node_modules\/prom-client\//, 'prom-client (metrics)'],
  [/node_modules\/uuid\//, 'uuid'],
  [/\/accounts-manager\/dist\/|\/proto\/dist\/src\//, 'accounts-manager code'],
  [/node_modules\//, 'other npm packages'],
  [/^node:|^internal\//, 'Node.js (net, http2, streams, timers)'],
];

function packageOf({ url, functionName }) {
  if (functionName === '(garbage collector)') return 'garbage collection';
  if (functionName === '(idle)') return 'idle';
  if (functionName === '(program)' || url === '') return 'V8/native (program)';
  return PACKAGES.find(([pattern]) => pattern.test(url))?.[1] ?? 'other';
}

export function summarizeProfile(path, top = 12) {
  const profile = JSON.parse(readFileSync(path, 'utf8'));
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const idleUs = [...selfUs]
    .filter(([id]) => byId.get(id).callFrame.functionName === '(idle)')
    .reduce((a, [, us]) => a + us, 0);
  const busyUs = totalUs - idleUs;
  const packages = new Map();
  const functions = new Map();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id).callFrame;
    const name = packageOf(frame);
    if (name === 'idle') continue;
    packages.set(name, (packages.get(name) ?? 0) + us);
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(accounts-manager|proto)\//, '$1/')}:${frame.lineNumber + 1}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
  }
  const share = (us) => Math.round((1000 * us) / busyUs) / 10;
  return {
    seconds: Math.round(totalUs / 1e5) / 10,
    busyPercent: Math.round((1000 * busyUs) / totalUs) / 10,
    byPackage: [...packages].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, percentOfBusy: share(us) })),
    topFunctions: [...functions]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, us]) => ({ name, percentOfBusy: share(us) })),
  };
}
