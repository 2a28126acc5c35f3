"""Sluice runtime for Python handlers.

An AWS Lambda Runtime API client written with the standard library only. It loads
the handler named by ``_HANDLER`` (``path/to/module.function``) from
``LAMBDA_TASK_ROOT`` and serves invocations one at a time, posting results to
``/response`` (JSON, or bytes as they are) and exceptions to ``/error`` in the format of
AWS's Python runtime.
"""

import importlib
import json
import os
import resource
import socket
import sys
import time

# Imported when first needed, to keep an instance's start short: http.client and
# urllib.parse (the object API), traceback (errors), decimal (only when the handler has).

RUNTIME_API = _HOST = _PORT = ""


def _set_runtime_api():
    """Reads the Runtime API address from ``AWS_LAMBDA_RUNTIME_API`` (again after a fork)."""
    global RUNTIME_API, _HOST, _PORT
    RUNTIME_API = os.environ.get("AWS_LAMBDA_RUNTIME_API", "")
    _HOST, _, _PORT = RUNTIME_API.rpartition(":")


_set_runtime_api()
_PREFIX = "/2018-06-01/runtime"
_ERROR_CONTENT_TYPE = "application/vnd.aws.lambda.error+json"


class _Headers(dict):
    """Response headers, looked up case-insensitively."""

    def get(self, name, default=None):
        return dict.get(self, name.lower(), default)


class _Api:
    """A kept-alive HTTP/1.1 connection to the Runtime API (no read timeout: /next long-polls).

    Written on a socket rather than with http.client, whose import and header parsing
    cost more than the rest of an invocation's hand-over."""

    _LINE = 65536

    def __init__(self):
        self._sock = None
        self._file = None

    def _close(self):
        if self._sock is not None:
            self._file.close()
            self._sock.close()
        self._sock = self._file = None

    def request(self, method, path, body=None, headers=None):
        for attempt in range(2):
            fresh = self._sock is None
            if fresh:
                self._sock = socket.create_connection((_HOST, int(_PORT)))
                self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._file = self._sock.makefile("rb")
            try:
                return self._exchange(method, path, body, headers or {})
            except (OSError, ValueError):
                self._close()
                # A kept-alive connection may have been closed by the server: retry once.
                if fresh or attempt:
                    raise
        raise RuntimeError("unreachable")

    def _readline(self):
        line = self._file.readline(self._LINE + 1)
        if len(line) > self._LINE:
            raise ValueError("a header line of the Runtime API is too long")
        return line

    def _exchange(self, method, path, body, headers):
        head = ["%s %s HTTP/1.1" % (method, path), "Host: " + RUNTIME_API]
        head.extend("%s: %s" % item for item in headers.items())
        if body is not None or method != "GET":
            head.append("Content-Length: %d" % len(body or b""))
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
        self._sock.sendall(data + body if body else data)
        status = self._readline().split(None, 2)
        if len(status) < 2:
            raise ConnectionError("the Runtime API closed the connection")
        got = _Headers()
        while True:
            line = self._readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            got[name.strip().lower()] = value.strip()
        if "chunked" in got.get("Transfer-Encoding", "").lower():
            payload = self._chunked()
        else:
            length = int(got.get("Content-Length", "0"))
            payload = self._file.read(length)
            if len(payload) != length:
                raise ConnectionError("the Runtime API closed the connection")
        if got.get("Connection", "").lower() == "close":
            self._close()
        return int(status[1]), got, payload

    def _chunked(self):
        parts = []
        while True:
            size = int(self._readline().split(b";", 1)[0], 16)
            chunk = self._file.read(size + 2)
            if len(chunk) != size + 2:
                raise ConnectionError("the Runtime API closed the connection")
            if size == 0:
                return b"".join(parts)
            parts.append(chunk[:size])


# Bytes read from a streamed request body (a file object) at a time.
_BODY_BLOCK = 256 * 1024


def _loopback(method, path, body=None, headers=None):
    """Calls Sluice's loopback API: ``(status, response headers, body bytes, errorMessage of a
    failure)``. A ``body`` with a ``read`` method is streamed, chunked."""
    import http.client

    conn = http.client.HTTPConnection(_HOST, int(_PORT), blocksize=_BODY_BLOCK)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        got = _Headers((name.lower(), value) for name, value in resp.getheaders())
    finally:
        conn.close()
    if resp.status < 300:
        return resp.status, got, data, ""
    try:
        message = json.loads(data).get("errorMessage", "")
    except ValueError:
        message = data.decode("utf-8", "replace")
    return resp.status, got, data, message


class ObjectError(Exception):
    """An object API call failed."""


class NoSuchKey(ObjectError, KeyError):
    """The object does not exist."""


class InvalidKey(ObjectError, ValueError):
    """The key was rejected (absolute, '..', empty segment, backslash, ...)."""


class InvalidRange(ObjectError, ValueError):
    """The object has none of the bytes asked for (a range starting at or past its end)."""


def _range_header(start, end):
    """The ``Range`` header reading ``[start:end]`` as a slice does (``None`` for the whole
    object), or ``""`` when the slice is empty."""
    if start is not None and start < 0:
        if end is not None:
            raise ValueError("a negative start reads the object's last bytes: give no end")
        return "bytes=-%d" % -start
    start = start or 0
    if end is None:
        return "bytes=%d-" % start if start else None
    if end < 0:
        raise ValueError("end must be a byte position, not %d" % end)
    return "bytes=%d-%d" % (start, end - 1) if end > start else ""


class Objects:
    """Sluice's object API: the configured object store, whatever its backend."""

    def _call(self, method, path, body=None, headers=None):
        if body is not None:
            headers = dict(headers or {}, **{"Content-Type": "application/octet-stream"})
        status, got, data, message = _loopback(method, path, body, headers)
        if status < 300:
            return got, data
        if status == 404:
            raise NoSuchKey(message or "object not found: " + path)
        if status == 416:
            raise InvalidRange(message)
        if status == 400:
            raise InvalidKey(message)
        raise ObjectError("%s (HTTP %d)" % (message, status))

    @staticmethod
    def _path(key):
        return "/sluice/objects/" + _quote(key, "/")

    def get(self, key, start=None, end=None):
        """Returns the bytes of object ``key``, or those of its slice ``[start:end]`` (``end``
        excluded; ``start`` alone reads to the end, a negative ``start`` the last ``-start``
        bytes) read by a ranged request. Raises ``NoSuchKey`` (a ``KeyError``), and
        ``InvalidRange`` when ``start`` is at or past the end."""
        header = _range_header(start, end)
        if header == "":
            return b""
        return self._call("GET", self._path(key), headers={"Range": header} if header else None)[1]

    def head(self, key):
        """Returns ``{"key", "size", "etag", "last_modified"}`` of object ``key`` without reading
        it; raises ``NoSuchKey``."""
        got, _ = self._call("HEAD", self._path(key))
        return {
            "key": key,
            "size": int(got.get("Content-Length", "0")),
            "etag": got.get("ETag"),
            "last_modified": got.get("Last-Modified"),
        }

    def put(self, key, data):
        """Stores ``data`` as ``key``: bytes, str (UTF-8 encoded), or a file object, which is
        streamed (read in blocks, never whole). Returns ``{key, size}``."""
        if isinstance(data, str):
            data = data.encode("utf-8")
        elif not hasattr(data, "read"):
            data = bytes(data)
        return json.loads(self._call("PUT", self._path(key), data)[1])

    def list(self, prefix=""):
        """Lists objects whose key starts with ``prefix``: ``[{"key": .., "size": ..}]``."""
        import urllib.parse

        query = urllib.parse.urlencode({"prefix": prefix})
        return json.loads(self._call("GET", "/sluice/objects?" + query)[1])


class QueueError(Exception):
    """A send was refused: ``code`` is ``QueueDoesNotExist``, ``InvalidMessage`` or another
    error name of the queue API."""

    def __init__(self, message, code):
        Exception.__init__(self, message)
        self.code = code


def _queue_attributes(attributes):
    """SQS message attributes from ``{name: value}``: strings, numbers, or SQS's own shape."""
    shaped = {}
    for name, value in (attributes or {}).items():
        if isinstance(value, dict):
            shaped[name] = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            shaped[name] = {"DataType": "Number", "StringValue": str(value)}
        else:
            shaped[name] = {"DataType": "String", "StringValue": str(value)}
    return shaped


def _queue_message(body, delay_seconds=0, attributes=None):
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    elif not isinstance(body, str):
        body = json.dumps(body)
    return {
        "body": body,
        "delaySeconds": int(delay_seconds),
        "messageAttributes": _queue_attributes(attributes),
    }


class Queues:
    """Sluice's durable queues: a send returns once the messages are durable."""

    def send(self, queue, body, delay_seconds=0, attributes=None):
        """Sends one message (a str, bytes, or anything ``json.dumps`` takes); returns its id."""
        return self._send(queue, [_queue_message(body, delay_seconds, attributes)])[0]

    def send_batch(self, queue, messages):
        """Sends up to 100 messages in one write: bodies, or dicts with ``body`` and optional
        ``delay_seconds`` and ``attributes``; returns their ids in order."""
        shaped = [
            _queue_message(m["body"], m.get("delay_seconds", 0), m.get("attributes"))
            if isinstance(m, dict) and "body" in m
            else _queue_message(m)
            for m in messages
        ]
        return self._send(queue, shaped)

    @staticmethod
    def _send(queue, messages):
        import urllib.parse

        path = "/sluice/queues/%s/messages" % urllib.parse.quote(queue, safe="")
        body = json.dumps({"messages": messages}).encode("utf-8")
        status, _, data, message = _loopback("POST", path, body, {"Content-Type": "application/json"})
        if status >= 300:
            code = "QueueError"
            try:
                code = json.loads(data).get("errorType", code)
            except ValueError:
                pass
            raise QueueError("%s (HTTP %d)" % (message, status), code)
        return [m["messageId"] for m in json.loads(data)["messages"]]


class ClientContext:
    """Mobile-SDK style client context; Sluice puts its extras under ``custom``."""

    def __init__(self, raw):
        self.client = raw.get("client")
        self.custom = raw.get("custom") or {}
        self.env = raw.get("env")


class CognitoIdentity:
    """Cognito identity of the caller, when any."""

    def __init__(self, raw):
        self.cognito_identity_id = raw.get("cognitoIdentityId")
        self.cognito_identity_pool_id = raw.get("cognitoIdentityPoolId")


class LambdaContext:
    """The ``context`` argument of a handler."""

    def __init__(self, request_id, deadline_ms, arn, client_context, identity):
        self.aws_request_id = request_id
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.invoked_function_arn = arn
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        self.client_context = ClientContext(client_context) if client_context is not None else None
        self.identity = CognitoIdentity(identity) if identity is not None else None
        custom = self.client_context.custom if self.client_context else {}
        self.execution = custom.get("execution")
        self.idempotency_key = custom.get("idempotency_key")
        self.objects = OBJECTS
        self.queues = QUEUES
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def __repr__(self):
        return "LambdaContext(aws_request_id=%r, function_name=%r)" % (
            self.aws_request_id,
            self.function_name,
        )


OBJECTS = Objects()
QUEUES = Queues()


class Fault(Exception):
    """A runtime-level failure with a Lambda error type."""

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class _Encoder(json.JSONEncoder):
    def default(self, o):
        decimal = sys.modules.get("decimal")
        if decimal is not None and isinstance(o, decimal.Decimal):
            return int(o) if o == o.to_integral_value() else float(o)
        return super().default(o)


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def _quote(text, safe):
    """Percent-encodes ``text`` for a URL path, importing urllib only when it must."""
    if all(c.isascii() and (c.isalnum() or c in "-._~" + safe) for c in text):
        return text
    import urllib.parse

    return urllib.parse.quote(text, safe=safe)


def _user_frames(tb):
    import traceback


    # Plain tuples, as AWS's runtime formats them: no column markers under the lines.
    here = os.path.abspath(__file__)
    return [
        (f.filename, f.lineno, f.name, f.line)
        for f in traceback.extract_tb(tb)
        if os.path.abspath(f.filename) != here
    ]


def _exception_body(exc):
    import traceback

    stack = traceback.format_list(_user_frames(exc.__traceback__))
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "requestId": "",
        "stackTrace": stack,
    }


def _fault_body(fault):
    return {
        "errorMessage": fault.message,
        "errorType": fault.error_type,
        "requestId": "",
        "stackTrace": fault.trace,
    }


def _log_error(body):
    lines = ["[ERROR] %s: %s" % (body["errorType"], body["errorMessage"])]
    if body.get("stackTrace"):
        lines.append("Traceback (most recent call last):")
        lines.extend(s.rstrip("\n") for s in body["stackTrace"])
    print("\n".join(lines), file=sys.stderr)


def _out_of_memory(where):
    limit = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
    return "%s Error: Runtime exited with error: memory limit of %s MB exceeded" % (where, limit)


def _load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as e:
        raise Fault("Runtime.MalformedHandlerName", "Bad handler '%s': %s" % (handler, e))
    try:
        if modname.split(".")[0] in sys.builtin_module_names:
            raise Fault(
                "Runtime.BuiltInModuleConflict",
                "Cannot use built-in module %s as a handler module" % modname,
            )
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as e:
        raise Fault(
            "Runtime.ImportModuleError",
            "Unable to import module '%s': %s" % (modname, e),
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise Fault(
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module '%s': %s" % (modname, e),
            trace,
        )
    fn = getattr(module, fname, None)
    if not callable(fn):
        raise Fault(
            "Runtime.HandlerNotFound",
            "Handler '%s' missing on module '%s'" % (fname, modname),
        )
    return fn


def _post_error(api, path, body, error_type):
    data = json.dumps(body).encode("utf-8")
    headers = {
        "Content-Type": _ERROR_CONTENT_TYPE,
        "Lambda-Runtime-Function-Error-Type": error_type,
    }
    return api.request("POST", path, data, headers)


def _report_init_error(api, body):
    _log_error(body)
    _flush()
    _post_error(api, _PREFIX + "/init/error", body, body["errorType"])


def _parse_json_header(headers, name):
    value = headers.get(name)
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return None


def _handle(api, handler, headers, body):
    request_id = headers.get("Lambda-Runtime-Aws-Request-Id", "")
    trace_id = headers.get("Lambda-Runtime-Trace-Id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    else:
        os.environ.pop("_X_AMZN_TRACE_ID", None)
    base = "%s/invocation/%s" % (_PREFIX, _quote(request_id, ""))

    def fail(err):
        err["requestId"] = request_id
        _log_error(err)
        _flush()
        status, _, data = _post_error(api, base + "/error", err, "Unhandled")
        if status != 202:
            print("[ERROR] error report rejected (HTTP %d): %r" % (status, data), file=sys.stderr)

    try:
        event = json.loads(body) if body else None
    except ValueError as e:
        return fail(_fault_body(Fault("Runtime.UnmarshalError", "Unable to unmarshal input: %s" % e)))
    context = LambdaContext(
        request_id,
        int(headers.get("Lambda-Runtime-Deadline-Ms") or 0),
        headers.get("Lambda-Runtime-Invoked-Function-Arn"),
        _parse_json_header(headers, "Lambda-Runtime-Client-Context"),
        _parse_json_header(headers, "Lambda-Runtime-Cognito-Identity"),
    )
    out_of_memory = False
    try:
        result = handler(event, context)
    except MemoryError:
        # Reported once the handler's frames, and what they hold, are released.
        out_of_memory = True
    except Exception as e:
        return fail(_exception_body(e))
    if out_of_memory:
        return fail(_fault_body(Fault("Runtime.OutOfMemory", _out_of_memory("RequestId: " + request_id))))
    if isinstance(result, bytes):
        # Sent as they are, as AWS's runtime sends them.
        payload, content_type = result, "application/unknown"
    else:
        try:
            payload = json.dumps(result, cls=_Encoder).encode("utf-8")
        except Exception as e:
            return fail(_fault_body(Fault("Runtime.MarshalError", "Unable to marshal response: %s" % e)))
        content_type = "application/json"
    _flush()
    status, _, data = api.request("POST", base + "/response", payload, {"Content-Type": content_type})
    if status != 202:
        print("[ERROR] response rejected (HTTP %d): %s" % (status, data.decode("utf-8", "replace")), file=sys.stderr)


_LIMITS = {"as": resource.RLIMIT_AS, "nofile": resource.RLIMIT_NOFILE}


def apply_limits(spec):
    """Applies ``as=BYTES,nofile=N`` (soft and hard, never above the current hard limit)."""
    for item in filter(None, spec.split(",")):
        name, _, value = item.partition("=")
        _, hard = resource.getrlimit(_LIMITS[name])
        value = int(value)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(_LIMITS[name], (value, value))


def configure_streams():
    """Makes standard output and error line-buffered, so that each line reaches the log."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)
        except Exception:
            pass


def load():
    """Imports the handler: ``(handler, None)``, or ``(None, error body)`` when it fails."""
    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    sys.path.insert(0, task_root)
    try:
        return _load_handler(os.environ.get("_HANDLER", "")), None
    except Fault as f:
        return None, _fault_body(f)
    except MemoryError:
        pass  # reported below, once the module's frames are released
    except Exception as e:
        return None, _exception_body(e)
    return None, _fault_body(Fault("Runtime.OutOfMemory", _out_of_memory("Init")))


def serve(handler, init_error):
    """Reports ``init_error`` if any, else serves invocations until the platform stops."""
    api = _Api()
    if init_error is not None:
        _report_init_error(api, init_error)
        sys.exit(1)
    while True:
        _flush()
        status, headers, body = api.request("GET", _PREFIX + "/invocation/next")
        if status != 200:
            # The platform is stopping this instance.
            sys.exit(0 if status == 500 else 1)
        _handle(api, handler, headers, body)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--limits":
        apply_limits(sys.argv[2])
    configure_streams()
    serve(*load())


if __name__ == "__main__":
    main()
