'use strict';
// Autobahn-style echo client used to validate the wsio conformance suite in
// its fuzzing server role. Usage: node ws-echo-client.js BASE_URL AGENT
// It asks the fuzzing server for the case count, runs every case (echoing
// text as text and binary as binary), then asks it to write the reports.
const WebSocket = require('ws');

const base = process.argv[2] || 'ws://127.0.0.1:9001';
const agent = process.argv[3] || 'ws';

function open(path, onMessage) {
  return new Promise((resolve) => {
    const ws = new WebSocket(base + path, { maxPayload: 64 << 20 });
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
