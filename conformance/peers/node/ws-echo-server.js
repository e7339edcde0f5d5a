'use strict';
// Echo server used to validate the wsio conformance suite in its fuzzing
// client role. Usage: node ws-echo-server.js PORT
// Prints "listening PORT" once ready. Text is echoed as text, binary as binary.
const { WebSocketServer } = require('ws');

const port = Number(process.argv[2] || 9001);
const wss = new WebSocketServer({ host: '127.0.0.1', port, maxPayload: 64 << 20 });

wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary });
  });
  ws.on('error', () => {});
});
wss.on('listening', () => {
  process.stdout.write(`listening ${wss.address().port}\n`);
});
process.on('SIGTERM', () => process.exit(0));
