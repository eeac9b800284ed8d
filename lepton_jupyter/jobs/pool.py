"""The warm pool: local jobs start from an interpreter that has torch imported already.

A pool is one process per user, interpreter and lepton installation (owned by the Jupyter
server, or by the kernel that started it, and gone with its owner). It imports torch, the
elastic agent, the supervisor and the worker once, never user code, and never touches CUDA.
``launch()`` hands it a job over a Unix socket (mode 0600 in a 0700 folder, the caller's
uid checked): the pool forks the job's supervisor, which leaves for a session of its own
and from there is what ``python -m lepton_jupyter.jobs.supervisor <job_dir>`` would be
(the same command line, the kernel's environment and working folder, the job's GPU locks
passed over the socket). Its agent forks each rank, fresh for every job and every elastic
restart, so nothing that ran user code is ever reused, and there is nothing to refill: the
pool itself never changes. The kernel is never forked.

The pool collects the supervisors it forked. One that ended without recording the job's end
(killed -9, out of memory) stays a zombie while a process forked for it records how it
ended (the signal or exit code) and ends whatever of the job is left, as the kernel does for
a supervisor it started fresh; readers of the job wait for that record meanwhile.

A pool that cannot serve a job exactly as a fresh supervisor would (another interpreter,
changed lepton files, an environment variable that torch reads at import differing)
refuses it, and ``launch()`` starts the supervisor fresh, as without a pool.

The client half (:func:`hand_over`, :func:`start`) is standard library only: the kernel
imports it. Both halves stay in this one module (~560 lines) on purpose: the pool refuses a
job when the lepton files it loaded changed, so the protocol, the socket path and the
import-time environment both sides compare must come from one file, not two that could be
updated apart.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .._process import ended_child, pid_alive
from .folder import JOB_DIR_ENV, JOB_ID_ENV, JobFolder, set_process_title
from .reaping import exit_with

MODULE = "lepton_jupyter.jobs.pool"
SUPERVISOR_MODULE = "lepton_jupyter.jobs.supervisor"
PROTOCOL = 1
DIR_ENV = "LEPTON_JOB_POOL_DIR"
#: What every job's supervisor, agent and ranks import; ``job_pool_preload`` adds to it.
#: ``torch._dynamo`` is what a training step imports: DistributedDataParallel's constructor
#: reads its settings (and ``torch.compile`` runs on it), 3 s of imports (sympy, inductor's
#: config) each rank would otherwise pay before its first step. It touches no GPU.
PRELOAD = (
    "torch",
    "torch.distributed",
    "torch.distributed.launcher.api",
    "torch._dynamo",
    "cloudpickle",
    "lepton_jupyter.jobs.supervisor",
    "lepton_jupyter.jobs.worker",
    "lepton_jupyter.jobs.backends.local",
    "lepton_jupyter.jobs.backends.rendezvous",
    "lepton_jupyter.jobs.store",
)
#: Variables read when the pool's modules are imported (torch, its compiler's settings,
#: sympy): a job whose environment sets them otherwise than the pool's cannot use the
#: pool's import. The names torch 2.13's imports read, found by recording every
#: ``os.environ`` read while a pool warms up (less the shell's own: PATH, HOME, PWD...),
#: and the native libraries'. ``OMP_NUM_THREADS`` is not one: each rank applies its own.
IMPORT_TIME_ENV = (
    *("PYTHON", "LD_", "TORCH", "PYTORCH_", "MKL_", "KMP_", "GOMP_", "OMP_", "KINETO_"),
    *("AOT", "INDUCTOR_", "TRITON_", "CUTLASS_", "CUTEDSL_", "PARTITIONER_", "PT2_", "FX_"),
    *("SYMPY_", "MPMATH_", "NPY_", "NUMPY_", "CXX", "LOGLEVEL", "LOG_TLPARSE", "COMPILE_"),
    *("LOG_AUTOTUNE_RESULTS", "FAKE_ALLOW_META", "UNSAFE_SKIP_FSDP_MODULE_GUARDS"),
    *("ENABLE_PERSISTENT_TMA_MATMUL", "ENABLE_TEMPLATE_TMA_STORE", "ENABLE_TMA_LOAD_FOR_"),
    "DUMP_AOTI_MINIFIER",
)
NOT_IMPORT_TIME_ENV = frozenset({"OMP_NUM_THREADS", "MKL_NUM_THREADS", "PYTHONUNBUFFERED"})
#: Seconds the pool waits between checks of its owner.
TICK = 0.5
REPLY_TIMEOUT = 30.0
MAX_REQUEST = 4 << 20


class PoolUnavailable(Exception):
    """No pool can take this job (none running, or it refused); start it fresh."""


def _package_dir() -> str:
    return str(Path(__file__).resolve().parents[1])


def pool_dir() -> Path:
    """This user's folder of pool sockets: short enough for a socket path, private
    (``LEPTON_JOB_POOL_DIR`` elsewhere: tests keep their pools apart)."""
    given = os.environ.get(DIR_ENV)
    return Path(given) if given else Path(tempfile.gettempdir()) / f"lepton-pool-{os.getuid()}"


def socket_path(python: str) -> Path:
    """The socket of the pool for ``python`` and this lepton installation. The path as
    given, not resolved: two virtual environments share a binary, not their packages."""
    key = f"{os.path.abspath(python)}\0{_package_dir()}\0{PROTOCOL}"
    return pool_dir() / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.sock"


def _private_dir() -> Path:
    """The pool folder, made 0700; refused when it is a link, another user's or open to
    others (someone could put a socket of theirs there)."""
    folder = pool_dir()
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = folder.lstat()
    if not folder.is_dir() or folder.is_symlink():
        raise PoolUnavailable(f"{folder} is not a folder")
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PoolUnavailable(f"{folder} is not private to this user (uid and mode 0700)")
    return folder


def import_time_env(env: dict[str, str]) -> dict[str, str]:
    return {
        k: v
        for k, v in env.items()
        if k.startswith(IMPORT_TIME_ENV) and k not in NOT_IMPORT_TIME_ENV
    }


def _modules_files() -> dict[str, int]:
    """Modification times of lepton's loaded modules: a pool whose code changed on disk
    (an upgrade, an edit) must not run it any longer."""
    root = _package_dir()
    found = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and path.startswith(root):
            with contextlib.suppress(OSError):
                found[path] = os.stat(path).st_mtime_ns
    return found


# -- the kernel's half -------------------------------------------------------------------


def hand_over(python: str, job_dir: Path, env: dict[str, str], cwd: str, fds: list[int]) -> int:
    """Have the pool start the supervisor of the job at ``job_dir``; its pid.

    ``env`` and ``cwd`` are what a fresh supervisor would get; ``fds`` (the job's GPU
    locks) are passed to it. Raises PoolUnavailable when there is no pool or it refuses.
    """
    try:
        _private_dir()  # a socket in a folder others could write to could be anyone's
    except OSError as e:
        raise PoolUnavailable(f"no pool folder ({e})") from None
    path = socket_path(python)
    request = {
        "protocol": PROTOCOL,
        "python": os.path.abspath(python),
        "package": _package_dir(),
        "job_dir": str(job_dir),
        "cwd": cwd,
        "env": env,
    }
    data = json.dumps(request).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(REPLY_TIMEOUT)
        try:
            conn.connect(str(path))
        except OSError as e:
            raise PoolUnavailable(f"no pool at {path} ({e.strerror})") from None
        try:
            sent = socket.send_fds(conn, [data], fds)
            conn.sendall(data[sent:])
            reply = _read_line(conn)
        except OSError as e:
            raise PoolUnavailable(f"the pool at {path} failed: {e}") from None
    try:
        answer = json.loads(reply)
    except ValueError:
        raise PoolUnavailable(f"the pool at {path} gave no answer") from None
    if "pid" not in answer:
        raise PoolUnavailable(answer.get("error", "the pool refused the job"))
    return int(answer["pid"])


def _read_line(conn: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(1 << 16)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST:
            raise OSError("message too long")
    return data


def running(python: str) -> bool:
    """Whether a pool for ``python`` runs (or is starting) here."""
    lock = socket_path(python).with_suffix(".lock")
    try:
        fd = os.open(lock, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def start(python: str, owner: int, preload: list[str] | None = None) -> subprocess.Popen | None:
    """Start a pool for ``python`` that lives as long as process ``owner``; None when one
    runs already. The caller reaps it (or leaves that to :func:`start_in_background`)."""
    try:
        folder = _private_dir()
    except (OSError, PoolUnavailable):
        return None
    if running(python):
        return None
    env = {k: v for k, v in os.environ.items() if k not in (JOB_DIR_ENV, JOB_ID_ENV)}
    command = [python, "-m", MODULE, "--owner", str(owner)]
    if preload:
        command += ["--preload", ",".join(preload)]
    log_fd = os.open(folder / "pool.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with open(log_fd, "ab") as log:
        return subprocess.Popen(
            command,
            env=env,
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )


def start_in_background(python: str, preload: list[str] | None = None) -> None:
    """Start a pool owned by this process for its next launches, if none runs."""
    proc = start(python, os.getpid(), preload)
    if proc is not None:
        threading.Thread(target=proc.wait, name="reap-job-pool", daemon=True).start()


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """End a pool this process started (SIGTERM, then SIGKILL), by its pid."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# -- the pool ----------------------------------------------------------------------------


class Pool:
    """The serving loop: one request at a time, each a fork that answers for itself."""

    def __init__(self, owner: int, preload: list[str]) -> None:
        self.owner = owner
        self.python = os.path.abspath(sys.executable)
        self.path = socket_path(sys.executable)
        self.preload = preload
        self.env = import_time_env(dict(os.environ))
        self.files: dict[str, int] = {}
        self.lock_fd = -1
        self.listener: socket.socket | None = None
        self.selector = selectors.DefaultSelector()
        #: The supervisors this pool forked and has not collected: pid -> job folder.
        self.supervisors: dict[int, str] = {}
        #: Supervisors that ended unrecorded -> the process recording how they ended.
        self.recorders: dict[int, int] = {}
        #: Written to (by Python's signal handling) when a child ends: wakes the loop.
        self.child_ended_r, self.child_ended_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def claim(self) -> bool:
        """Take the pool's lock (one pool per socket); False when another pool has it."""
        _private_dir()
        lock = self.path.with_suffix(".lock")
        self.lock_fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(self.lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        os.ftruncate(self.lock_fd, 0)
        os.write(self.lock_fd, f"{os.getpid()}\n".encode())
        return True

    def warm_up(self) -> None:
        import importlib

        for name in [*PRELOAD, *self.preload]:
            try:
                importlib.import_module(name)
            except Exception as e:  # a preload the user named wrong costs the warmth only
                print(f"lepton job pool: cannot preload {name}: {e!r}", flush=True)
        self.files = _modules_files()

    def listen(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # ours: we hold the lock
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(str(self.path))
        finally:
            os.umask(old)
        listener.listen(16)
        self.listener = listener

    def serve(self) -> None:
        assert self.listener is not None
        self.selector.register(self.listener, selectors.EVENT_READ)
        self.selector.register(self.child_ended_r, selectors.EVENT_READ)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the pipe is written
        signal.set_wakeup_fd(self.child_ended_w, warn_on_full_buffer=False)
        while pid_alive(self.owner) and not self._stale():
            for key, _ in self.selector.select(TICK):
                if key.fileobj is self.listener:
                    conn, _ = self.listener.accept()
                    with conn:
                        self.answer(conn)
                else:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self.child_ended_r, 4096)
            self._reap()

    def close(self, timeout: float = 30.0) -> None:
        """Stop serving; the records being written are finished first (running jobs go on:
        their supervisors are collected by init then)."""
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self.listener.close()
        deadline = time.monotonic() + timeout
        while self.recorders and time.monotonic() < deadline:
            self._reap()
            time.sleep(0.05)

    def _stale(self) -> bool:
        return _modules_files() != self.files

    def _own_fds(self) -> list[int]:
        """What a forked child must close to leave the pool (its socket, lock and wake-up)."""
        assert self.listener is not None
        return [
            self.listener.fileno(),
            self.lock_fd,
            self.selector.fileno(),
            self.child_ended_r,
            self.child_ended_w,
        ]

    def _reap(self) -> None:
        """Collect ended supervisors; one that ended without success is collected only once
        a forked recorder wrote how it ended (exit 0 is a job that recorded its success)."""
        for supervisor, recorder in list(self.recorders.items()):
            with contextlib.suppress(ChildProcessError):
                if os.waitpid(recorder, os.WNOHANG)[0] == 0:
                    continue
            del self.recorders[supervisor]
            self._collect(supervisor)
        for pid, job_dir in list(self.supervisors.items()):
            if pid in self.recorders:
                continue
            try:
                returncode = ended_child(pid, os.WNOHANG)
            except ChildProcessError:
                self.supervisors.pop(pid)
                continue
            if returncode is None:
                continue
            if returncode == 0:
                self._collect(pid)
                continue
            try:
                self.recorders[pid] = self._fork_recorder(job_dir, pid, returncode)
            except OSError as e:  # no process for it: readers find the job's end unrecorded
                print(f"job {job_dir}: cannot record how supervisor {pid} ended: {e}", flush=True)
                self._collect(pid)
        self._collect_strays()

    def _collect(self, pid: int) -> None:
        self.supervisors.pop(pid, None)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)

    def _fork_recorder(self, job_dir: str, pid: int, returncode: int) -> int:
        """A child that records how the supervisor ``pid`` ended and ends what is left of
        its job (seconds, at worst: never in the serving loop)."""
        sys.stdout.flush()
        sys.stderr.flush()
        child = os.fork()
        if child == 0:
            _leave_pool(self._own_fds())
            exit_with(lambda: _record_end(job_dir, pid, returncode))
        print(
            f"job {job_dir}: supervisor {pid} ended ({returncode}), recorded by {child}", flush=True
        )
        return child

    def _collect_strays(self) -> None:
        """Collect ended children that are neither supervisors nor recorders (an import's
        helper process, say): none is left a zombie."""
        known = set(self.supervisors) | set(self.recorders.values())
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid in known:
                return
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.si_pid, 0)

    def refusal(self, request: dict[str, Any]) -> str | None:
        """Why this pool cannot start the job as a fresh supervisor would; None if it can."""
        if request.get("protocol") != PROTOCOL:
            return f"protocol {request.get('protocol')!r}, the pool speaks {PROTOCOL}"
        if request.get("python") != self.python:
            return f"interpreter {request.get('python')}, the pool runs {self.python}"
        if request.get("package") != _package_dir():
            return f"lepton at {request.get('package')}, the pool imported {_package_dir()}"
        if self._stale():
            return "lepton's files changed since the pool started"
        env = request.get("env")
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            return "no environment"
        differing = sorted(set(import_time_env(env).items()) ^ set(self.env.items()))
        if differing:
            names = sorted({k for k, _ in differing})
            return f"{', '.join(names)} differ from the pool's (read when torch is imported)"
        return None

    def answer(self, conn: socket.socket) -> None:
        assert self.listener is not None
        fds: list[int] = []
        try:
            conn.settimeout(REPLY_TIMEOUT)
            uid = struct.unpack("3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))[1]
            if uid != os.getuid():
                return  # the socket is 0600: only a root process gets here; not served
            data, fds, _, _ = socket.recv_fds(conn, 1 << 16, 16)
            while data and not data.endswith(b"\n") and len(data) < MAX_REQUEST:
                chunk = conn.recv(1 << 16)
                if not chunk:
                    break
                data += chunk
            request = json.loads(data)
            why = self.refusal(request) if isinstance(request, dict) else "not a request"
            if why is not None:
                conn.sendall(json.dumps({"error": f"the warm job pool: {why}"}).encode() + b"\n")
                return
            sys.stdout.flush()
            sys.stderr.flush()
            child = os.fork()
            if child == 0:
                pool_fds = self._own_fds()
                exit_with(lambda: _become_supervisor(request, conn, pool_fds))
            self.supervisors[child] = request["job_dir"]
            print(f"job {request['job_dir']}: supervisor {child}", flush=True)
        except Exception as e:
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps({"error": f"the warm job pool failed: {e!r}"}).encode())
        finally:
            for fd in fds:
                os.close(fd)


def _become_supervisor(request: dict[str, Any], conn: socket.socket, pool_fds: list[int]) -> int:
    """In the forked child: leave the pool, turn into the job's supervisor, answer the
    kernel with this pid once the command line names the job, run the job."""
    # First the job's log: whatever fails from here on is written where the job's is.
    job_dir = request["job_dir"]
    null = os.open(os.devnull, os.O_RDONLY)
    log = os.open(JobFolder(job_dir).supervisor_log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    os.dup2(null, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    os.close(null)
    os.close(log)
    _leave_pool(pool_fds)
    os.setsid()
    from .supervisor import main

    set_process_title(f"{request['python']} -m {SUPERVISOR_MODULE} {job_dir}")
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    tempfile.tempdir = None  # the pool's, cached; the job's TMPDIR decides, as when fresh
    conn.sendall(json.dumps({"pid": os.getpid()}).encode() + b"\n")
    conn.close()
    return main(job_dir)


def _leave_pool(pool_fds: list[int]) -> None:
    """In a forked child: the pool's signal handling undone, its socket, lock and wake-up
    pipe closed (they stay the pool's: a child holding the lock would keep it "running")."""
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    for fd in pool_fds:
        os.close(fd)


def _record_end(job_dir: str, pid: int, returncode: int) -> int:
    """In a forked child: record how the job's supervisor ended, as the kernel records a
    fresh one's (``supervision.supervisor_ended``), in the job's own store."""
    from .schema import JobSpec
    from .store import JobStore
    from .supervision import supervisor_ended

    spec = JobSpec.model_validate(JobFolder(job_dir).read_spec())
    supervisor_ended(JobStore(spec.store_url), spec.id, pid, returncode)
    return 0


def main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__)
    parser.add_argument("--owner", type=int, required=True, help="Serve while this pid lives.")
    parser.add_argument("--preload", default="", help="More modules to import, comma-separated.")
    args = parser.parse_args(argv)
    pool = Pool(args.owner, [m for m in args.preload.split(",") if m])
    if not pool.claim():
        return 0  # another pool serves this interpreter already
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    started = time.monotonic()
    pool.warm_up()
    pool.listen()
    print(
        f"lepton job pool {os.getpid()} serving {pool.path} (owner {args.owner}, warm in "
        f"{time.monotonic() - started:.1f} s)",
        flush=True,
    )
    try:
        pool.serve()
    finally:
        pool.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
