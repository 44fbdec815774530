// SPDX-License-Identifier: MIT
// The official Node.js client, @clickhouse/client, against the embedded endpoint: the calls an application
// makes, with compression on both ways. Usage: node test-node.mjs URL (password in CLICKHOUSE_PASSWORD,
// node_modules found through NODE_PATH). Prints one line per check and "N passed, N failed".
import { createRequire } from 'node:module'
import path from 'node:path'

const require = createRequire(path.join(process.env.NODE_PATH, 'x.js'))
const { createClient } = require('@clickhouse/client')

let passed = 0
let failed = 0
async function check(name, fn) {
  try {
    await fn()
    passed++
    console.log(`ok   ${name}`)
  } catch (e) {
    failed++
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`)
  }
}
function expect(cond, what) {
  if (!cond) throw new Error(what)
}

const url = process.argv[2]
const password = process.env.CLICKHOUSE_PASSWORD
const warnings = []
const client = createClient({
  url,
  username: 'default',
  password,
  compression: { request: true, response: true },
  clickhouse_settings: { send_progress_in_http_headers: 1 },
  log: {
    LoggerClass: class {
      trace() {}
      debug() {}
      info() {}
      warn(e) {
        warnings.push(e.message)
      }
      error() {} // the failing query of the error check logs one
    },
  },
})

await check('ping', async () => {
  const r = await client.ping()
  expect(r.success, JSON.stringify(r))
})

for (const n of [5, 6000]) {
  await check(`query with a ${n}-character bound parameter (JSONEachRow)`, async () => {
    const value = 'é'.repeat(n) + "'\\"
    const rs = await client.query({
      query: 'SELECT lengthUTF8({p:String}) AS l, {p:String} = {q:String} AS same',
      query_params: { p: value, q: value },
      format: 'JSONEachRow',
    })
    const rows = await rs.json()
    expect(rows.length === 1 && Number(rows[0].l) === n + 2 && rows[0].same === 1, JSON.stringify(rows))
  })
}

await check('query with a long bound parameter sent as multipart/form-data', async () => {
  const value = 'x'.repeat(20000)
  const rs = await client.query({
    query: 'SELECT length({p:String}) AS l',
    query_params: { p: value },
    format: 'JSONEachRow',
    use_multipart_params: true,
  })
  const rows = await rs.json()
  expect(Number(rows[0].l) === 20000, JSON.stringify(rows))
})

await check('JSON result with meta and statistics', async () => {
  const rs = await client.query({ query: 'SELECT number, toString(number) AS s FROM numbers(10)', format: 'JSON' })
  const j = await rs.json()
  expect(j.rows === 10 && j.data[9].s === '9' && j.meta.length === 2, JSON.stringify(j).slice(0, 300))
})

await check('create table and insert rows (JSONEachRow, compressed)', async () => {
  await client.command({ query: 'DROP TABLE IF EXISTS node_rows' })
  await client.command({
    query: 'CREATE TABLE node_rows (id UInt32, name String, tags Array(String), attrs Map(String, String)) ENGINE = MergeTree ORDER BY id',
  })
  const values = []
  for (let i = 0; i < 5000; i++) values.push({ id: i, name: `row ${i}`, tags: ['a', `${i}`], attrs: { k: `${i}` } })
  const r = await client.insert({ table: 'node_rows', values, format: 'JSONEachRow' })
  expect(r.executed, JSON.stringify(r))
  expect(r.summary && r.summary.written_rows === '5000', JSON.stringify(r.summary))
})

await check('streaming result (JSONEachRow)', async () => {
  const rs = await client.query({ query: 'SELECT id, name, attrs FROM node_rows ORDER BY id', format: 'JSONEachRow' })
  let n = 0
  for await (const rows of rs.stream()) {
    for (const row of rows) {
      const o = row.json()
      if (o.id !== n || o.name !== `row ${n}` || o.attrs.k !== `${n}`) throw new Error(`row ${n}: ${JSON.stringify(o)}`)
      n++
    }
  }
  expect(n === 5000, `streamed ${n} rows`)
})

await check('server error surfaces with its code', async () => {
  try {
    await client.query({ query: 'SELECT * FROM no_such_table_here', format: 'JSONEachRow' })
  } catch (e) {
    expect(e.code === '60' && e.type === 'UNKNOWN_TABLE', `code ${e.code} type ${e.type}: ${e.message}`)
    return
  }
  throw new Error('no error')
})

await check('the client warned about nothing (progress headers, compression)', async () => {
  expect(warnings.length === 0, warnings.join('; '))
})

await client.close()
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed > 0 ? 1 : 0)
