// SPDX-License-Identifier: MIT
// Runs in headless Chromium, on a page served from another origin than the endpoint's: the official web
// client, @clickhouse/client-web (bundled by esbuild), making an application's calls. A custom header makes
// every request a CORS request with a preflight, as HyperDX's do. Results go to window.results.
import { createClient } from '@clickhouse/client-web'

const results = []
async function check(name, fn) {
  try {
    await fn()
    results.push({ name, ok: true })
  } catch (e) {
    results.push({ name, ok: false, error: String(e && e.stack ? e.stack : e) })
  }
}
function expect(cond, what) {
  if (!cond) throw new Error(what)
}

async function main() {
  const params = new URLSearchParams(location.search)
  const client = createClient({
    url: params.get('endpoint'),
    username: 'default',
    password: params.get('password'),
    compression: { response: true },
    clickhouse_settings: { add_http_cors_header: 1, send_progress_in_http_headers: 1 },
    http_headers: { 'x-hyperdx-connection-id': 'browser-test' },
  })
  await check('ping', async () => {
    const r = await client.ping()
    expect(r.success, JSON.stringify(r))
  })
  for (const n of [5, 6000]) {
    await check(`query with a ${n}-character bound parameter`, async () => {
      const value = 'é'.repeat(n)
      const rs = await client.query({
        query: 'SELECT lengthUTF8({p:String}) AS l, {p:String} = {q:String} AS same',
        query_params: { p: value, q: value },
        format: 'JSONEachRow',
      })
      const rows = await rs.json()
      expect(Number(rows[0].l) === n && rows[0].same === 1, JSON.stringify(rows))
    })
  }
  await check('JSON result, query id header readable', async () => {
    const rs = await client.query({ query: 'SELECT number FROM numbers(3)', format: 'JSON', query_id: 'web-q-1' })
    const j = await rs.json()
    expect(j.rows === 3 && rs.query_id === 'web-q-1', JSON.stringify(j) + ' ' + rs.query_id)
  })
  await check('insert rows', async () => {
    await client.command({ query: 'DROP TABLE IF EXISTS web_rows' })
    await client.command({ query: 'CREATE TABLE web_rows (id UInt32, name String) ENGINE = MergeTree ORDER BY id' })
    const values = []
    // 2000 rows (~50 KB): the client sends with fetch's keepalive, which browsers cap at 64 KiB per body.
    for (let i = 0; i < 2000; i++) values.push({ id: i, name: `row ${i}` })
    const r = await client.insert({ table: 'web_rows', values, format: 'JSONEachRow' })
    expect(r.executed, JSON.stringify(r))
  })
  await check('streaming result (JSONEachRow)', async () => {
    const rs = await client.query({ query: 'SELECT id, name FROM web_rows ORDER BY id', format: 'JSONEachRow' })
    const reader = rs.stream().getReader()
    let n = 0
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      for (const row of value) {
        const o = row.json()
        if (o.id !== n || o.name !== `row ${n}`) throw new Error(`row ${n}: ${JSON.stringify(o)}`)
        n++
      }
    }
    expect(n === 2000, `streamed ${n} rows`)
  })
  await check('server error surfaces with its code', async () => {
    try {
      await client.query({ query: 'SELECT * FROM no_such_table_here', format: 'JSONEachRow' })
    } catch (e) {
      expect(e.code === '60', `code ${e.code}: ${e.message}`)
      return
    }
    throw new Error('no error')
  })
  await client.close()
}

main().then(
  () => (window.results = results),
  (e) => (window.results = results.concat([{ name: 'page', ok: false, error: String(e) }])),
)
