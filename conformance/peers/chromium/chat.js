'use strict';
// Drives Debian's headless Chromium (as run.js does) through the chat page
// of examples/chat (cluster/examples/chat serves the same page): opens one
// page per URL, each in its own browser context, joins each as the
// matching nickname, then has each page in turn type a line and waits for
// that line to show on every page. Prints JSON lines: {"event":"joined",
// "name":...,"users":...} per page, {"event":"seen","from":...,"on":...} per
// line and page, then {"event":"result","result":{"users":{...}}} with
// each page's "Here:" line at the end, or {"event":"error","message":...}.
// Usage: node chat.js URL1,URL2,... NAME1,NAME2,... [TIMEOUT_MS]
const fs = require('fs');
const os = require('os');
const path = require('path');
const { chromium } = require('playwright-core');

const [urlList, nameList, timeoutMs] = process.argv.slice(2);
const urls = (urlList || '').split(',').filter(Boolean);
const names = (nameList || '').split(',').filter(Boolean);
const timeout = Number(timeoutMs || 45000);
const executablePath = process.env.WSIO_CHROMIUM || '/usr/bin/chromium';

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

async function main() {
  if (urls.length === 0 || urls.length !== names.length) {
    throw new Error('usage: node chat.js URL1,URL2,... NAME1,NAME2,... [TIMEOUT_MS]');
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'wsio-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      timeout,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    });
    emit({ event: 'browser', version: context.browser() ? context.browser().version() : '' });
    const pages = [];
    for (let i = 0; i < urls.length; i++) {
      const page = i === 0 && context.pages()[0] ? context.pages()[0] : await context.newPage();
      page.setDefaultTimeout(timeout);
      page.on('console', (m) => emit({ event: 'console', page: names[i], text: m.text() }));
      page.on('pageerror', (e) => emit({ event: 'error', message: `page ${names[i]}: ${e.message}` }));
      await page.goto(urls[i]);
      // Join as the user would: type the nickname, press Join, wait for
      // the room (shown when the WebSocket is open) and our own join.
      await page.fill('#nick', names[i]);
      await page.click('#join button');
      await page.waitForSelector('#room:not([hidden])');
      await page.locator('#log p.notice', { hasText: `${names[i]} joined` }).waitFor();
      emit({ event: 'joined', name: names[i], url: urls[i], users: await page.textContent('#users') });
      pages.push(page);
    }
    // Each page in turn types a line; every page must show it.
    for (let i = 0; i < pages.length; i++) {
      const text = `hello from ${names[i]} on ${new URL(urls[i]).host}`;
      await pages[i].fill('#text', text);
      await pages[i].press('#text', 'Enter');
      for (let j = 0; j < pages.length; j++) {
        await pages[j].locator('#log p', { hasText: `${names[i]}:${text}` }).waitFor();
        emit({ event: 'seen', from: names[i], on: names[j], text });
      }
    }
    const users = {};
    for (let i = 0; i < pages.length; i++) users[names[i]] = await pages[i].textContent('#users');
    emit({ event: 'result', result: { users } });
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
