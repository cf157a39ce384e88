#!/usr/bin/env python3
"""An SMTP server that keeps what it receives, for didhub's tests and benchmarks.

    python3 scripts/smtp_sink.py --port PORT --out FILE [--stall-file F]

aiosmtpd on 127.0.0.1:PORT accepts every message and appends it to FILE as one JSON line,
{"mail_from", "rcpt_tos", "data"}, before it answers 250 to the end of DATA: a message it
acknowledged is in FILE. Prints "ready" on stdout once it listens; stops on SIGTERM or SIGINT.

--stall-file F: while F exists, every RCPT TO waits before it is answered (and the sink writes
F.stalled when one does), so a test can hold deliveries at a point where the server has
accepted nothing of them.
"""

import argparse
import asyncio
import json
import os
import signal
import sys
import threading

from aiosmtpd.controller import Controller


class Keep:
    def __init__(self, out, stall):
        self.out = open(out, "a", encoding="utf-8")
        self.stall = stall
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.stall:
            noted = False
            while os.path.exists(self.stall):
                if not noted:
                    open(self.stall + ".stalled", "w").close()
                    noted = True
                await asyncio.sleep(0.02)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.content
        if isinstance(data, bytes):
            data = data.decode("utf-8", "replace")
        line = json.dumps(
            {"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos, "data": data}
        )
        with self.lock:
            self.out.write(line + "\n")
            self.out.flush()
        return "250 Message accepted for delivery"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--stall-file")
    a = p.parse_args()
    c = Controller(Keep(a.out, a.stall_file), hostname=a.host, port=a.port)
    c.start()
    done = threading.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: done.set())
    print("ready", flush=True)
    done.wait()
    c.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
