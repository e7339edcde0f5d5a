'use strict';
// Echo server used to validate the wsio conformance suite in its fuzzing
// client role. Usage: node ws-echo-server.js PORT [--deflate]
// Prints "listening PORT" once ready. Text is echoed as text, binary as binary.
// permessage-deflate is off unless --deflate is given or WS_PERMESSAGE_DEFLATE
// is "on" (ws's server defaults: context takeover both ways, 15-bit windows,
// messages under 1024 bytes sent uncompressed).
const { WebSocketServer } = require('ws');

const args = process.argv.slice(2);
const port = Number(args.find((a) => !a.startsWith('--')) || 9001);
const deflate = args.includes('--deflate') || process.env.WS_PERMESSAGE_DEFLATE === 'on';
const wss = new WebSocketServer({
  host: '127.0.0.1',
  port,
  maxPayload: 64 << 20,
  perMessageDeflate: deflate,
});

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
