'use strict';
// nodejs-websocket (the library whose API wsio follows) as an interop peer of
// wsio (conformance/interop); the command protocol is described in
// ../node/interop-agent.js.
// Usage: node interop-nodejs-websocket.js server PORT|client URL [--protocols a,b] [--max BYTES]
//
// What the library can do decides what the peer does: text is always sent in
// one frame (sendtext parts are joined), binary fragments come from its
// beginBinary stream (one frame per Connection.binaryFragmentation bytes,
// then a final frame holding the rest, possibly empty), --max sets its
// global maxBufferLength (the largest unparsed frame it holds: more closes
// with 1009).
const path = require('path');
const nws = require('nodejs-websocket');
const { Agent, emit, parseArgs } = require(path.join(__dirname, '..', 'node', 'interop-agent'));

const args = parseArgs(process.argv.slice(2));
nws.setMaxBufferLength(args.max || 128 << 20);
const version = require('nodejs-websocket/package.json').version;

function serve(conn) {
  let out = null;
  const agent = new Agent('nodejs-websocket ' + version, {
    sendText: (s) => conn.sendText(s),
    sendTextParts: null,
    sendBinary: (buf) => conn.sendBinary(buf),
    sendFragment: (buf, first, last, cb) => {
      if (first) {
        nws.setBinaryFragmentation(buf.length);
        out = conn.beginBinary();
      }
      if (last) {
        // end()'s own callback runs before the stream's 'finish' handler
        // that sends the final frame and frees the connection for other
        // messages; a 'finish' listener added now runs after it.
        out.once('finish', () => cb());
        out.end(buf);
        out = null;
      } else {
        out.write(buf, cb);
      }
    },
    ping: (data, onPong) => {
      conn.once('pong', (d) => onPong(d));
      conn.sendPing(data);
    },
    close: (code, reason) => conn.close(code, reason),
    protocol: () => conn.protocol,
  });
  conn.on('text', (s) => agent.onText(s));
  conn.on('binary', (inStream) => {
    agent.beginBinary();
    inStream.on('data', (buf) => agent.binaryChunk(buf));
    inStream.on('end', () => agent.endBinary());
  });
  let closed = false;
  conn.on('close', (code, reason) => {
    // The library emits 'close' for its own close() too, and may emit it
    // twice; report the first.
    if (closed) return;
    closed = true;
    emit({ event: 'close', code: code === undefined ? null : code, reason: reason || '' });
    // A client exits once its socket is gone (the close frame it answered
    // with must get out first), or after 5 s.
    if (args.mode === 'client') setTimeout(() => process.exit(0), 5000).unref();
  });
  if (args.mode === 'client') conn.socket.once('close', () => process.exit(0));
  conn.on('error', (err) => emit({ event: 'error', message: err.message }));
}

if (args.mode === 'server') {
  const opts = args.protocols.length ? { validProtocols: args.protocols } : {};
  const server = nws.createServer(opts, (conn) => {
    emit({ event: 'open', protocol: conn.protocol || '' });
    serve(conn);
  });
  server.on('error', (err) => emit({ event: 'error', message: err.message }));
  server.listen(Number(args.target), '127.0.0.1', () => {
    emit({ event: 'listening', port: server.socket.address().port });
  });
} else {
  const opts = args.protocols.length ? { protocols: args.protocols } : {};
  const conn = nws.connect(args.target, opts, () => {
    emit({ event: 'open', protocol: conn.protocol || '' });
  });
  serve(conn);
}
process.on('SIGTERM', () => process.exit(0));
