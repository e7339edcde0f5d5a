'use strict';
// Drives the upload page in Debian's headless Chromium (/usr/bin/chromium,
// or $WSIO_CHROMIUM; playwright-core never downloads a browser): opens
// PAGE_URL, sets FILE on the file input, waits for the SHA-256 to appear,
// takes a screenshot to SCREENSHOT and prints one JSON line with what the
// page shows. playwright-core is found through NODE_PATH (the test points
// it at conformance/peers/chromium/node_modules).
// Usage: node drive.js PAGE_URL FILE SCREENSHOT
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [url, file, screenshot] = process.argv.slice(2);
const timeout = 60000;

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-upload-chromium-'));
  let context;
  try {
    // A persistent context is how playwright takes a fresh user-data-dir.
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.WSIO_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      timeout,
      viewport: { width: 900, height: 640 },
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    });
    const page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(timeout);
    const logs = [];
    page.on('console', (m) => logs.push(m.text()));
    page.on('pageerror', (e) => logs.push('pageerror: ' + e.message));
    await page.goto(url);
    await page.setInputFiles('#file', file);
    await page.waitForFunction(() => /^[0-9a-f]{64}$/.test(document.getElementById('sha256').textContent)
      || document.getElementById('status').className === 'error');
    const shown = await page.evaluate(() => ({
      sha256: document.getElementById('sha256').textContent,
      status: document.getElementById('status').textContent,
      sent: { value: document.getElementById('sent').value, max: document.getElementById('sent').max },
      stored: { value: document.getElementById('stored').value, max: document.getElementById('stored').max },
    }));
    await page.screenshot({ path: screenshot, fullPage: true });
    process.stdout.write(JSON.stringify({ ...shown, logs, browser: context.browser()?.version() ?? '' }) + '\n');
  } finally {
    if (context) await context.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

const timer = setTimeout(() => {
  process.stderr.write(`drive.js: timed out after ${timeout} ms\n`);
  process.exit(2);
}, timeout + 15000);
main().then(
  () => clearTimeout(timer),
  (e) => {
    process.stderr.write('drive.js: ' + String((e && e.stack) || e) + '\n');
    process.exit(1);
  },
);
