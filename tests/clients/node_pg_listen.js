// LISTEN stemedb_changes from node-postgres: the 'notification' event
// fires within a second of a write, with the write's change_id.
// Usage: node node_pg_listen.js PORT
const { Client } = require('pg');
const assert = require('assert');

async function main(port) {
  const options = { host: '127.0.0.1', port, user: 'stemedb', database: 'stemedb' };
  const listener = new Client(options);
  const writer = new Client(options);
  await listener.connect();
  await writer.connect();
  const woken = new Promise((resolve, reject) => {
    listener.on('notification', (msg) => resolve([msg, Date.now()]));
    setTimeout(() => reject(new Error('no notification in 10 s')), 10000);
  });
  await listener.query('LISTEN stemedb_changes');
  await new Promise((r) => setTimeout(r, 200));
  await writer.query("INSERT INTO assertions (subject, predicate, object, source) VALUES ('node-1', 'listened', 'v', 'test')");
  const acked = Date.now();
  const [msg, at] = await woken;
  assert.strictEqual(msg.channel, 'stemedb_changes');
  assert.ok(at - acked < 1000, `woken ${at - acked} ms after the write`);
  const r = await writer.query("SELECT change_id FROM stemedb.changes WHERE subject = 'node-1'");
  assert.strictEqual(msg.payload, r.rows[0].change_id);
  await listener.query('UNLISTEN *');
  await listener.end();
  await writer.end();
  console.log('node-postgres listener: ok');
}

main(Number(process.argv[2])).catch((e) => {
  console.error(e);
  process.exit(1);
});
