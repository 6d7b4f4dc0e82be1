#!/usr/bin/env python3
"""faultproxy: a fault-injecting TCP/HTTP proxy for drkit's end-to-end tests (stdlib only).

    faultproxy.py --target HOST:PORT [--port 0] [--mode http|tcp]
                  [--drop P] [--stall P] [--stall-seconds S] [--error P] [--error-codes 500,503]
                  [--match REGEX] [--drop-side both|request|response]
                  [--response-cut any|head|body] [--seed N]
                  [--counts FILE] [--log FILE] [--start-disabled] [--parent-pid PID]

Listens on 127.0.0.1 (--port 0: a free port) and prints "PORT <n>" on stdout when ready. Every
client connection gets its own connection to the target.

--mode http (default) parses HTTP/1.1 requests on the client side (Content-Length and chunked
bodies, Expect: 100-continue, keep-alive) and responses on the target side, and draws one fault
per request, each with its probability (they add up; the rest pass untouched):
  --drop P    close both connections part-way: half of them while the request goes up (the
              target never gets all of it), half while the response comes back (the target has
              done the work, the client never learns it: a retried PUT/DELETE must be harmless)
  --stall P   hold the request for --stall-seconds (default 3) before forwarding it, or (half of
              them) the response at a random byte of it
  --error P   answer with 500 or 503 (--error-codes) and an S3-style XML error body without
              forwarding anything to the target (the request body is read and thrown away, the
              connection stays open; with Expect: 100-continue the connection is closed instead)
  --match REGEX        inject only into requests whose "METHOD /path?query" matches (e.g.
                       '^GET ', 'partNumber=')
  --drop-side SIDE     request or response: where drops happen (default: both, half each)
  --response-cut WHERE head or body: where in the response a drop cuts (default: anywhere). A
                       cut inside the head after the status line is accepted by libcurl 7.88 as
                       a complete answer: success, the headers missing, an empty body
--mode tcp draws per connection: drop (after 0..255 bytes going up, or 0..64 KiB coming back; a
connection that ends before is not cut, but counted), stall (before the first byte goes up);
--error does nothing there.

Counts of what passed and what was injected are kept as JSON: rewritten (atomically) to --counts
FILE after every request, and printed on stderr as "faultproxy: counts {...}" on SIGTERM/SIGINT,
which end the proxy with exit 0. --log FILE gets one line per request (or connection).
SIGUSR1 turns injection off, SIGUSR2 back on (--start-disabled: start with it off).
--parent-pid: exit when that process is gone (a test killed by SIGKILL must not leave us behind).
--seed makes the sequence of draws repeatable (the order requests arrive in may still vary).
"""

import argparse
import asyncio
import json
import os
import random
import re
import signal
import sys
import time

CHUNK = 65536
MAX_HEAD = 64 * 1024

ERROR_XML = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    502: ("BadGateway", "Bad gateway (injected by faultproxy)."),
    503: ("SlowDown", "Please reduce your request rate."),
    504: ("GatewayTimeout", "Gateway timeout (injected by faultproxy)."),
}
REASON = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
          504: "Gateway Timeout"}


class Cut(Exception):
    """The injected fault ends this connection."""


class Proxy:
    def __init__(self, args):
        self.args = args
        host, _, port = args.target.rpartition(":")
        self.thost = host or "127.0.0.1"
        self.tport = int(port)
        self.rng = random.Random(args.seed)
        self.enabled = not args.start_disabled
        self.error_codes = [int(c) for c in args.error_codes.split(",") if c.strip()]
        self.counts = {
            "connections": 0, "requests": 0, "passed": 0,
            "drop_request": 0, "drop_response": 0,
            "stall_request": 0, "stall_response": 0,
            "target_unreachable": 0, "conn_errors": 0,
        }
        for c in self.error_codes:
            self.counts["error_%d" % c] = 0
        self.logf = open(args.log, "a", buffering=1) if args.log else None
        self.match = re.compile(args.match) if args.match else None
        self.seq = 0

    # --- bookkeeping ------------------------------------------------------------------------
    def count(self, key):
        self.counts[key] = self.counts.get(key, 0) + 1

    def injected(self):
        return sum(v for k, v in self.counts.items()
                   if k.startswith(("drop_", "stall_", "error_")))

    def snapshot(self):
        d = dict(self.counts)
        d["injected"] = self.injected()
        d["enabled"] = self.enabled
        return d

    def write_counts(self):
        if not self.args.counts:
            return
        tmp = self.args.counts + ".tmp"
        try:
            with open(tmp, "w") as f:
                json.dump(self.snapshot(), f, sort_keys=True)
                f.write("\n")
            os.replace(tmp, self.args.counts)
        except OSError as e:
            print("faultproxy: cannot write %s: %s" % (self.args.counts, e), file=sys.stderr)

    def log(self, msg):
        if self.logf:
            self.logf.write("%.3f %s\n" % (time.time(), msg))

    def draw(self, what=None):
        """One of 'drop', 'stall', 'error' or None."""
        if not self.enabled:
            return None
        if self.match is not None and (what is None or not self.match.search(what)):
            return None
        x = self.rng.random()
        for name, p in (("drop", self.args.drop), ("stall", self.args.stall),
                        ("error", self.args.error)):
            if x < p:
                return name
            x -= p
        return None

    # --- HTTP helpers -----------------------------------------------------------------------
    @staticmethod
    async def read_head(reader):
        """Bytes up to and including the blank line; b'' on a clean EOF before any byte."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as e:
            if e.partial:
                raise ConnectionError("connection closed inside a message head")
            return b""
        except asyncio.LimitOverrunError:
            raise ConnectionError("message head too long")
        return head

    @staticmethod
    def parse_head(head):
        lines = head.decode("latin-1").split("\r\n")
        first = lines[0]
        headers = {}
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            key = name.strip().lower()
            value = value.strip()
            headers[key] = headers[key] + ", " + value if key in headers else value
        return first, headers

    @staticmethod
    def body_kind(headers):
        te = headers.get("transfer-encoding", "").lower()
        if "chunked" in te:
            return "chunked", None
        if "content-length" in headers:
            return "length", int(headers["content-length"].split(",")[0])
        return None, None

    async def relay_body(self, reader, writer, kind, length, cut=None, stall_at=None):
        """Copy one message body. cut: raise Cut after that many bytes; stall_at: sleep there."""
        done = 0

        async def put(data):
            nonlocal done, stall_at
            while data:
                n = len(data)
                if cut is not None and done + n > cut:
                    n = cut - done
                if stall_at is not None and done <= stall_at < done + n:
                    n = max(stall_at - done, 0)
                    if n == 0:
                        await writer.drain()
                        await asyncio.sleep(self.args.stall_seconds)
                        stall_at = None
                        continue
                if n:
                    writer.write(data[:n])
                    done += n
                    data = data[n:]
                if cut is not None and done >= cut:
                    await writer.drain()
                    raise Cut()
            await writer.drain()

        if kind == "length":
            left = length
            while left > 0:
                data = await reader.read(min(CHUNK, left))
                if not data:
                    raise ConnectionError("connection closed inside a body")
                left -= len(data)
                await put(data)
        elif kind == "chunked":
            while True:
                line = await reader.readuntil(b"\r\n")
                await put(line)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:  # trailers, then the blank line
                        t = await reader.readuntil(b"\r\n")
                        await put(t)
                        if t == b"\r\n":
                            return
                left = size + 2
                while left > 0:
                    data = await reader.read(min(CHUNK, left))
                    if not data:
                        raise ConnectionError("connection closed inside a chunk")
                    left -= len(data)
                    await put(data)
        elif kind == "eof":
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    return
                await put(data)

    async def discard_body(self, reader, kind, length):
        class Null:
            def write(self, _):
                pass

            async def drain(self):
                pass
        await self.relay_body(reader, Null(), kind, length)

    def error_response(self, code, method, path, keep_alive):
        name, msg = ERROR_XML.get(code, ("InternalError", "Injected error."))
        self.seq += 1
        body = ('<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code><Message>%s'
                '</Message><Resource>%s</Resource><RequestId>faultproxy-%d</RequestId></Error>\n'
                % (name, msg, path.split("?")[0], self.seq)).encode()
        head = ("HTTP/1.1 %d %s\r\nContent-Type: application/xml\r\nContent-Length: %d\r\n"
                "x-amz-request-id: faultproxy-%d\r\nConnection: %s\r\n\r\n"
                % (code, REASON.get(code, "Error"), len(body), self.seq,
                   "keep-alive" if keep_alive else "close")).encode()
        return head if method == "HEAD" else head + body

    # --- HTTP mode --------------------------------------------------------------------------
    async def http_conn(self, cr, cw):
        ur = uw = None
        try:
            while True:
                head = await self.read_head(cr)
                if not head:
                    return
                first, h = self.parse_head(head)
                parts = first.split(" ")
                method, path = parts[0], parts[1] if len(parts) > 1 else "/"
                kind, length = self.body_kind(h)
                expect = "100-continue" in h.get("expect", "").lower()
                client_close = "close" in h.get("connection", "").lower()
                self.count("requests")
                what = "%s %s" % (method, path)
                fault = self.draw(what)

                if fault == "error":
                    code = self.rng.choice(self.error_codes)
                    self.count("error_%d" % code)
                    self.log("%s -> injected %d" % (what, code))
                    if expect:
                        cw.write(self.error_response(code, method, path, False))
                        await cw.drain()
                        return
                    if kind:
                        await self.discard_body(cr, kind, length)
                    cw.write(self.error_response(code, method, path, not client_close))
                    await cw.drain()
                    self.write_counts()
                    if client_close:
                        return
                    continue

                if ur is None:
                    try:
                        ur, uw = await asyncio.open_connection(self.thost, self.tport)
                    except OSError as e:
                        self.count("target_unreachable")
                        self.log("%s -> target unreachable: %s" % (what, e))
                        self.write_counts()
                        return

                req_total = len(head) + (length if kind == "length" else
                                         CHUNK if kind == "chunked" else 0)
                cut = stall = None
                side = None
                if fault in ("drop", "stall"):
                    side = self.rng.choice(("request", "response"))
                    if fault == "drop" and self.args.drop_side != "both":
                        side = self.args.drop_side
                    self.count("%s_%s" % (fault, side))
                    self.log("%s -> %s %s" % (what, fault, side))
                    self.write_counts()
                if fault == "drop" and side == "request":
                    cut = self.rng.randrange(0, max(req_total, 1))
                    if cut < len(head):
                        uw.write(head[:cut])
                        await uw.drain()
                        raise Cut()
                    cut -= len(head)
                if fault == "stall" and side == "request":
                    await asyncio.sleep(self.args.stall_seconds)

                uw.write(head)
                await uw.drain()
                if expect:
                    # the target answers 100 Continue (or a final answer) before the body
                    rhead = await self.read_head(ur)
                    if not rhead:
                        return
                    rfirst, rh = self.parse_head(rhead)
                    status = int(rfirst.split(" ")[1])
                    if status != 100:
                        cw.write(rhead)
                        rkind, rlen = self.body_kind(rh)
                        if rkind:
                            await self.relay_body(ur, cw, rkind, rlen)
                        else:
                            await self.relay_body(ur, cw, "eof", None)
                        self.log("%s -> %d before the body" % (what, status))
                        return  # the client won't send the body: start afresh
                    cw.write(rhead)
                    await cw.drain()
                if kind:
                    await self.relay_body(cr, uw, kind, length, cut=cut)
                elif cut is not None:
                    raise Cut()

                # the response (skip interim 1xx answers)
                while True:
                    rhead = await self.read_head(ur)
                    if not rhead:
                        raise ConnectionError("target closed the connection without answering")
                    rfirst, rh = self.parse_head(rhead)
                    status = int(rfirst.split(" ")[1])
                    if 100 <= status < 200 and status != 101:
                        cw.write(rhead)
                        continue
                    break
                rkind, rlen = self.body_kind(rh)
                if method == "HEAD" or status in (204, 304):
                    rkind, rlen = None, 0
                elif rkind is None:
                    rkind = "eof"
                body_len = rlen if rkind == "length" else CHUNK
                rcut = rstall = None
                if fault == "drop" and side == "response":
                    # strictly before the end: the client must miss something
                    lo, hi = 0, len(rhead) + body_len
                    if self.args.response_cut == "head":
                        hi = len(rhead)
                    elif self.args.response_cut == "body" and body_len:
                        lo = len(rhead)
                    rcut = self.rng.randrange(lo, hi)
                    if rcut < len(rhead):
                        cw.write(rhead[:rcut])
                        await cw.drain()
                        raise Cut()
                    rcut -= len(rhead)
                if fault == "stall" and side == "response":
                    rstall = self.rng.randrange(0, len(rhead) + body_len + 1)
                    if rstall <= len(rhead):
                        cw.write(rhead[:rstall])
                        await cw.drain()
                        await asyncio.sleep(self.args.stall_seconds)
                        cw.write(rhead[rstall:])
                        rstall = None
                    else:
                        cw.write(rhead)
                        rstall -= len(rhead)
                else:
                    cw.write(rhead)
                if rkind:
                    await self.relay_body(ur, cw, rkind, rlen, cut=rcut, stall_at=rstall)
                elif rcut is not None:
                    raise Cut()
                await cw.drain()
                if fault is None:
                    self.count("passed")
                    self.log("%s -> %d" % (what, status))
                self.write_counts()
                server_close = "close" in rh.get("connection", "").lower() or rkind == "eof"
                if client_close or server_close:
                    return
        except Cut:
            self.write_counts()
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError, IndexError, OSError) as e:
            self.count("conn_errors")
            self.log("connection ended: %s: %s" % (type(e).__name__, e))
            self.write_counts()
        finally:
            for w in (cw, uw):
                if w is not None:
                    try:
                        w.transport.abort()
                    except Exception:
                        pass

    # --- TCP mode ---------------------------------------------------------------------------
    async def tcp_conn(self, cr, cw):
        fault = self.draw("")
        uw = None
        try:
            try:
                ur, uw = await asyncio.open_connection(self.thost, self.tport)
            except OSError as e:
                self.count("target_unreachable")
                self.log("target unreachable: %s" % e)
                return
            cut_up = cut_down = None
            if fault == "drop":
                side = self.rng.choice(("request", "response"))
                if self.args.drop_side != "both":
                    side = self.args.drop_side
                self.count("drop_" + side)
                if side == "request":  # S3 request heads are ~300..800 bytes
                    cut_up = self.rng.randrange(0, 256)
                else:
                    cut_down = self.rng.randrange(0, CHUNK)
            elif fault == "stall":
                self.count("stall_request")
                await asyncio.sleep(self.args.stall_seconds)
            else:
                self.count("passed")
            self.log("connection -> %s" % (fault or "passed"))
            self.write_counts()

            async def pump(r, w, cut):
                n = 0
                while True:
                    data = await r.read(CHUNK)
                    if not data:
                        try:
                            w.write_eof()
                        except OSError:
                            pass
                        return
                    if cut is not None and n + len(data) > cut:
                        w.write(data[:cut - n])
                        await w.drain()
                        raise Cut()
                    n += len(data)
                    w.write(data)
                    await w.drain()

            tasks = [asyncio.ensure_future(pump(cr, uw, cut_up)),
                     asyncio.ensure_future(pump(ur, cw, cut_down))]
            done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for t in pending:
                if any(d.exception() for d in done):
                    t.cancel()
                else:
                    await t
        except (Cut, ConnectionError, OSError, asyncio.CancelledError):
            pass
        finally:
            for w in (cw, uw):
                if w is not None:
                    try:
                        w.transport.abort()
                    except Exception:
                        pass

    async def handle(self, cr, cw):
        self.count("connections")
        try:
            if self.args.mode == "tcp":
                await self.tcp_conn(cr, cw)
            else:
                await self.http_conn(cr, cw)
        except asyncio.CancelledError:
            pass


async def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--target", required=True, help="HOST:PORT to forward to")
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", choices=("http", "tcp"), default="http")
    ap.add_argument("--drop", type=float, default=0.0)
    ap.add_argument("--stall", type=float, default=0.0)
    ap.add_argument("--stall-seconds", type=float, default=3.0)
    ap.add_argument("--error", type=float, default=0.0)
    ap.add_argument("--error-codes", default="500,503")
    ap.add_argument("--match", default=None,
                    help="inject only into requests whose 'METHOD /path?query' matches this regex")
    ap.add_argument("--drop-side", choices=("both", "request", "response"), default="both")
    ap.add_argument("--response-cut", choices=("any", "head", "body"), default="any",
                    help="where a response drop cuts: anywhere, inside the head, inside the body")
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--counts", help="JSON counts file, rewritten after every request")
    ap.add_argument("--log", help="append one line per request here")
    ap.add_argument("--start-disabled", action="store_true")
    ap.add_argument("--parent-pid", type=int, default=0)
    args = ap.parse_args()
    if args.drop + args.stall + args.error > 1.0:
        ap.error("--drop + --stall + --error must not exceed 1")
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "big")

    proxy = Proxy(args)
    server = await asyncio.start_server(proxy.handle, args.listen, args.port,
                                        limit=MAX_HEAD, reuse_address=True)
    port = server.sockets[0].getsockname()[1]
    proxy.log("listening on %s:%d -> %s (seed %d)" % (args.listen, port, args.target, args.seed))
    proxy.write_counts()

    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def finish(signame):
        if not stop.done():
            stop.set_result(signame)

    def toggle(on):
        proxy.enabled = on
        proxy.log("injection %s" % ("on" if on else "off"))
        proxy.write_counts()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(sig, finish, sig.name)
    loop.add_signal_handler(signal.SIGUSR1, toggle, False)
    loop.add_signal_handler(signal.SIGUSR2, toggle, True)

    async def watch_parent():
        while True:
            await asyncio.sleep(1)
            try:
                os.kill(args.parent_pid, 0)
            except ProcessLookupError:
                finish("parent gone")
                return
            except PermissionError:
                pass

    if args.parent_pid > 0:
        asyncio.ensure_future(watch_parent())

    # ready (signal handlers too: a SIGUSR2 before them would kill the process)
    sys.stdout.write("PORT %d\n" % port)
    sys.stdout.flush()

    why = await stop
    server.close()
    proxy.write_counts()
    proxy.log("stopped (%s)" % why)
    print("faultproxy: counts %s" % json.dumps(proxy.snapshot(), sort_keys=True),
          file=sys.stderr, flush=True)
    # open connections are simply dropped
    os._exit(0)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    os._exit(0)
