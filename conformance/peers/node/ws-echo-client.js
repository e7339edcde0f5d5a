'use strict';
// Autobahn-style echo client used to validate the wsio conformance suite in
// its fuzzing server role. Usage:
//   node ws-echo-client.js BASE_URL AGENT [--deflate | --no-deflate]
// It asks the fuzzing server for the case count, runs every case (echoing
// text as text and binary as binary), then asks it to write the reports.
// permessage-deflate: --deflate (or WS_PERMESSAGE_DEFLATE=on) offers it,
// --no-deflate (or WS_PERMESSAGE_DEFLATE=off) does not; without either, ws's
// client default applies (it offers "permessage-deflate; client_max_window_bits").
const WebSocket = require('ws');

const args = process.argv.slice(2);
const positional = args.filter((a) => !a.startsWith('--'));
const base = positional[0] || 'ws://127.0.0.1:9001';
const agent = positional[1] || 'ws';
let perMessageDeflate; // undefined: ws's default
if (args.includes('--deflate') || process.env.WS_PERMESSAGE_DEFLATE === 'on') {
  perMessageDeflate = true;
} else if (args.includes('--no-deflate') || process.env.WS_PERMESSAGE_DEFLATE === 'off') {
  perMessageDeflate = false;
}

function open(path, onMessage) {
  return new Promise((resolve) => {
    const opts = { maxPayload: 64 << 20 };
    if (perMessageDeflate !== undefined) opts.perMessageDeflate = perMessageDeflate;
    const ws = new WebSocket(base + path, opts);
    ws.on('message', (data, isBinary) => onMessage(ws, data, isBinary));
    ws.on('error', () => {});
    ws.on('close', () => resolve());
  });
}

async function main() {
  let count = 0;
  await open('/getCaseCount', (ws, data) => { count = Number(data.toString()); });
  for (let i = 1; i <= count; i++) {
    await open(`/runCase?case=${i}&agent=${encodeURIComponent(agent)}`, (ws, data, isBinary) => {
      ws.send(data, { binary: isBinary });
    });
  }
  await open(`/updateReports?agent=${encodeURIComponent(agent)}`, () => {});
  process.stdout.write(`done ${count}\n`);
}

main().catch((err) => {
  process.stderr.write(String(err && err.stack || err) + '\n');
  process.exit(1);
});
