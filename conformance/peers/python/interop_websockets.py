#!/usr/bin/python3
"""Python websockets (Debian's python3-websockets, asyncio API) as an interop
peer of wsio (conformance/interop). Run it with /usr/bin/python3, which sees
Debian's packages.

Usage: interop_websockets.py server PORT|client URL [--protocols a,b] [--max BYTES]
                             [--close-timeout SECONDS] [--deflate]

permessage-deflate is on only with --deflate (the library's default would
offer or accept it).

It speaks the command protocol of ../node/interop-agent.js: JSON event lines
on stdout ({"event": "listening"|"open"|"close"|"error", ...}); over the
WebSocket, text not starting with "cmd:" is echoed, binary is echoed or
answered with its hash ("mode" command), and "cmd:" + JSON runs one of
mode, info, sendtext, bigtext, sendbin, ping, close.

What the library can do decides what the peer does: send() of an iterable
sends one fragment per item (then an empty final frame); a received message
is delivered whole, so "chunks" is always 1; --max sets max_size, over which
the library closes with 1009. After failing a connection that way it stops
reading the socket, so it sees the server's TCP close only when close_timeout
(10 s by default; --close-timeout) runs out.
"""

import argparse
import asyncio
import base64
import hashlib
import json
import os
import sys

import websockets

LIB = "websockets " + websockets.__version__


def emit(**obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def extensions(ws):
    return ", ".join(e.name for e in ws.extensions)


class Agent:
    def __init__(self, ws):
        self.ws = ws
        self.binary_mode = "echo"
        self.tasks = set()

    async def reply(self, obj):
        await self.ws.send(json.dumps(obj))

    async def run(self):
        try:
            async for msg in self.ws:
                if isinstance(msg, str):
                    await self.on_text(msg)
                else:
                    await self.on_binary(msg)
        except websockets.ConnectionClosed:
            pass
        except Exception as e:  # report, never hang the test
            emit(event="error", message=repr(e))
        await self.ws.wait_closed()
        # close_code is the code received (1006 without a close frame); when
        # this side failed the connection, "sent" says with which code.
        sent = self.ws.close_sent.code if self.ws.close_sent is not None else None
        emit(event="close", code=self.ws.close_code, reason=self.ws.close_reason or "", sent=sent)

    async def on_binary(self, data):
        if self.binary_mode == "hash":
            await self.reply(
                {"len": len(data), "sha256": hashlib.sha256(data).hexdigest(), "chunks": 1}
            )
        else:
            await self.ws.send(data)

    async def on_text(self, s):
        if not s.startswith("cmd:"):
            await self.ws.send(s)
            return
        try:
            cmd = json.loads(s[4:])
        except ValueError as e:
            await self.reply({"error": "bad command: %s" % e})
            return
        op = cmd.get("op")
        if op == "mode":
            self.binary_mode = cmd["binary"]
            await self.reply({"ok": True})
        elif op == "info":
            await self.reply({"protocol": self.ws.subprotocol or "", "lib": LIB})
        elif op == "sendtext":
            if "b64parts" in cmd:
                # A text fragment must be a str here: bytes would make the
                # message binary. Join the raw parts instead.
                parts = [b"".join(base64.b64decode(p) for p in cmd["b64parts"]).decode()]
            else:
                parts = cmd["parts"]
            await self.ws.send(iter(parts))
        elif op == "bigtext":
            n = cmd["size"]
            await self.ws.send("\u00e9" * (n // 2) + "x" * (n % 2))
        elif op == "sendbin":
            await self.send_binary(cmd["size"], cmd.get("frag", 0))
        elif op == "ping":
            # Wait for the pong off the reading loop, which must go on.
            t = asyncio.ensure_future(self.ping(cmd["data"]))
            self.tasks.add(t)
            t.add_done_callback(self.tasks.discard)
        elif op == "close":
            t = asyncio.ensure_future(self.ws.close(cmd["code"], cmd["reason"]))
            self.tasks.add(t)
            t.add_done_callback(self.tasks.discard)
        else:
            await self.reply({"error": "unknown op %r" % op})

    async def ping(self, data):
        waiter = await self.ws.ping(data.encode())
        await waiter
        await self.reply({"pong": data})

    async def send_binary(self, size, frag):
        h = hashlib.sha256()
        if not frag or frag >= size:
            data = os.urandom(size)
            h.update(data)
            await self.ws.send(data)
            await self.reply({"len": size, "sha256": h.hexdigest(), "frames": 1})
            return
        frames = 0

        def chunks():
            nonlocal frames
            sent = 0
            while sent < size:
                n = min(frag, size - sent)
                b = os.urandom(n)
                h.update(b)
                sent += n
                frames += 1
                yield b

        await self.ws.send(chunks())
        await self.reply({"len": size, "sha256": h.hexdigest(), "frames": frames})


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["server", "client"])
    ap.add_argument("target")
    ap.add_argument("--protocols", default="")
    ap.add_argument("--max", type=int, default=0)
    ap.add_argument("--close-timeout", type=float, default=10)
    ap.add_argument("--deflate", action="store_true")
    a = ap.parse_args()
    protocols = [p for p in a.protocols.split(",") if p] or None
    max_size = a.max or 128 << 20
    compression = "deflate" if a.deflate else None

    if a.mode == "server":

        async def handler(ws):
            emit(event="open", protocol=ws.subprotocol or "", extensions=extensions(ws))
            await Agent(ws).run()

        async with websockets.serve(
            handler, "127.0.0.1", int(a.target), subprotocols=protocols, max_size=max_size,
            close_timeout=a.close_timeout, compression=compression,
        ) as server:
            emit(event="listening", port=server.sockets[0].getsockname()[1])
            await asyncio.Future()
    else:
        try:
            ws = await websockets.connect(
                a.target, subprotocols=protocols, max_size=max_size,
                close_timeout=a.close_timeout, compression=compression,
            )
        except Exception as e:
            emit(event="error", message=repr(e))
            sys.exit(1)
        emit(event="open", protocol=ws.subprotocol or "", extensions=extensions(ws))
        await Agent(ws).run()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
