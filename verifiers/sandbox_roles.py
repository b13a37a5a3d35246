"""What runs in the code sandbox's child processes once the supervisor has forked them and they
have dropped every privilege. Standard library only: imported by its bare name inside the
sandbox.

Three roles, each its own process:

- `run_stdio_case`: one stdin/stdout case. The program runs as a script (`__name__ ==
  "__main__"`) with stdin a file holding the case input and stdout a file the supervisor reads
  after the process is gone; the bytes in that file are the output.
- `serve_solution`: the solution as a small server. It runs the program once as a module
  (`__name__ == "__solution__"`, so a `__main__` guard stays quiet), tells the supervisor which
  names it defines, then answers calls: arguments arrive encoded, and the return value goes back
  encoded (sandbox_protocol), or the exception's type and message, or a refusal when the value
  is not plain data.
- `run_tests`: the dataset's assert-style tests, under another uid. The names the solution
  defines are proxies here: calling one sends the call down the solution's request pipe and
  returns the decoded value. A solution can therefore neither see the tests nor hand them an
  object that compares equal to anything. A name the tests define themselves, and every
  builtin, is never taken from the solution. The tests process times the solution's load and
  each call on the solution's own clock (sandbox_clock) and gives up on it at its budget; it
  reports to the supervisor, which caps the CPU time of both and kills what runs over.

Example (the server's reply to one call: its kind, then the value and the list argument):
    >>> frame = reply(sum, [[1, 2]], {})
    >>> frame[:1], protocol.decode(frame[1:])
    (b'R', (3, [[1, 2]]))
"""

import builtins
import keyword
import marshal
import os
import select
import sys
import time
import types

try:  # inside the sandbox this folder is on sys.path; on the host these are package modules
    import sandbox_protocol as protocol
    from sandbox_clock import POLL_IN, Clock, schedstat, timed_poll
except ImportError:
    from assay.verifiers import sandbox_protocol as protocol
    from assay.verifiers.sandbox_clock import POLL_IN, Clock, schedstat, timed_poll

REQUESTS_FD = 3  # supervisor -> this process (server, tests)
REPLIES_FD = 4  # this process -> supervisor (server, tests)
STATUS_FD = 3  # stdio case: the type of the exception that ended it (reason text only)
SOLUTION_STAT_FD = 5  # tests: the solution's /proc/PID/schedstat, opened by the supervisor (/dev/null without one)
SOLUTION_REPLIES_FD = 6  # tests: the solution's replies
SOLUTION_REQUESTS_FD = 7  # tests: requests to the solution
MAX_MESSAGE_CHARS = 500  # of an exception message passed from the solution to the tests
MAX_NAME_VALUE_BYTES = 65_536  # a plain global of the solution's offered to the tests (constants, not tables)


def _fresh_main(name):
    """An empty module registered as __main__ (and under `name`): the program's globals."""
    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = sys.modules[name] = module
    sys.argv = ["solution.py"]
    return module.__dict__


def _fresh_stdio():
    sys.stdin = open(0, encoding="utf-8", closefd=False)
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
    sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)


def run_stdio_case(code):
    """Run `code` as a script on fds 0/1; exit 0 when it ran to its end (or called sys.exit),
    1 after an uncaught exception, whose type name goes to STATUS_FD."""
    namespace = _fresh_main("__main__")
    _fresh_stdio()
    status = 0
    try:
        exec(compile(code, "<solution>", "exec"), namespace)
    except SystemExit:
        pass
    except BaseException as exc:  # the program's failure: its type is the reason
        os.write(STATUS_FD, protocol.type_name(type(exc)).encode())
        status = 1
    try:
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001 - a program that broke its own stdout
        status = 1
    os._exit(status)


def _names(namespace):
    """What the tests may use: 'f' for a callable, ('m', module) for a module, ('v', value)
    for a plain value; the rest is left out."""
    names = {}
    for name, value in list(namespace.items()):
        if type(name) is not str or name.startswith("__"):
            continue
        if isinstance(value, types.ModuleType):
            names[name] = ("m", value.__name__)
        elif callable(value):
            names[name] = ("f",)
        else:
            try:
                protocol.encode(value, MAX_NAME_VALUE_BYTES)
            except protocol.Refused:
                continue
            names[name] = ("v", value)
    return names


def reply(target, args, kwargs):
    """The reply frame for calling target(*args, **kwargs): b"R" + (return value, the list,
    dict and set arguments as they are afterwards), b"E" + (exception type, message), or
    b"X" + why the value may not cross."""
    try:
        result = target(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - the solution's exception is its answer
        try:
            message = str(exc)[:MAX_MESSAGE_CHARS]
        except BaseException:  # noqa: BLE001
            message = ""
        return b"E" + protocol.encode((protocol.type_name(type(exc)), message if type(message) is str else ""))
    after = [a if type(a) in (list, dict, set) else None for a in args]
    try:
        return b"R" + protocol.encode((result, after))
    except protocol.Refused as exc:
        return b"X" + protocol.encode(str(exc))


def serve_solution(code, imports, fn_name):
    """Load the program, announce its names (or the type of the exception that stopped it),
    then answer calls until the supervisor closes the request pipe."""
    namespace = _fresh_main("__solution__")
    _fresh_stdio()
    try:
        try:
            exec(compile(code, "<solution>", "exec"), namespace)
        except SystemExit:
            pass
        for statement in imports:  # the tests' own imports, which a solution may rely on
            exec(compile(statement, "<tests>", "exec"), namespace)
        target = None
        if fn_name is not None:
            owner = namespace["Solution"]() if "Solution" in namespace and fn_name not in namespace else None
            target = getattr(owner, fn_name, None) if owner is not None else namespace.get(fn_name)
            if not callable(target):
                raise NameError(fn_name)
        announcement = b"Y" + protocol.encode(_names(namespace))
    except BaseException as exc:  # noqa: BLE001 - a program that does not load fails every case
        protocol.write_frame(REPLIES_FD, b"L" + protocol.encode(protocol.type_name(type(exc))))
        os._exit(1)
    protocol.write_frame(REPLIES_FD, announcement)
    while True:
        frame = protocol.read_frame(REQUESTS_FD, 1 << 30)
        if frame is None:
            os._exit(0)
        request = marshal.loads(frame)
        try:
            args, kwargs = protocol.decode(request["args"])
        except protocol.Refused as exc:
            protocol.write_frame(REPLIES_FD, b"X" + protocol.encode(str(exc)))
            continue
        fn = target if target is not None else namespace.get(request["name"])
        protocol.write_frame(REPLIES_FD, reply(fn, args, kwargs))


class SolutionGone(BaseException):
    """The solution can no longer answer (time limit, memory, a crash): every later call fails.
    A BaseException, so a test's `except Exception` cannot swallow it."""


class SolutionRefused(BaseException):
    """The solution answered with something that is not a plain value."""


def _send(message):
    protocol.write_frame(REPLIES_FD, protocol.encode(message))


def _receive():
    frame = protocol.read_frame(REQUESTS_FD, 1 << 30)
    if frame is None:
        os._exit(0)
    return marshal.loads(frame)


class Solution:
    """The solution process as the tests see it: its request and reply pipes, and its clock,
    running from its fork while it loads, then during each call."""

    def __init__(self, budget_ns, started_ns):
        self.own_stat = os.open("/proc/self/schedstat", os.O_RDONLY)
        self.last_delay = 0
        self.clock = Clock(budget_ns)
        self.clock.start(started_ns, self.delay, 0)
        self.reader = protocol.FrameReader(protocol.MAX_VALUE_BYTES + 64)
        self.gone = None  # why it can no longer answer
        os.set_blocking(SOLUTION_REQUESTS_FD, False)

    def delay(self):
        try:
            self.last_delay = schedstat(SOLUTION_STAT_FD)[1]
        except (OSError, IndexError):  # reaped (it has stopped waiting), or no schedstat at all
            pass
        return self.last_delay

    def lose(self, why):
        """Give up on it; the supervisor kills it (and finds out why, when it is gone)."""
        if why == "time_limit":
            self.clock.exhaust()
        self.clock.span = None
        self.gone = why
        _send(("solution", why))
        raise SolutionGone(why)

    def frame(self):
        """Its next frame, waited for while its clock runs."""
        poller = select.poll()
        poller.register(SOLUTION_REPLIES_FD, POLL_IN)
        while True:
            left = self.clock.left(time.monotonic_ns())
            if left <= 0:
                self.lose("time_limit")
            events, when = timed_poll(poller, left, self.own_stat)
            if not events:
                continue
            data = os.read(SOLUTION_REPLIES_FD, 1 << 20)
            if not data:
                self.lose("solution_gone")
            try:
                frames = self.reader.feed(data)
            except protocol.Refused:
                self.lose("output_limit")
            if frames:
                self.clock.stop(when)
                if len(frames) > 1:
                    self.lose("protocol")
                return frames[0]

    def call(self, name, payload):
        """Send one call and wait for its reply frame; SolutionGone when none can come."""
        if self.gone is not None:
            raise SolutionGone(self.gone)
        self.clock.start(time.monotonic_ns(), self.delay)
        view = memoryview(protocol.frame(marshal.dumps({"name": name, "args": payload})))
        poller = select.poll()
        poller.register(SOLUTION_REQUESTS_FD, select.POLLOUT)
        while view:  # a solution that stops reading must not hold the tests past its budget
            try:
                view = view[os.write(SOLUTION_REQUESTS_FD, view) :]
            except BlockingIOError:
                left = self.clock.left(time.monotonic_ns())
                if left <= 0:
                    self.lose("time_limit")
                timed_poll(poller, left, None)
            except BrokenPipeError:
                self.lose("solution_gone")
        return self.frame()


def _rebuild_exception(name, message):
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception):
        try:
            return kind(message)
        except Exception:  # noqa: BLE001 - types whose constructor wants more arguments
            pass
    return type(name, (Exception,), {})(message)


def _write_back(args, after):
    # A solution may be asked to change its arguments in place (sort a list, fill a dict).
    if type(after) is not list or len(after) != len(args):
        return
    for arg, new in zip(args, after):
        if type(arg) is list and type(new) is list:
            arg[:] = new
        elif type(arg) in (dict, set) and type(new) is type(arg):
            arg.clear()
            arg.update(new)


def _proxy(name, solution):
    def call(*args, **kwargs):
        try:
            payload = protocol.encode((args, kwargs))
        except protocol.Refused as exc:
            raise TypeError(f"argument to {name} is not plain data: {exc}") from None
        body = solution.call(name, payload)
        try:
            value = protocol.decode(body[1:])
        except protocol.Refused as exc:
            raise SolutionRefused(str(exc)) from None
        kind = body[:1]
        if kind == b"R" and type(value) is tuple and len(value) == 2:
            _write_back(args, value[1])
            return value[0]
        if kind == b"E" and type(value) is tuple and len(value) == 2 and type(value[0]) is str and type(value[1]) is str:
            exception = value[0] if value[0].isidentifier() and len(value[0]) <= 60 else "SolutionError"
            raise _rebuild_exception(exception, value[1])
        raise SolutionRefused(value if type(value) is str else "malformed reply")

    call.__name__ = call.__qualname__ = name
    return call


def _install(namespace, names, solution):
    if type(names) is not dict:
        return
    for name, kind in names.items():
        if type(name) is not str or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("__"):
            continue
        if hasattr(builtins, name) or type(kind) is not tuple or not kind:
            continue  # a solution never replaces a builtin the tests use (abs, len, sorted...)
        if kind == ("f",):
            namespace[name] = _proxy(name, solution)
        elif kind[0] == "m" and len(kind) == 2 and type(kind[1]) is str:
            module = kind[1]
            # Only a standard-library module, bound under its own name (import math, import
            # os.path, import collections.abc as abc): never a stand-in for another module.
            if module.split(".")[0] in sys.stdlib_module_names and name in (module.split(".")[0], module.split(".")[-1]):
                try:
                    __import__(module)
                    namespace[name] = sys.modules[module] if name == module.split(".")[-1] else sys.modules[module.split(".")[0]]
                except BaseException:  # noqa: BLE001 - the tests will fail on the missing name
                    pass
        elif kind[0] == "v" and len(kind) == 2:
            namespace[name] = kind[1]


def run_tests():
    """Receive the tests from the supervisor, wait for the solution to load, install its names,
    run the setup, then each test statement as one case, reporting ("case", index, passed,
    why) for each, and ("done", the solution's charged ns) at the end."""
    job = _receive()
    namespace = _fresh_main("__main__")
    _fresh_stdio()
    solution = Solution(job["budget_ns"], job["started_ns"])
    try:
        loaded = solution.frame()
    except SolutionGone:
        loaded = None
    if loaded is not None and loaded[:1] == b"L":
        name = _decoded(loaded[1:])
        _send(("load_failed", name if type(name) is str else "?"))
    elif loaded is not None:
        _install(namespace, _decoded(loaded[1:]), solution)
        _run_cases(namespace, job)
    _send(("done", solution.clock.used))
    os._exit(0)


def _run_cases(namespace, job):
    for statement in job["setup"]:
        try:
            exec(compile(statement, "<tests>", "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001 - reported, every case fails
            _send(("setup_failed", _why(exc)))
            return
    for index, statement in enumerate(job["tests"]):
        try:
            exec(compile(statement, "<tests>", "exec"), namespace)
            _send(("case", index, True, ""))
        except BaseException as exc:  # noqa: BLE001 - a failed case
            _send(("case", index, False, _why(exc)))


def _decoded(encoded):
    try:
        return protocol.decode(encoded)
    except protocol.Refused:
        return None


def _why(exc):
    if isinstance(exc, SolutionGone):
        return "solution_gone"
    if isinstance(exc, SolutionRefused):
        return "refused"
    return protocol.type_name(type(exc))
