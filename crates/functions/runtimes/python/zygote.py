"""Sluice zygote for Python handlers.

Loads the bootstrap and imports the handler once, then forks one instance per request
read from standard input, a Unix socket to Sluice. The limits given as
``--limits as=BYTES,nofile=N`` are applied before the handler is imported, and every instance
inherits them. A request is a JSON line ``{"env": {...}}`` sent with two file descriptors, the
instance's standard output and error. The zygote answers ``{"pid": N}`` (or
``{"error": "..."}``) and, when an instance ends, ``{"exit": N, "status": WAITSTATUS}``.
Each instance leads its own process group, gets its own environment additions (the
Runtime API address, the log stream), and serves invocations with the
bootstrap's loop. When Sluice closes the socket, the zygote kills its instances and exits.
"""

import json
import os
import select
import signal
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bootstrap  # noqa: E402

CONTROL = socket.socket(fileno=0)
CHILDREN = set()


def _send(message):
    CONTROL.sendall((json.dumps(message) + "\n").encode("utf-8"))


def _instance(request, out, err, wake, loaded):
    os.setpgid(0, 0)
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    CONTROL.detach()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(err, 2)
    for fd in (null, out, err) + wake:
        os.close(fd)
    os.environ.update(request.get("env", {}))
    bootstrap._set_runtime_api()
    bootstrap.serve(*loaded)


def _fork(request, fds, wake, loaded):
    out, err = fds
    bootstrap._flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            _instance(request, out, err, wake, loaded)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else int(e.code is not None)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            bootstrap._flush()
            os._exit(code)
    try:
        os.setpgid(pid, pid)
    except OSError:
        pass  # the instance did it first, or has already ended
    os.close(out)
    os.close(err)
    CHILDREN.add(pid)
    _send({"pid": pid})


def _reap():
    while CHILDREN:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        CHILDREN.discard(pid)
        _send({"exit": pid, "status": status})


def _stop():
    for pid in CHILDREN:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    os._exit(0)


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--limits":
        bootstrap.apply_limits(sys.argv[2])
    bootstrap.configure_streams()
    loaded = bootstrap.load()
    wake = os.pipe()
    for fd in wake:
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wake[1])
    signal.signal(signal.SIGCHLD, lambda *_: None)
    pending, fds = b"", []
    while True:
        readable, _, _ = select.select([CONTROL, wake[0]], [], [])
        if wake[0] in readable:
            while True:
                try:
                    if not os.read(wake[0], 512):
                        break
                except BlockingIOError:
                    break
            _reap()
        if CONTROL not in readable:
            continue
        data, received, _, _ = socket.recv_fds(CONTROL, 65536, 16)
        if not data:
            _stop()
        fds.extend(received)
        pending += data
        if len(pending) > 1 << 20:
            _stop()  # no request is this long: the stream is not Sluice's
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            if len(fds) < 2:
                _send({"error": "a fork request came without its output descriptors"})
                continue
            taken, fds = fds[:2], fds[2:]
            try:
                _fork(json.loads(line), taken, wake, loaded)
            except Exception as e:
                for fd in taken:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
                _send({"error": "cannot fork: %s" % e})


if __name__ == "__main__":
    main()
