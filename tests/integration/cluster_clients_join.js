// tests/integration/cluster_clients_join.js: ioredis's Cluster across a join (run by
// cluster_api_test.cc). It builds its slot map, writes keys, prints READY and waits for a
// line on stdin (the test starts a fourth node meanwhile), then rewrites and reads every key.
// ioredis fetches CLUSTER SLOTS on the connections it sends commands on, so the first key of
// a slot that moved to the new node gets MOVED; ioredis follows it and refreshes its map.
// Prints how many keys it then routes to the new node.
// Usage: NODE_PATH=<cache>/node_modules node cluster_clients_join.js <new port> <port> ...
const Redis = require('ioredis');
const readline = require('readline');
const keySlot = require('cluster-key-slot');

const newPort = Number(process.argv[2]);
const ports = process.argv.slice(3).map(Number);
function assert(cond, msg) { if (!cond) throw new Error('assertion failed: ' + msg); }

(async () => {
  const c = new Redis.Cluster([{ host: '127.0.0.1', port: ports[0] }], {
    redisOptions: { connectTimeout: 5000 },
    slotsRefreshTimeout: 5000,
  });
  await new Promise((resolve, reject) => { c.once('ready', resolve); c.once('error', reject); });
  const keys = Array.from({ length: 600 }, (_, i) => `ioj:${i}`);
  for (const k of keys) assert((await c.set(k, 'before')) === 'OK', 'set ' + k);
  console.log('READY');
  await new Promise((resolve) => readline.createInterface({ input: process.stdin }).once('line', resolve));
  for (const k of keys) assert((await c.set(k, 'after')) === 'OK', 'set after ' + k);
  for (const k of keys) assert((await c.get(k)) === 'after', 'get ' + k);
  // The map after the MOVED (ioredis refreshes it in the background; wait for it, bounded).
  let routed = 0;
  for (let i = 0; i < 50 && routed === 0; i++) {
    routed = keys.filter((k) => {
      const owners = c.slots[keySlot(k)];
      return owners && owners[0] === `127.0.0.1:${newPort}`;
    }).length;
    if (routed === 0) await new Promise((r) => setTimeout(r, 100));
  }
  console.log('ROUTED ' + routed);
  c.disconnect();
})().catch((e) => { console.error(e); process.exit(1); });
