"""The unzipper in Python (standard library only): the built-in ``unzip``'s contract, over
``context.objects``.

Event: ``{"archive": "BUCKET/KEY", "to": "BUCKET/PREFIX/", "marker": N or null}``, with the
optional ``budget_seconds``, ``max_entries``, ``url_encoded`` and ``read_ahead_bytes`` (also
read from the environment as ``UNZIP_BUDGET_SECONDS``, ``UNZIP_MAX_ENTRIES``,
``UNZIP_URL_ENCODED``, ``UNZIP_READ_AHEAD_BYTES``; the event wins). Result: ``{"marker": NEXT or null, "written": n, "done": bool, "entries": total}``.

``zipfile`` reads the archive through :class:`RangedObject`, a seekable file whose reads are
ranged requests of ``READ_AHEAD`` bytes (or ``read_ahead_bytes``): the end of central
directory and the central directory first, then each entry's bytes as they are decompressed. Each entry is streamed into
``context.objects.put`` (a chunked upload), so neither the archive nor an entry is ever held
whole. No entry is started once half of the time the call had left at its start is spent (or
``budget_seconds``, or ``max_entries``): the call returns the next entry's index as its marker,
and a flow calls again from it. Errors carry the built-in's names: ``Unzip.CorruptArchive``,
``Unzip.UnsupportedArchive``, ``Unzip.InvalidEntryName`` (each naming the archive and the
entry), ``Sluice.StorageError``, ``Sluice.InvalidEvent``.
"""

import io
import os
import time
import urllib.parse
import zipfile
import zlib

# Bytes of the archive fetched per ranged read.
READ_AHEAD = 4 * 1024 * 1024


def _error(name, doc):
    """An exception class whose name is the error name a flow sees (``Unzip.CorruptArchive``)."""
    return type(name, (Exception,), {"__doc__": doc, "__module__": __name__})


CorruptArchive = _error("Unzip.CorruptArchive", "The archive or an entry is damaged.")
UnsupportedArchive = _error("Unzip.UnsupportedArchive", "An entry's compression is not read.")
InvalidEntryName = _error("Unzip.InvalidEntryName", "An entry's name would leave the folder.")
StorageError = _error("Sluice.StorageError", "The storage failed a read or a write.")
InvalidEvent = _error("Sluice.InvalidEvent", "The event or a setting is malformed.")


class RangedObject(io.RawIOBase):
    """A read-only, seekable file over one object, read by ranges of at least ``read_ahead``
    bytes; it holds one range at a time."""

    def __init__(self, objects, key, read_ahead=READ_AHEAD):
        super().__init__()
        self._objects = objects
        self._key = key
        self._read_ahead = read_ahead
        self.size = objects.head(key)["size"]
        self._pos = 0
        self._buffer = memoryview(b"")
        self._buffer_start = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of %s" % self._key)
        self._pos = base + offset
        return self._pos

    def read(self, size=-1):
        if size is None or size < 0:
            size = self.size - self._pos
        size = min(size, self.size - self._pos)
        parts = []
        while size > 0:
            offset = self._pos - self._buffer_start
            if not 0 <= offset < len(self._buffer):
                # A ranged read from here: the bytes asked for, and at least the read-ahead.
                end = min(self.size, self._pos + max(size, self._read_ahead))
                self._buffer = memoryview(self._objects.get(self._key, self._pos, end))
                self._buffer_start, offset = self._pos, 0
                if not self._buffer:
                    raise CorruptArchive("%s: the object ended at byte %d" % (self._key, self._pos))
            part = self._buffer[offset : offset + size]
            parts.append(part)
            self._pos += len(part)
            size -= len(part)
        return b"".join(parts)

    def readinto(self, target):
        data = self.read(len(target))
        target[: len(data)] = data
        return len(data)


def entry_key(name):
    """The key an entry is written under, relative to the folder, or ``None`` for a
    directory; raises ``ValueError`` for a name that would leave the folder."""
    if name.endswith("/"):
        name = name.rstrip("/")
        if name:
            _check_key(name)
        return None
    _check_key(name)
    return name


def _check_key(key):
    """The object API's rule: relative, ``/``-separated, no empty, ``.`` or ``..`` segment, no
    backslash and no control character."""
    if not key:
        raise ValueError("the name is empty")
    if key.startswith("/"):
        raise ValueError("the name is absolute")
    if "\\" in key:
        raise ValueError("the name contains a backslash")
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in key):
        raise ValueError("the name contains a control character")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError("the name has a '%s' segment" % segment)


class Request:
    """What one call was asked to do: the event's fields over the environment's settings."""

    def __init__(self, event):
        if not isinstance(event, dict):
            raise InvalidEvent("the event must be a JSON object")
        setting = lambda name: event.get(name, os.environ.get("UNZIP_" + name.upper()))  # noqa: E731
        archive = event.get("archive")
        if not isinstance(archive, str) or "/" not in archive.strip("/"):
            raise InvalidEvent("the field archive (BUCKET/KEY of the zip) is required")
        if str(setting("url_encoded")).lower() in ("true", "1"):
            archive = urllib.parse.unquote(archive.replace("+", " "), errors="strict")
        self.archive = archive
        to = event.get("to")
        if not isinstance(to, str) or not to.strip("/"):
            raise InvalidEvent("the field to (the folder BUCKET/PREFIX/ to write into) is required")
        self.to = to if to.endswith("/") else to + "/"
        try:
            _check_key(self.to.rstrip("/"))
        except ValueError as e:
            raise InvalidEvent("to: %s" % e) from None
        self.marker = self._count("marker", event.get("marker"), 0, minimum=0)
        self.max_entries = self._count("max_entries", setting("max_entries"), None, minimum=1)
        self.read_ahead = self._count(
            "read_ahead_bytes", setting("read_ahead_bytes"), READ_AHEAD, minimum=1
        )
        budget = setting("budget_seconds")
        try:
            self.budget = None if budget is None else float(budget)
        except ValueError:
            self.budget = -1.0
        if self.budget is not None and not 0 < self.budget <= 86400:
            raise InvalidEvent("budget_seconds must be a number of seconds, not %r" % budget)

    @staticmethod
    def _count(name, value, default, minimum):
        if value is None:
            return default
        try:
            count = int(value)
        except (TypeError, ValueError):
            count = -1
        if isinstance(value, (bool, float)) or count < minimum:
            raise InvalidEvent("%s must be a positive count, not %r" % (name, value))
        return count


def handler(event, context):
    request = Request(event)
    started = time.monotonic()
    # Half of the time left: the last entry started has as long as all those before it.
    budget = context.get_remaining_time_in_millis() / 2000.0
    if request.budget is not None:
        budget = min(budget, request.budget)
    objects = context.objects
    try:
        archive = zipfile.ZipFile(RangedObject(objects, request.archive, request.read_ahead))
    except Exception as e:
        _fail(request.archive, None, e)
    entries = archive.infolist()
    total = len(entries)
    index = min(request.marker, total)
    written = handled = 0
    while index < total:
        if handled and (
            time.monotonic() - started >= budget
            or (request.max_entries is not None and handled >= request.max_entries)
        ):
            break
        info = entries[index]
        try:
            key = entry_key(info.filename)
        except ValueError as e:
            raise InvalidEntryName(
                "%s: entry '%s' (#%d): %s" % (request.archive, info.filename, index, e)
            ) from None
        if key is not None:
            try:
                with archive.open(info) as entry:
                    objects.put(request.to + key, entry)
            except Exception as e:
                _fail(request.archive, info.filename, e)
            written += 1
        handled += 1
        index += 1
    done = index >= total
    return {"marker": None if done else index, "written": written, "done": done, "entries": total}


def _fail(archive, entry, e):
    """Raises the error to fail with, naming the archive and the entry: the archive's own, or
    the storage's (an ``ObjectError`` of ``context.objects``, an ``OSError``); anything else is
    raised as it is."""
    place = archive if entry is None else "%s: entry '%s'" % (archive, entry)
    if isinstance(e, NotImplementedError):
        raise UnsupportedArchive("%s: %s" % (place, e)) from e
    if isinstance(e, (zipfile.BadZipFile, zlib.error, EOFError, CorruptArchive)):
        raise CorruptArchive("%s: %s" % (place, e)) from e
    if isinstance(e, OSError) or any(c.__name__ == "ObjectError" for c in type(e).__mro__):
        raise StorageError("%s: %s: %s" % (place, type(e).__name__, e)) from e
    raise e
