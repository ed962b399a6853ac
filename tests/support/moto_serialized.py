"""moto_server, answering one request at a time.

moto's TransactWriteItems deep-copies every table it touches before it
applies a transaction and puts the copies back when the transaction is
cancelled (a condition failed, a conflict). Its server is threaded, so a
concurrent request's committed write can be copied away and then erased by
that restore: increments vanish, which real DynamoDB (serializable
transactions) never does, and the ledger's "exactly one completion" check
failed about one run in ten. Holding one lock around each request makes the
server linearizable, as the real service is; the wire protocol, validation
and every answer stay moto's own.

Usage: python moto_serialized.py -H 127.0.0.1 -p PORT  (moto_server's arguments)
"""
import sys
import threading

from moto import server

_ONE_AT_A_TIME = threading.Lock()
_run_simple = server.run_simple


def _serialized(app):
    def serve(environ, start_response):
        with _ONE_AT_A_TIME:
            # Drain the body inside the lock: moto builds it lazily.
            return list(app(environ, start_response))

    return serve


def _run_serialized(host, port, app, **kwargs):
    return _run_simple(host, port, _serialized(app), **kwargs)


server.run_simple = _run_serialized

if __name__ == "__main__":
    sys.exit(server.main())
