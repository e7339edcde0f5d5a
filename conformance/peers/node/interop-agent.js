'use strict';
// The command side of the Node interop peers (conformance/interop), shared by
// interop-ws.js and ../nodejs-websocket/interop-nodejs-websocket.js. Each of
// them wraps its library's connection in an adapter and hands it to Agent.
//
// Command line: node SCRIPT server PORT [--protocols a,b] [--max BYTES] [--deflate]
//               node SCRIPT client URL  [--protocols a,b] [--max BYTES] [--deflate]
// (--deflate: use permessage-deflate where the library has it; --deflate-opts JSON:
// with these ws perMessageDeflate options.)
// (--close-timeout SECONDS is accepted and ignored: it is for the Python peer.)
//
// stdout carries one JSON object a line: {"event":"listening","port":N},
// {"event":"open","protocol":P,"extensions":E}, {"event":"close","code":C,"reason":R},
// {"event":"error","message":M}.
//
// Over the WebSocket, the Go test drives the peer. A text message that does
// not start with "cmd:" is echoed as text. A binary message is echoed (mode
// "echo", the default) or answered with the text {"len","sha256","chunks"}
// (mode "hash"). "cmd:" + JSON runs a command:
//   {"op":"mode","binary":"echo"|"hash"}      -> {"ok":true}
//   {"op":"info"}                            -> {"protocol":P,"lib":L}
//   {"op":"sendtext","parts":[...]}          one text message, a frame per part
//   {"op":"sendtext","b64parts":[...]}       the same with raw UTF-8 bytes per frame
//   {"op":"bigtext","size":N}                one text message of N bytes
//   {"op":"sendbin","size":N,"frag":F}       N random bytes as one binary message in
//                                            frames of F bytes (0: one frame), then
//                                            the text {"len","sha256","frames"}
//   {"op":"ping","data":D}                   a ping; on its pong, {"pong":D}
//   {"op":"close","code":C,"reason":R}       start the closing handshake
const crypto = require('crypto');

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function parseArgs(argv) {
  const args = { mode: argv[0], target: argv[1], protocols: [], max: 0, deflate: false };
  for (let i = 2; i < argv.length; i += 2) {
    switch (argv[i]) {
      case '--deflate':
        args.deflate = true;
        i--; // a flag without a value
        break;
      case '--protocols':
        args.protocols = argv[i + 1].split(',').filter(Boolean);
        break;
      case '--max':
        args.max = Number(argv[i + 1]);
        break;
      case '--deflate-opts':
        // ws's perMessageDeflate options as JSON, e.g. {"serverNoContextTakeover":true}.
        args.deflate = JSON.parse(argv[i + 1]);
        break;
      case '--close-timeout':
        break; // Python's option; the Node libraries have no such setting to test
      default:
        throw new Error('unknown argument ' + argv[i]);
    }
  }
  if (args.mode !== 'server' && args.mode !== 'client') {
    throw new Error('mode must be server or client');
  }
  return args;
}

// Agent handles one connection. The adapter provides:
//   sendText(str), sendTextParts(parts: (string|Buffer)[]) or null,
//   sendBinary(buf), sendFragment(buf, first, last, cb), ping(data, onPong),
//   close(code, reason), protocol().
class Agent {
  constructor(lib, adapter) {
    this.lib = lib;
    this.a = adapter;
    this.binaryMode = 'echo';
    this.rx = null; // binary message being received
  }

  reply(obj) {
    this.a.sendText(JSON.stringify(obj));
  }

  onText(s) {
    if (!s.startsWith('cmd:')) {
      this.a.sendText(s);
      return;
    }
    let cmd;
    try {
      cmd = JSON.parse(s.slice(4));
    } catch (e) {
      this.reply({ error: 'bad command: ' + e.message });
      return;
    }
    this.command(cmd);
  }

  command(cmd) {
    switch (cmd.op) {
      case 'mode':
        this.binaryMode = cmd.binary;
        this.reply({ ok: true });
        break;
      case 'info':
        this.reply({ protocol: this.a.protocol() || '', lib: this.lib });
        break;
      case 'sendtext': {
        const parts = cmd.b64parts ? cmd.b64parts.map((p) => Buffer.from(p, 'base64')) : cmd.parts;
        if (this.a.sendTextParts) {
          this.a.sendTextParts(parts);
        } else {
          this.a.sendText(Buffer.concat(parts.map((p) => Buffer.from(p))).toString());
        }
        break;
      }
      case 'bigtext':
        this.a.sendText('\u00e9'.repeat(Math.floor(cmd.size / 2)) + (cmd.size % 2 ? 'x' : ''));
        break;
      case 'sendbin':
        this.sendBinary(cmd.size, cmd.frag);
        break;
      case 'ping':
        this.a.ping(cmd.data, (got) => this.reply({ pong: got }));
        break;
      case 'close':
        this.a.close(cmd.code, cmd.reason);
        break;
      default:
        this.reply({ error: 'unknown op ' + cmd.op });
    }
  }

  // Binary reception, chunk by chunk: beginBinary, binaryChunk*, endBinary.
  beginBinary() {
    this.rx = { hash: crypto.createHash('sha256'), len: 0, chunks: 0, bufs: [] };
  }

  binaryChunk(buf) {
    const rx = this.rx;
    rx.hash.update(buf);
    rx.len += buf.length;
    rx.chunks++;
    if (this.binaryMode === 'echo') rx.bufs.push(buf);
  }

  endBinary() {
    const rx = this.rx;
    this.rx = null;
    if (this.binaryMode === 'hash') {
      this.reply({ len: rx.len, sha256: rx.hash.digest('hex'), chunks: rx.chunks });
    } else {
      this.a.sendBinary(Buffer.concat(rx.bufs, rx.len));
    }
  }

  sendBinary(size, frag) {
    const hash = crypto.createHash('sha256');
    if (!frag || frag >= size) {
      const buf = crypto.randomBytes(size);
      hash.update(buf);
      this.a.sendBinary(buf);
      this.reply({ len: size, sha256: hash.digest('hex'), frames: 1 });
      return;
    }
    // One fragment at a time, the next when the previous was written, so
    // memory stays bounded by the fragment size.
    let sent = 0;
    let frames = 0;
    const step = (err) => {
      if (err) {
        emit({ event: 'error', message: 'sendbin: ' + err.message });
        return;
      }
      if (sent === size) {
        this.reply({ len: size, sha256: hash.digest('hex'), frames });
        return;
      }
      const n = Math.min(frag, size - sent);
      const buf = crypto.randomBytes(n);
      hash.update(buf);
      const first = sent === 0;
      sent += n;
      frames++;
      this.a.sendFragment(buf, first, sent === size, step);
    };
    step();
  }
}

module.exports = { Agent, emit, parseArgs };
