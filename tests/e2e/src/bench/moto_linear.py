"""moto_server, with SQS's send path made O(1) per message.

moto answers every SendMessage(Batch) entry by reading `queue.attributes`,
which recomputes all attributes, including three scans of the queue's
messages (ApproximateNumberOfMessages*), and checks a FIFO message's
deduplication id by scanning every queued message. Sending N messages then
costs O(N^2): about 7 messages/s once a FIFO queue holds 1,000 of them, so
the fan-out benchmark would measure moto. Here the attribute lookup reads
the one attribute it needs, and the deduplication check looks the id up in
an index of accepted ids (which, like SQS and unlike moto, also remembers
ids of messages already deleted). The wire protocol and validation stay
moto's own.

Usage: python moto_linear.py -H 127.0.0.1 -p PORT  (moto_server's arguments)
"""
import inspect
import sys
import textwrap

from moto.sqs import models

LOOKUP = 'attributes.get("ContentBasedDeduplication")'


def content_based_deduplication(queue):
    # What queue.attributes.get("ContentBasedDeduplication") returns, without
    # computing every other attribute (three scans of the queue's messages).
    if not queue.fifo_queue:
        return None
    value = queue.content_based_deduplication
    return str(value).lower() if isinstance(value, bool) else value


def same_deduplication_id(queue, message):
    # The last accepted message with this id: the only one whose age
    # decides, as moto's loop over all queued messages would find.
    last = getattr(queue, "_accepted_by_dedup_id", {}).get(message.deduplication_id)
    return [] if last is None else [last]


def append_accepted(queue, message):
    queue._messages.append(message)
    if message.deduplication_id is not None:
        queue.__dict__.setdefault("_accepted_by_dedup_id", {})[message.deduplication_id] = message


SCANS = [
    ("self." + LOOKUP, "_cbd(self)"),
    ("queue." + LOOKUP, "_cbd(queue)"),
    ("for m in self._messages:", "for m in _same_dedup_id(self, message):"),
    ("self._messages.append(message)", "_append_accepted(self, message)"),
]


def patch(cls, name, expected):
    source = textwrap.dedent(inspect.getsource(getattr(cls, name)))
    patched = source
    for old, new in SCANS:
        patched = patched.replace(old, new)
    changed = sum(source.count(old) for old, _ in SCANS)
    if changed != expected:
        raise SystemExit(f"moto changed: {changed} of {expected} scans found in {cls.__name__}.{name}")
    namespace = dict(vars(models))
    namespace["_cbd"] = content_based_deduplication
    namespace["_same_dedup_id"] = same_deduplication_id
    namespace["_append_accepted"] = append_accepted
    exec(compile(patched, models.__file__, "exec"), namespace)
    setattr(cls, name, namespace[name])


patch(models.Queue, "add_message", 3)
patch(models.SQSBackend, "_validate_message", 2)
patch(models.SQSBackend, "send_message", 1)

from moto.server import main  # noqa: E402

main(sys.argv[1:])
