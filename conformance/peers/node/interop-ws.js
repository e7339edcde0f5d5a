'use strict';
// Node ws as an interop peer of wsio (conformance/interop); the command
// protocol is described in interop-agent.js.
// Usage: node interop-ws.js server PORT|client URL [--protocols a,b] [--max BYTES] [--deflate]
// permessage-deflate is on only with --deflate (ws's client would offer it
// by default).
const { WebSocket, WebSocketServer } = require('ws');
const { Agent, emit, parseArgs } = require('./interop-agent');

const args = parseArgs(process.argv.slice(2));
const maxPayload = args.max || 128 << 20;

function serve(ws) {
  const agent = new Agent('ws ' + require('ws/package.json').version, {
    sendText: (s) => ws.send(s),
    sendTextParts: (parts) => {
      parts.forEach((p, i) => ws.send(p, { binary: false, fin: i === parts.length - 1 }));
    },
    sendBinary: (buf) => ws.send(buf, { binary: true }),
    sendFragment: (buf, first, last, cb) => ws.send(buf, { binary: true, fin: last }, cb),
    ping: (data, onPong) => {
      ws.once('pong', (d) => onPong(d.toString()));
      ws.ping(Buffer.from(data));
    },
    close: (code, reason) => ws.close(code, reason),
    protocol: () => ws.protocol,
  });
  ws.on('message', (data, isBinary) => {
    if (isBinary) {
      agent.beginBinary();
      agent.binaryChunk(data);
      agent.endBinary();
    } else {
      agent.onText(data.toString());
    }
  });
  // When ws fails the connection itself (a message over maxPayload), it
  // stops reading, so its 'close' event has 1006 rather than the peer's
  // answer; "sent" reports the code it closed with, from the error.
  let sent = null;
  ws.on('close', (code, reason) => {
    emit({ event: 'close', code, reason: reason.toString(), sent });
    if (args.mode === 'client') setImmediate(() => process.exit(0));
  });
  ws.on('error', (err) => {
    const sym = Object.getOwnPropertySymbols(err).find((s) => s.description === 'status-code');
    if (sym) sent = err[sym];
    emit({ event: 'error', message: err.message, code: sent });
  });
}

if (args.mode === 'server') {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: Number(args.target),
    maxPayload,
    perMessageDeflate: args.deflate,
    // Server preference: the first of ours that the client offered.
    handleProtocols: (offered) => args.protocols.find((p) => offered.has(p)) || false,
  });
  wss.on('listening', () => emit({ event: 'listening', port: wss.address().port }));
  wss.on('connection', (ws) => {
    emit({ event: 'open', protocol: ws.protocol, extensions: ws.extensions });
    serve(ws);
  });
} else {
  const ws = new WebSocket(args.target, args.protocols, { maxPayload, perMessageDeflate: args.deflate });
  ws.on('open', () => {
    emit({ event: 'open', protocol: ws.protocol, extensions: ws.extensions });
  });
  ws.on('unexpected-response', (req, res) => {
    emit({ event: 'error', message: 'unexpected response ' + res.statusCode });
    process.exit(1);
  });
  serve(ws);
}
process.on('SIGTERM', () => process.exit(0));
