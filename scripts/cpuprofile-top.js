#!/usr/bin/env node
/**
 * `node scripts/cpuprofile-top.js <file.cpuprofile> [fromUs toUs] [n]`: the functions a V8 CPU
 * profile (node --cpu-prof) spent most time in, self and total (self plus callees), in ms, counting
 * only the samples inside [fromUs, toUs] when given (the profile's clock: CLOCK_MONOTONIC
 * microseconds, as bench/writes.bench.ts prints its measured windows).
 */
'use strict';
const { readFileSync } = require('node:fs');

const [file, from, to, top] = process.argv.slice(2);
if (!file) {
  console.error('usage: cpuprofile-top.js <file.cpuprofile> [fromUs toUs] [n]');
  process.exit(2);
}
const p = JSON.parse(readFileSync(file, 'utf8'));
const lo = from ? Number(from) : -Infinity;
const hi = to ? Number(to) : Infinity;
const n = top ? Number(top) : 25;

const byId = new Map(p.nodes.map((x) => [x.id, x]));
const parent = new Map();
for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
const label = (x) => {
  const f = x.callFrame;
  const where = f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
  return `${f.functionName || '(anonymous)'} ${where}`.trim();
};

const self = new Map();
const total = new Map();
let t = p.startTime;
let inWindow = 0;
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i];
  const next = i + 1 < p.timeDeltas.length ? p.timeDeltas[i + 1] : 0;
  if (t < lo || t > hi) continue;
  const ms = next / 1000;
  inWindow += ms;
  let id = p.samples[i];
  const leaf = byId.get(id);
  self.set(label(leaf), (self.get(label(leaf)) ?? 0) + ms);
  const seen = new Set();
  while (id !== undefined) {
    const l = label(byId.get(id));
    if (!seen.has(l)) {
      seen.add(l);
      total.set(l, (total.get(l) ?? 0) + ms);
    }
    id = parent.get(id);
  }
}
const print = (title, m) => {
  console.log(`${title} (ms of ${inWindow.toFixed(0)} sampled)`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${v.toFixed(1).padStart(9)}  ${k}`);
};
print('self', self);
print('total', new Map([...total].filter(([k]) => !/^\((root|program|idle)\)/.test(k))));
