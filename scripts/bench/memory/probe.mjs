// A preload for `iron-cage serve` under `npm run bench -- memory` (`node --import=<this file>`):
// what the process's memory holds when its resident set is at its highest. Nothing in src/ knows
// of it. Every 5 ms (between the event loop's tasks) it reads the RSS; at each new high it notes
// V8's heap spaces, process.memoryUsage(), /proc/self/status (anonymous and file pages) and which
// lazily loaded tables are in memory; at a high 2 MB past the last one it also sums
// /proc/self/smaps by kind of mapping. better-sqlite3's Database is wrapped so its connections and
// the statements prepared on them (at start, and per call once the load runs) are counted. At exit
// it writes all of it as JSON to IRON_CAGE_MEM_PROBE.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import v8 from 'node:v8';

const out = process.env.IRON_CAGE_MEM_PROBE;
const MB = 1024 * 1024;
const t0 = performance.now();
// Resolved from the CLI being run, so a build elsewhere is probed with its own packages.
const req = createRequire(process.argv[1] ?? `${process.cwd()}/`);

const connections = new Set();
let prepared = 0;
let preparedAtMark = 0;
try {
  const Database = req('better-sqlite3');
  const prepare = Database.prototype.prepare;
  Database.prototype.prepare = function (...args) {
    connections.add(this);
    prepared++;
    return prepare.apply(this, args);
  };
} catch {
  // a build without better-sqlite3 where the CLI is: nothing to count
}

function status() {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(s)?.[1] ?? Number.NaN) / 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), anon: kb('RssAnon'), file: kb('RssFile'), shmem: kb('RssShmem'), threads: Number(/Threads:\s+(\d+)/.exec(s)?.[1]) };
}

/** Resident MB of /proc/self/smaps by kind: the brk heap (glibc's main arena), other anonymous mappings (V8's pages, other arenas, mmapped chunks), stacks, and file pages by file. */
function smaps() {
  const kinds = {};
  let kind = '';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[1] ?? '';
      kind = name === '' ? 'anonymous' : name === '[heap]' ? '[heap] (glibc main arena)' : name.startsWith('[') ? name : name.includes('/') ? `file ${name.split('/').pop()}` : name;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) kinds[kind] = (kinds[kind] ?? 0) + Number(rss[1]) / 1024;
  }
  return Object.fromEntries(
    Object.entries(kinds)
      .filter(([, mb]) => mb >= 0.5)
      .sort((a, b) => b[1] - a[1]),
  );
}

/** Tables loaded on first use, by the module that holds them. */
function loaded() {
  const keys = Object.keys(req.cache);
  const has = (part) => keys.some((k) => k.includes(part));
  return {
    o200k_base: has('gpt-tokenizer/cjs/bpeRanks/o200k_base') || has('bpe/o200k_base.json'),
    cl100k_base: has('gpt-tokenizer/cjs/bpeRanks/cl100k_base') || has('bpe/cl100k_base.json'),
    libphonenumber: has('libphonenumber-js'),
    genaiPrices: has('@pydantic/genai-prices'),
    ws: has('/node_modules/ws/'),
    undici: has('/node_modules/undici/'),
  };
}

function sqlite() {
  return [...connections]
    .filter((db) => db.open)
    .map((db) => {
      const one = (p) => {
        try {
          return db.pragma(p, { simple: true });
        } catch {
          return null;
        }
      };
      return { name: db.name, pageSize: one('page_size'), cacheSize: one('cache_size'), pages: one('page_count'), mmapSize: one('mmap_size') };
    });
}

const mb = (x) => Math.round((x / MB) * 10) / 10;
function sample() {
  const u = process.memoryUsage();
  const h = v8.getHeapStatistics();
  return {
    atMs: Math.round(performance.now() - t0),
    status: status(),
    memoryUsage: { rss: mb(u.rss), heapTotal: mb(u.heapTotal), heapUsed: mb(u.heapUsed), external: mb(u.external), arrayBuffers: mb(u.arrayBuffers) },
    heap: {
      totalPhysical: mb(h.total_physical_size),
      totalAvailable: mb(h.total_available_size),
      used: mb(h.used_heap_size),
      malloced: mb(h.malloced_memory),
      peakMalloced: mb(h.peak_malloced_memory),
      external: mb(h.external_memory),
    },
    spaces: Object.fromEntries(
      v8
        .getHeapSpaceStatistics()
        .filter((s) => s.space_size > 0)
        .map((s) => [s.space_name, { size: mb(s.space_size), used: mb(s.space_used_size), physical: mb(s.physical_space_size) }]),
    ),
    loaded: loaded(),
    statementsPrepared: prepared,
  };
}

let peak = null;
let peakSmaps = null;
let smapsAt = 0;
let highestSampled = 0;
const samples = [];
const tick = () => {
  const rss = process.memoryUsage.rss();
  if (rss <= highestSampled) return;
  highestSampled = rss;
  peak = sample();
  if (rss > smapsAt + 2 * MB) {
    smapsAt = rss;
    peakSmaps = { atMs: peak.atMs, rss: mb(rss), kinds: smaps() };
  }
};
setInterval(tick, 5).unref();
// A coarser trace of the whole run: where the RSS went, every 250 ms.
setInterval(() => {
  const h = v8.getHeapStatistics();
  samples.push({
    atMs: Math.round(performance.now() - t0),
    rss: mb(process.memoryUsage.rss()),
    heap: mb(h.total_physical_size),
    used: mb(h.used_heap_size),
    zones: mb(h.malloced_memory),
    peakZones: mb(h.peak_malloced_memory),
  });
}, 250).unref();

// The bench sends SIGUSR2 when the server is idle and ready and again when the load is over: the
// statements prepared in between are per call.
const marks = [];
let live = null;
process.on('SIGUSR2', () => {
  // With --expose-gc (BENCH_NODE_ARGS): what is live at this mark, each space after a full GC.
  if (marks.length > 0 && typeof globalThis.gc === 'function') {
    globalThis.gc();
    live = Object.fromEntries(
      v8
        .getHeapSpaceStatistics()
        .filter((s) => s.space_used_size > 0)
        .map((s) => [s.space_name, mb(s.space_used_size)]),
    );
  }
  marks.push({ atMs: Math.round(performance.now() - t0), heap: sample().heap, prepared, preparedSinceMark: prepared - preparedAtMark, status: status(), sqlite: sqlite(), loaded: loaded() });
  preparedAtMark = prepared;
});

process.on('exit', () => {
  if (!out) return;
  const end = sample();
  writeFileSync(out, JSON.stringify({ peak, peakSmaps, live, end, endSmaps: smaps(), marks, samples, sqlite: sqlite() }, null, 1));
});
