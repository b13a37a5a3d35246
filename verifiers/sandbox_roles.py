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
  defines are proxies here: calling one sends the call to the solution process and returns the
  decoded value. A solution can therefore neither see the tests nor hand them an object that
  compares equal to anything. A name the tests define themselves, and every builtin, is never
  taken from the solution.

Everything a child sends goes through the supervisor, which times it.

Example (the server's reply to one call: its kind, then the value and the list argument):
    >>> frame = reply(sum, [[1, 2]], {})
    >>> frame[:1], protocol.decode(frame[1:])
    (b'R', (3, [[1, 2]]))
"""

import builtins
import keyword
import marshal
import os
import sys
import types

try:  # inside the sandbox this folder is on sys.path; on the host it is a package module
    import sandbox_protocol as protocol
except ImportError:
    from assay.verifiers import sandbox_protocol as protocol

REQUESTS_FD = 3  # supervisor -> this process (server, tests)
REPLIES_FD = 4  # this process -> supervisor (server, tests)
STATUS_FD = 3  # stdio case: the type of the exception that ended it (reason text only)
MAX_MESSAGE_CHARS = 500  # of an exception message passed from the solution to the tests


def _fresh_main(name):
    """An empty module registered as __main__ (and under `name`): the program's globals."""
    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = sys.modules[name] = module
    sys.argv = ["solution.py"]
    return module.__dict__


def _fresh_stdio():
    sys.stdin = open(0, "r", encoding="utf-8", closefd=False)
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
                protocol.encode(value)
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
    """The solution process is gone (time limit, memory, a crash): every later call fails.
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


def _proxy(name):
    def call(*args, **kwargs):
        try:
            payload = protocol.encode((args, kwargs))
        except protocol.Refused as exc:
            raise TypeError(f"argument to {name} is not plain data: {exc}") from None
        _send(("call", name, payload))
        answer = _receive()
        if "dead" in answer:
            raise SolutionGone(answer["dead"])
        body = answer["reply"]
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


def _install(namespace, names):
    if type(names) is not dict:
        return
    for name, kind in names.items():
        if type(name) is not str or not name.isidentifier() or keyword.iskeyword(name) or name.startswith("__"):
            continue
        if hasattr(builtins, name) or type(kind) is not tuple or not kind:
            continue  # a solution never replaces a builtin the tests use (abs, len, sorted...)
        if kind == ("f",):
            namespace[name] = _proxy(name)
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
    """Receive the tests and the solution's names from the supervisor, run the setup, then each
    test statement as one case, reporting ("case", index, passed, why) for each."""
    job = _receive()
    namespace = _fresh_main("__main__")
    _fresh_stdio()
    try:
        _install(namespace, protocol.decode(job["names"]))
    except protocol.Refused:
        pass
    for statement in job["setup"]:
        try:
            exec(compile(statement, "<tests>", "exec"), namespace)
        except BaseException as exc:  # noqa: BLE001 - reported, every case fails
            _send(("setup_failed", _why(exc)))
            os._exit(0)
    for index, statement in enumerate(job["tests"]):
        try:
            exec(compile(statement, "<tests>", "exec"), namespace)
            _send(("case", index, True, ""))
        except BaseException as exc:  # noqa: BLE001 - a failed case
            _send(("case", index, False, _why(exc)))
    _send(("done",))
    os._exit(0)


def _why(exc):
    if isinstance(exc, SolutionGone):
        return "solution_gone"
    if isinstance(exc, SolutionRefused):
        return "refused"
    return protocol.type_name(type(exc))
