'use strict';
// Drives Debian's headless Chromium (/usr/bin/chromium; playwright-core never
// downloads a browser) for the wsio interop test: opens PAGE_URL, calls the
// page's runInterop(BLOB_SIZE, PROTOCOLS) and prints its result as one JSON
// line: {"event":"result","result":{...}} or {"event":"error","message":...}.
// Usage: node run.js PAGE_URL BLOB_SIZE PROTOCOLS [TIMEOUT_MS]
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [url, blobSize, protocols, timeoutMs] = process.argv.slice(2);
const timeout = Number(timeoutMs || 45000);
const executablePath = process.env.WSIO_CHROMIUM || '/usr/bin/chromium';

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-chromium-'));
  let context;
  try {
    // A persistent context is how playwright takes a user-data-dir of our
    // own: a fresh, empty one for every run.
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      timeout,
      // The HTTPS tests serve a self-signed certificate made at start-up.
      ignoreHTTPSErrors: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
        '--ignore-certificate-errors',
      ],
    });
    emit({ event: 'browser', version: context.browser() ? context.browser().version() : '' });
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(timeout);
    page.on('console', (m) => emit({ event: 'console', text: m.text() }));
    page.on('pageerror', (e) => emit({ event: 'error', message: 'page: ' + e.message }));
    await page.goto(url);
    const result = await page.evaluate(
      ([size, protos]) => runInterop(size, protos),
      [Number(blobSize), protocols ? protocols.split(',') : []],
    );
    result.userAgent = await page.evaluate(() => navigator.userAgent);
    emit({ event: 'result', result });
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

const timer = setTimeout(() => {
  emit({ event: 'error', message: `timed out after ${timeout} ms` });
  process.exit(2);
}, timeout + 10000);
main().then(
  () => { clearTimeout(timer); },
  (e) => {
    emit({ event: 'error', message: String(e && e.stack || e) });
    process.exit(1);
  },
);
