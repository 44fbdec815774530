// SPDX-License-Identifier: MIT
// Drives tests/clients/web/page.js in Debian's Chromium (playwright-core, system browser): bundles the web
// client with esbuild, serves the page from http://localhost:<port> (another origin than the endpoint's
// 127.0.0.1:<port>), and reports the page's checks. Usage: node test-web.mjs ENDPOINT_URL (password in
// CLICKHOUSE_PASSWORD, packages through NODE_PATH). Prints one line per check and "N passed, N failed".
import { createRequire } from 'node:module'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(path.join(process.env.NODE_PATH, 'x.js'))
const esbuild = require('esbuild')
const { chromium } = require('playwright-core')
const here = path.dirname(fileURLToPath(import.meta.url))

const endpoint = process.argv[2]
const bundle = await esbuild.build({
  entryPoints: [path.join(here, 'page.js')],
  bundle: true,
  write: false,
  format: 'iife',
  platform: 'browser',
  nodePaths: [process.env.NODE_PATH],
  logLevel: 'error',
})
const js = bundle.outputFiles[0].text
const html = '<!doctype html><html><head><meta charset="utf-8"><title>client-web</title></head>' +
  '<body><script src="/page.js"></script></body></html>'

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/page.js')) {
    res.writeHead(200, { 'Content-Type': 'text/javascript' })
    res.end(js)
  } else {
    res.writeHead(200, { 'Content-Type': 'text/html' })
    res.end(html)
  }
})
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
const pageUrl = `http://localhost:${server.address().port}/?endpoint=${encodeURIComponent(endpoint)}` +
  `&password=${encodeURIComponent(process.env.CLICKHOUSE_PASSWORD)}`

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'], // playwright gives it a new empty profile
})
let failed = 0
let passed = 0
try {
  const page = await browser.newPage()
  page.on('console', (m) => console.log(`page: ${m.text()}`))
  page.on('requestfailed', (r) => console.log(`request failed: ${r.method()} ${r.url().slice(0, 200)}: ${r.failure().errorText}`))
  await page.goto(pageUrl)
  await page.waitForFunction(() => window.results !== undefined, null, { timeout: 120000 })
  const results = await page.evaluate(() => window.results)
  for (const r of results) {
    if (r.ok) passed++
    else failed++
    console.log(r.ok ? `ok   ${r.name}` : `FAIL ${r.name}: ${r.error}`)
  }
  if (results.length === 0) failed++
  console.log(`(the page's origin: ${new URL(pageUrl).origin}; the endpoint's: ${new URL(endpoint).origin})`)
} finally {
  await browser.close()
  server.close()
}
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed > 0 ? 1 : 0)
