#!/usr/bin/env node
'use strict';
/**
 * `node scripts/heapsnapshot-diff.js before.heapsnapshot after.heapsnapshot [top]`: what grew
 * between two V8 heap snapshots of one process (node --heapsnapshot-signal, or
 * SOAK_WORKER_HEAPSNAPSHOT of the soak bench). Plain Node, no dependency. Prints:
 * - per constructor (objects by their constructor's name, closures by their function's, other
 *   node types by type): count and self size in each snapshot, largest change first;
 * - the objects present in both (V8 keeps a node's id across snapshots of one process) whose
 *   retained size (dominator tree) grew most, each with the edge it hangs from, so a container
 *   that grows (a Map, an array) is named with its owner;
 * - the objects that retain most in the second snapshot;
 * - with a fourth argument, a node id (@123 as printed): what that object of the second snapshot
 *   retains, per constructor.
 */
const fs = require('node:fs');

function load(file) {
  const snap = JSON.parse(fs.readFileSync(file, 'utf8'));
  const meta = snap.snapshot.meta;
  const nf = meta.node_fields;
  const ef = meta.edge_fields;
  const N = nf.length;
  const E = ef.length;
  const nodeTypes = meta.node_types[0];
  const edgeTypes = meta.edge_types[0];
  const { nodes, edges, strings } = snap;
  const count = nodes.length / N;
  const [iType, iName, iId, iSize, iEdges] = ['type', 'name', 'id', 'self_size', 'edge_count'].map((f) => nf.indexOf(f));
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => ef.indexOf(f));
  const firstEdge = new Uint32Array(count + 1);
  for (let i = 0; i < count; i++) firstEdge[i + 1] = firstEdge[i] + nodes[i * N + iEdges];
  const weak = edgeTypes.indexOf('weak');
  const shortcut = edgeTypes.indexOf('shortcut');
  const elementLike = new Set(['element', 'hidden'].map((t) => edgeTypes.indexOf(t)));
  const group = (i) => {
    const t = nodeTypes[nodes[i * N + iType]];
    const name = strings[nodes[i * N + iName]];
    if (t === 'object' || t === 'closure' || t === 'native') return `${t === 'closure' ? 'closure ' : ''}${name.split(' ')[0].slice(0, 60)}`;
    return `(${t})`;
  };
  const edgeName = (e) => (elementLike.has(edges[e * E + eType]) ? `[${edges[e * E + eName]}]` : String(strings[edges[e * E + eName]]).slice(0, 40));

  // Dominators (Cooper, Harvey, Kennedy) over strong edges from the root (node 0).
  const succ = (i, f) => {
    for (let e = firstEdge[i]; e < firstEdge[i + 1]; e++) {
      const t = edges[e * E + eType];
      if (t === weak || t === shortcut) continue;
      f(edges[e * E + eTo] / N, e);
    }
  };
  const post = new Int32Array(count).fill(-1);
  const order = new Uint32Array(count);
  let n = 0;
  {
    const stack = [0];
    const cursor = new Uint32Array(count);
    const seen = new Uint8Array(count);
    seen[0] = 1;
    for (let i = 0; i < count; i++) cursor[i] = firstEdge[i];
    while (stack.length) {
      const v = stack[stack.length - 1];
      let pushed = false;
      while (cursor[v] < firstEdge[v + 1]) {
        const e = cursor[v]++;
        const t = edges[e * E + eType];
        if (t === weak || t === shortcut) continue;
        const w = edges[e * E + eTo] / N;
        if (!seen[w]) {
          seen[w] = 1;
          stack.push(w);
          pushed = true;
          break;
        }
      }
      if (!pushed) {
        stack.pop();
        post[v] = n;
        order[n++] = v;
      }
    }
  }
  const preds = new Array(count);
  for (let v = 0; v < count; v++) {
    if (post[v] < 0) continue;
    succ(v, (w) => {
      if (post[w] < 0) return;
      (preds[w] ??= []).push(v);
    });
  }
  const idom = new Int32Array(count).fill(-1);
  idom[0] = 0;
  const intersect = (a, b) => {
    while (a !== b) {
      while (post[a] < post[b]) a = idom[a];
      while (post[b] < post[a]) b = idom[b];
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (let k = n - 2; k >= 0; k--) {
      const v = order[k];
      let d = -1;
      for (const p of preds[v] ?? []) {
        if (idom[p] < 0) continue;
        d = d < 0 ? p : intersect(p, d);
      }
      if (d >= 0 && idom[v] !== d) {
        idom[v] = d;
        changed = true;
      }
    }
  }
  const retained = new Float64Array(count);
  for (let k = 0; k < n; k++) {
    const v = order[k];
    retained[v] += nodes[v * N + iSize];
    if (v !== 0) retained[idom[v]] += retained[v];
  }
  // the edge from a node's dominator (or any predecessor) to it, for naming
  const via = (v) => {
    const d = idom[v];
    let name = '?';
    if (d >= 0) succ(d, (w, e) => {
      if (w === v && name === '?') name = edgeName(e);
    });
    return `${d >= 0 ? group(d) : '?'}.${name}`;
  };

  const groups = new Map();
  const byId = new Map();
  for (let i = 0; i < count; i++) {
    const g = group(i);
    const x = groups.get(g) ?? { count: 0, size: 0 };
    x.count++;
    x.size += nodes[i * N + iSize];
    groups.set(g, x);
    byId.set(nodes[i * N + iId], i);
  }
  return { groups, byId, retained, group, via, idom, size: (i) => nodes[i * N + iSize], count, total: nodes.reduce((a, _, j) => (j % N === iSize ? a + nodes[j] : a), 0) };
}

const [a, b, topArg, underId] = process.argv.slice(2);
if (!a || !b) {
  process.stderr.write('usage: node scripts/heapsnapshot-diff.js before.heapsnapshot after.heapsnapshot [top]\n');
  process.exit(2);
}
const top = Number(topArg) || 25;
const A = load(a);
const B = load(b);
const mb = (x) => (x / 1048576).toFixed(2);
process.stdout.write(`total self size: ${mb(A.total)} MB -> ${mb(B.total)} MB\n\nby constructor (count, self MB), largest change first:\n`);
const names = new Set([...A.groups.keys(), ...B.groups.keys()]);
const rows = [...names].map((g) => {
  const x = A.groups.get(g) ?? { count: 0, size: 0 };
  const y = B.groups.get(g) ?? { count: 0, size: 0 };
  return { g, x, y, d: y.size - x.size };
});
rows.sort((p, q) => Math.abs(q.d) - Math.abs(p.d));
for (const r of rows.slice(0, top)) {
  process.stdout.write(`  ${r.g.padEnd(48)} ${String(r.x.count).padStart(9)} -> ${String(r.y.count).padStart(9)}  ${mb(r.x.size).padStart(8)} -> ${mb(r.y.size).padStart(8)} MB\n`);
}
process.stdout.write(`\nobjects in both whose retained size grew most (retained MB, held as dominator.edge):\n`);
const grown = [];
for (const [id, j] of B.byId) {
  if (B.retained[j] < 65536) continue;
  const i = A.byId.get(id);
  const before = i === undefined ? 0 : A.retained[i];
  grown.push({ id, j, before, after: B.retained[j] });
}
grown.sort((p, q) => q.after - q.before - (p.after - p.before));
for (const r of grown.slice(0, top)) {
  process.stdout.write(`  @${r.id} ${B.group(r.j).padEnd(30)} ${mb(r.before).padStart(8)} -> ${mb(r.after).padStart(8)}  via ${B.via(r.j)}\n`);
}
process.stdout.write(`\nlargest retained in the second snapshot (below the root's children):\n`);
const largest = [...B.byId.values()].filter((j) => B.retained[j] >= 65536 && !B.group(j).startsWith('(synthetic)'));
largest.sort((p, q) => B.retained[q] - B.retained[p]);
for (const j of largest.slice(0, top)) process.stdout.write(`  ${B.group(j).padEnd(30)} ${mb(B.retained[j]).padStart(8)}  via ${B.via(j)}\n`);
if (underId) {
  const root = B.byId.get(Number(underId.replace(/^@/, '')));
  if (root === undefined) throw new Error(`no node @${underId} in ${b}`);
  const inside = new Map();
  for (let i = 0; i < B.count; i++) {
    let d = i;
    for (let hops = 0; d !== root && d > 0 && hops < 10000; hops++) d = B.idom[d];
    if (d !== root) continue;
    const g = B.group(i);
    const x = inside.get(g) ?? { count: 0, size: 0 };
    x.count++;
    x.size += B.size(i);
    inside.set(g, x);
  }
  process.stdout.write(`\nretained by ${underId} ${B.group(root)} (${mb(B.retained[root])} MB), per constructor:\n`);
  for (const [g, x] of [...inside].sort((p, q) => q[1].size - p[1].size).slice(0, top)) process.stdout.write(`  ${g.padEnd(48)} ${String(x.count).padStart(9)}  ${mb(x.size).padStart(8)} MB\n`);
}
