// node-postgres against StemeDB: untyped parameters, prepared (named)
// statements, types, transactions, SQLSTATEs. Usage: node node_pg_client.js PORT
const { Client } = require('pg');
const assert = require('assert');

async function main(port) {
  const client = new Client({ host: '127.0.0.1', port, user: 'stemedb', database: 'stemedb' });
  await client.connect();
  // Untyped parameters: node-postgres sends every parameter as text with
  // type 0; the server infers the types from the columns.
  await client.query(
    'INSERT INTO assertions (subject, predicate, object, source, tier, confidence, observed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    ['ship:1', 'port', 'Rotterdam', 'ais', 2, 0.8, '2024-01-01T00:00:00Z'],
  );
  await client.query(
    'INSERT INTO assertions (subject, predicate, object, source, tier, confidence, observed_at) VALUES ($1, $2, $3, $4, $5, $6, $7)',
    ['ship:1', 'port', 'Hamburg', 'crew', 4, 0.5, new Date('2024-02-01T00:00:00Z')],
  );
  for (let i = 0; i < 3; i++) {
    const r = await client.query({ name: 'latest', text: 'SELECT object, tier, confidence, claims, contested, observed_at FROM recency WHERE subject = $1', values: ['ship:1'] });
    assert.strictEqual(r.rows.length, 1);
    const row = r.rows[0];
    assert.strictEqual(row.object, 'Hamburg');
    assert.strictEqual(row.tier, 4);
    assert.strictEqual(row.confidence, 0.5);
    assert.strictEqual(row.claims, '2'); // bigint arrives as a string in node-postgres
    assert.strictEqual(row.contested, true);
    assert.strictEqual(row.observed_at.toISOString(), '2024-02-01T00:00:00.000Z');
  }
  const auth = await client.query('SELECT object FROM authority WHERE subject = $1', ['ship:1']);
  assert.strictEqual(auth.rows[0].object, 'Rotterdam');

  await client.query('BEGIN');
  await client.query("INSERT INTO assertions (subject, predicate, object, source) VALUES ('t', 'p', 'o', 's')");
  await client.query('ROLLBACK');
  const n = await client.query("SELECT count(*)::int AS n FROM assertions WHERE subject = 't'");
  assert.strictEqual(n.rows[0].n, 0);

  await assert.rejects(client.query("INSERT INTO assertions (subject, predicate, object, source, confidence) VALUES ('a', 'b', 'c', 'd', 2)"), (e) => e.code === '23514');
  await assert.rejects(client.query('SELECT * FROM nowhere'), (e) => e.code === '42P01');
  // Integer literals are int4, as in PostgreSQL, so they arrive as numbers;
  // unnamed columns are named as PostgreSQL names them.
  const one = await client.query('SELECT 1 AS one, 2, count(*) FROM assertions');
  assert.strictEqual(one.rows[0].one, 1);
  assert.deepStrictEqual(one.fields.map((f) => f.name), ['one', '?column?', 'count']);
  assert.strictEqual(one.rows[0]['?column?'], 2);
  const arr = await client.query('SELECT make_array(1, 2) AS a');
  assert.deepStrictEqual(arr.rows[0].a, ['1', '2']); // int8[] elements, strings as for bigint
  // Array parameters (node-postgres sends them as array literals in text):
  // `= ANY($1)` over 1 000 subjects returns exactly the rows of the IN list.
  await client.query("INSERT INTO assertions (subject, predicate, object, source) SELECT 'arr' || x, 'p', 'o' || x, 's' FROM generate_series(1, 1200) AS t(x)");
  const subjects = Array.from({ length: 1000 }, (_, i) => `arr${i + 1}`).concat(['arr-missing']);
  const byAny = await client.query('SELECT subject, object FROM recency WHERE subject = ANY($1) ORDER BY subject', [subjects]);
  const inList = subjects.map((s) => `'${s}'`).join(', ');
  const byIn = await client.query(`SELECT subject, object FROM recency WHERE subject IN (${inList}) ORDER BY subject`);
  assert.strictEqual(byAny.rows.length, 1000);
  assert.deepStrictEqual(byAny.rows, byIn.rows);
  const values = ['a', 'b c', null, '', 'NULL', 'q"uote'];
  const round = await client.query('SELECT $1::text[] AS v', [values]);
  assert.deepStrictEqual(round.rows[0].v, values);
  await assert.rejects(client.query('SELECT $1::text[]', ['{a,b']), (e) => e.code === '22P02');
  await client.end();
  console.log('node-postgres: ok');
}

main(Number(process.argv[2])).catch((e) => { console.error(e); process.exit(1); });
