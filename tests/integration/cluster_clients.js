// tests/integration/cluster_clients.js: ioredis's Cluster and node-redis's createCluster
// against a dynakv cluster with cluster.redis_cluster_api on (run by cluster_api_test.cc;
// the packages are npm-installed into the build dir by npm_install.sh).
// Usage: NODE_PATH=<cache>/node_modules node cluster_clients.js <redis port> ...
const Redis = require('ioredis');
const { createCluster } = require('redis');

const ports = process.argv.slice(2).map(Number);
function assert(cond, msg) { if (!cond) throw new Error('assertion failed: ' + msg); }

async function ioredisCluster() {
  const c = new Redis.Cluster([{ host: '127.0.0.1', port: ports[0] }], {
    redisOptions: { connectTimeout: 5000 },
    slotsRefreshTimeout: 5000,
  });
  await new Promise((resolve, reject) => {
    c.once('ready', resolve);
    c.once('error', reject);
  });
  const nodes = c.nodes('master').map((n) => n.options.port);
  for (const p of ports) assert(nodes.includes(p), 'ioredis masters ' + nodes + ' lack ' + p);
  for (let i = 0; i < 300; i++) assert((await c.set(`ioc:${i}`, `v${i}`)) === 'OK', 'set ' + i);
  for (let i = 0; i < 300; i++) assert((await c.get(`ioc:${i}`)) === `v${i}`, 'get ' + i);
  await c.mset('{iot}a', '1', '{iot}b', '2');
  const mg = await c.mget('{iot}a', '{iot}b', '{iot}c');
  assert(JSON.stringify(mg) === '["1","2",null]', 'mget ' + JSON.stringify(mg));
  const pipe = c.pipeline();
  for (let i = 0; i < 50; i++) pipe.incr('{ioctr}n');
  const res = await pipe.exec();
  assert(res.length === 50 && res[49][1] === 50, 'pipeline ' + JSON.stringify(res.slice(-1)));
  assert((await c.del('ioc:0')) === 1, 'del');
  assert((await c.get('ioc:0')) === null, 'deleted');
  c.disconnect();
  console.log('ioredis Cluster ok: masters ' + nodes.length);
}

async function nodeRedisCluster() {
  const c = createCluster({
    rootNodes: [{ url: `redis://127.0.0.1:${ports[0]}` }],
    defaults: { socket: { connectTimeout: 5000 } },
  });
  c.on('error', (e) => console.error('node-redis cluster error', e));
  await c.connect();
  for (let i = 0; i < 200; i++) assert((await c.set(`nrc:${i}`, `v${i}`)) === 'OK', 'set ' + i);
  for (let i = 0; i < 200; i++) assert((await c.get(`nrc:${i}`)) === `v${i}`, 'get ' + i);
  const masters = [...new Set(c.masters.map((m) => m.port))];
  for (const p of ports) assert(masters.includes(p), 'node-redis masters ' + masters + ' lack ' + p);
  await c.quit();
  console.log('node-redis createCluster ok: masters ' + masters.length);
}

(async () => {
  await ioredisCluster();
  await nodeRedisCluster();
})().catch((e) => { console.error(e); process.exit(1); });
