"""The warm attach: a dataset the shared cache already holds, attached without DVC.

Importing DVC costs a new process about half a second, more than linking 5,000 files. When
every object is in the shared cache there is nothing for DVC to do, so this path reads what
it needs directly: the registry commit is resolved with libgit2 (pygit2, as scmrepo's
pygit2 backend resolves it), the dataset's ``.dvc`` file is read from the git tree at that
commit, its ``.dir`` manifest from the cache, and the import's ``.dvc`` file is written in
DVC's own format (ruamel.yaml as DVC dumps it, the stage md5 as DVC computes it) under DVC's
project lock (``.dvc/tmp/lock``, the same ``flock`` DVC takes).

A registry given as a remote git URL is read from a shared mirror of it (``mirror.py``).
Anything else -- a registry libgit2 cannot reach or resolve without DVC, a dataset tracked in
``dvc.yaml`` or inside a tracked folder, an object the cache lacks, a workspace without a
DVC project already pointed at the shared cache, an import already at the destination --
raises :class:`NotWarm` before anything is written, and the caller takes DVC's path.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import Conflict, LeptonError
from . import cache

if TYPE_CHECKING:
    import pygit2

# The keys of a ``dvc add`` output this path understands (annotations and push settings
# are not carried into an import); any other sends the attach to DVC.
_OUT_KEYS = {"md5", "size", "nfiles", "isexec", "hash", "path"}
# ``user@host:path``, git's scp-like ssh address.
_SCP_LIKE = re.compile(r"[^/:]+@[^/:]+:")
_OUT_IGNORED = {"desc", "type", "labels", "meta", "remote", "push"}
# What DVC leaves out of a stage's md5 (dvc.stage.utils.compute_md5).
_MD5_EXCLUDED = {
    "desc",
    "type",
    "labels",
    "meta",
    "locked",
    "frozen",
    "metric",
    "persist",
    "isexec",
    "size",
    "nfiles",
}


class NotWarm(Exception):
    """This attach needs DVC (what, in the message); nothing has been written."""


class RegistryTimeout(LeptonError):
    """A remote registry stopped answering: the attach fails, naming it (DVC's path would
    wait on it as long)."""

    status = 504


class ProjectNotReady(NotWarm):
    """The workspace has no DVC project pointed at the shared cache yet: DVC makes it (its
    own bookkeeping, once per workspace), then the warm path can attach."""


@dataclass(frozen=True)
class TrackedOutput:
    """A dataset as its ``.dvc`` file in the registry records it."""

    md5: str
    size: int | None
    nfiles: int | None
    isexec: bool

    @property
    def isdir(self) -> bool:
        return self.md5.endswith(".dir")

    @property
    def files(self) -> int:
        return (self.nfiles or 0) if self.isdir else 1


@dataclass(frozen=True)
class HeldImport:
    """The import a workspace's ``.dvc`` file records (DVC's lock for that destination)."""

    repo: dict[str, Any]
    path: str
    out_path: str
    out: TrackedOutput

    @property
    def rev_lock(self) -> str | None:
        return self.repo.get("rev_lock") or None


def held_import(dvc_file: Path) -> HeldImport | None:
    """What the ``.dvc`` file at the destination records; None when there is none."""
    if not os.path.lexists(dvc_file):
        return None
    try:
        stage = _load_yaml(dvc_file.read_bytes())
    except OSError:
        raise NotWarm(f"{dvc_file.name} cannot be read") from None
    deps = stage.get("deps") if isinstance(stage, dict) else None
    outs = stage.get("outs") if isinstance(stage, dict) else None
    if not (isinstance(deps, list) and isinstance(outs, list) and len(deps) == len(outs) == 1):
        raise NotWarm(f"{dvc_file.name} is not a single dataset import")
    dep, out = deps[0], outs[0]
    if (
        not isinstance(dep, dict)
        or not isinstance(dep.get("repo"), dict)
        or not isinstance(dep.get("path"), str)
        or not isinstance(out, dict)
        or not isinstance(out.get("path"), str)
        or out.get("hash", "md5") != "md5"
        or "wdir" in stage
    ):
        raise NotWarm(f"{dvc_file.name} is not an import this path reads")
    recorded = TrackedOutput(
        str(out.get("md5") or ""), out.get("size"), out.get("nfiles"), bool(out.get("isexec"))
    )
    return HeldImport(dep["repo"], dep["path"], out["path"], recorded)


class LocalRegistry:
    """A registry given as a local folder, opened in place (as DVC opens it)."""

    def __init__(self, url: str) -> None:
        import pygit2

        if not os.path.isdir(url):
            raise NotWarm(f"{url} is not a local folder")
        try:
            self.repo = pygit2.Repository(url, pygit2.enums.RepositoryOpenFlag.NO_SEARCH)
        except pygit2.GitError as e:
            raise NotWarm(f"libgit2 cannot open {url}: {e}") from None
        root = self.repo.workdir or self.repo.path
        if os.path.realpath(root) != os.path.realpath(url):
            raise NotWarm(f"{url} is not the root of its git repository")

    def resolve(self, rev: str | None) -> str:
        return resolve(self.repo, rev)


class Registry(Protocol):
    """What the warm path reads of a registry: the commit a rev names, and its git objects."""

    repo: pygit2.Repository

    def resolve(self, rev: str | None) -> str: ...


def open_registry(url: str, cache_dir: Path, timeout: float) -> Registry:
    """A local registry in place; a remote one through its shared mirror (``mirror.py``),
    whose network calls wait ``timeout`` seconds at most for an answer."""
    if "://" not in url and not _SCP_LIKE.match(url):
        return LocalRegistry(url)
    from .mirror import MirroredRegistry

    return MirroredRegistry(cache_dir, url, timeout)


def resolve(repo: pygit2.Repository, rev: str | None) -> str:
    """The commit ``rev`` names (default: HEAD), as scmrepo's pygit2 backend resolves it."""
    import pygit2

    try:
        obj, _ = repo.resolve_refish(rev or "HEAD")
        return str(obj.peel(pygit2.Commit).id)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        pass
    # A single exact match among the remotes' branches, as scmrepo looks it up.
    found = {
        str(ref.resolve().target)
        for remote in repo.remotes
        if (ref := repo.references.get(f"refs/remotes/{remote.name}/{rev}")) is not None
    }
    if len(found) != 1:
        raise NotWarm(f"{rev!r} is not a ref or commit of the registry")
    return found.pop()


def tracked_output(repo: pygit2.Repository, commit: str, path: str) -> TrackedOutput:
    """What ``<path>.dvc`` at ``commit`` records, when it is a plain ``dvc add`` file."""
    import pygit2

    try:
        tree = repo[commit].peel(pygit2.Tree)
        if tree[".dvc"].type_str != "tree":
            raise NotWarm("the registry has no .dvc folder")
        entry = tree[f"{path}.dvc"]
        if entry.type_str != "blob" or entry.filemode == pygit2.enums.FileMode.LINK:
            raise NotWarm(f"{path}.dvc is not a file")
        stage = _load_yaml(repo[entry.id].data)
    except KeyError:
        raise NotWarm(f"no {path}.dvc at {commit}") from None
    except pygit2.GitError as e:
        raise NotWarm(f"git cannot read {path}.dvc at {commit}: {e}") from None
    outs = stage.get("outs") if isinstance(stage, dict) else None
    if set(stage or {}) - {"outs", "desc", "meta"} or not isinstance(outs, list) or len(outs) != 1:
        raise NotWarm(f"{path}.dvc is not a single-output dvc add file")
    out = outs[0]
    if (
        not isinstance(out, dict)
        or set(out) - _OUT_KEYS - _OUT_IGNORED
        or out.get("path") != PurePosixPath(path).name
        or out.get("hash") != "md5"
        or not isinstance(out.get("md5"), str)
        or not out["md5"]
    ):
        raise NotWarm(f"{path}.dvc records an output this path does not read")
    return TrackedOutput(out["md5"], out.get("size"), out.get("nfiles"), bool(out.get("isexec")))


def cache_objects(cache_dir: Path, out: TrackedOutput, check: Any) -> list[tuple[str, str]]:
    """``(relative path, cache path)`` of each file; the manifest checked before it is read."""
    root = cache.objects_root(cache_dir)
    if not out.isdir:
        return [("", str(root / out.md5[:2] / out.md5[2:]))]
    manifest = str(root / out.md5[:2] / out.md5[2:])
    try:
        check(manifest)
    except FileNotFoundError:
        raise NotWarm("the dataset's manifest is not in the shared cache") from None
    base = str(root)
    return [(rel, f"{base}/{oid[:2]}/{oid[2:]}") for rel, oid in cache.manifest_entries(manifest)]


# -- the workspace's DVC project ------------------------------------------------------


def project_root(workspace: Path) -> Path:
    """The DVC project holding ``workspace`` (found as ``dvc.repo.Repo.find_root`` does)."""
    folder = workspace
    while True:
        if (folder / ".dvc").is_dir():
            return folder
        if os.path.ismount(folder) or folder.parent == folder:
            raise ProjectNotReady("the workspace is not in a DVC project yet")
        folder = folder.parent


def _config_files(root: Path) -> list[Path]:
    """DVC's config levels, lowest first: system, global, project, local."""
    home = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    system = (os.environ.get("XDG_CONFIG_DIRS") or "/etc/xdg").split(":")[0]
    return [
        Path(os.environ.get("DVC_SYSTEM_CONFIG_DIR") or f"{system}/dvc") / "config",
        Path(os.environ.get("DVC_GLOBAL_CONFIG_DIR") or f"{home}/dvc") / "config",
        root / ".dvc" / "config",
        root / ".dvc" / "config.local",
    ]


def project_config(root: Path) -> dict[str, dict[str, str]]:
    """The ``core`` and ``cache`` sections of the project's config, levels merged."""
    from configobj import ConfigObj, ConfigObjError

    merged: dict[str, dict[str, str]] = {"core": {}, "cache": {}}
    for path in _config_files(root):
        if not path.is_file():
            continue
        try:
            conf = ConfigObj(str(path), encoding="utf-8")
        except (ConfigObjError, OSError, UnicodeDecodeError):
            raise NotWarm(f"{path} is not a config this path reads") from None
        for section, values in merged.items():
            for key, value in (conf.get(section) or {}).items():
                values[key] = ",".join(value) if isinstance(value, list) else str(value)
    return merged


def check_project(root: Path, cache_config: dict[str, str]) -> bool:
    """That the project is pointed at the shared cache (a fresh clone's missing
    ``.dvc/config.local`` is written as DVC writes it) and takes the lock this path takes;
    returns whether the project uses git."""
    local = root / ".dvc" / "config.local"
    if not os.path.lexists(local):
        _write_local_config(local, cache_config)
    config = project_config(root)
    if any(config["cache"].get(k) != v for k, v in cache_config.items()):
        raise ProjectNotReady("the project is not pointed at the shared cache yet")
    core = config["core"]
    if _true(core.get("hardlink_lock")) or _true(core.get("autostage")):
        raise NotWarm("the project takes a hardlink lock or autostages in git")
    return not _true(core.get("no_scm"))


def _write_local_config(path: Path, cache_config: dict[str, str]) -> None:
    """``.dvc/config.local`` holding only the cache section (DVC saves it via configobj)."""
    from configobj import ConfigObj

    if path.parent.is_symlink():
        raise NotWarm(".dvc is a link")
    stream = io.BytesIO()
    ConfigObj({"cache": cache_config}).write(stream)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o666)
    except OSError:
        raise NotWarm(f"{path} cannot be created") from None
    with os.fdopen(fd, "wb") as f:
        f.write(stream.getvalue())


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes", "on")


@contextmanager
def project_lock(root: Path, retries: int = 6, wait: float = 3.0) -> Iterator[None]:
    """DVC's project lock (``flock`` on ``.dvc/tmp/lock``, retried as DVC retries it)."""
    tmp = root / ".dvc" / "tmp"
    tmp.mkdir(exist_ok=True)
    fd = os.open(tmp / "lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    try:
        for attempt in range(retries + 1):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == retries:
                    raise Conflict(
                        "The workspace's DVC project is busy (another dvc command or attach "
                        "holds its lock); try again."
                    ) from None
                time.sleep(wait / retries)
        os.ftruncate(fd, 0)
        os.write(fd, f" {os.getpid()}\n".encode())
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def stage_text(
    url: str, path: str, rev: str | None, commit: str, out: TrackedOutput, name: str
) -> str:
    """The import's ``.dvc`` file as ``dvc import`` writes it (key order, md5, format)."""
    repo: dict[str, Any] = {"url": url}
    if rev:
        repo["rev"] = rev
    repo["rev_lock"] = commit
    output: dict[str, Any] = {"md5": out.md5}
    if out.size is not None:
        output["size"] = out.size
    if out.isdir and out.nfiles is not None:
        output["nfiles"] = out.nfiles
    if out.isexec:
        output["isexec"] = True
    output["hash"] = "md5"
    output["path"] = name
    body = {"frozen": True, "deps": [{"path": path, "repo": repo}], "outs": [output]}
    stage = {"md5": _stage_md5(body), **body}
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    stream = io.StringIO()
    yaml.dump(stage, stream)
    return stream.getvalue()


def _stage_md5(stage: dict[str, Any]) -> str:
    def kept(value: Any) -> Any:
        if isinstance(value, list):
            return [kept(v) for v in value]
        if isinstance(value, dict):
            return {k: kept(v) for k, v in value.items() if k not in _MD5_EXCLUDED}
        return value

    return hashlib.md5(json.dumps(kept(stage), sort_keys=True).encode("utf-8")).hexdigest()


def _load_yaml(data: bytes) -> Any:
    from ruamel.yaml import YAML, YAMLError

    try:
        return YAML(typ="safe").load(data)
    except (YAMLError, UnicodeDecodeError):
        raise NotWarm("a .dvc file this path cannot parse") from None


def ignore_in_git(workspace_root: Path, dest: Path) -> None:
    """Add ``/<name>`` to the .gitignore beside ``dest`` unless git ignores it already, as
    scmrepo's ``Git.ignore`` does for DVC."""
    import pygit2

    try:
        repo = pygit2.Repository(str(workspace_root))
    except pygit2.GitError:
        return  # no git here: DVC's SCM would be missing too
    top = Path(repo.workdir or workspace_root).resolve()
    gitignore = dest.parent / ".gitignore"
    if not os.path.realpath(gitignore).startswith(str(top) + os.sep):
        return
    if repo.path_is_ignored(dest.relative_to(top).as_posix()):
        return
    entry = "/" + "".join(f"\\{c}" if c in "\\[]!*#?" else c for c in dest.name)
    with open(gitignore, "a+", encoding="utf-8") as f:
        f.seek(0)
        lines = set(f.readlines())
        end = f.seek(0, os.SEEK_END)
        prefix = ""
        if end:
            f.seek(end - 1)
            prefix = "" if f.read(1) == "\n" else "\n"
        if f"{prefix}{entry}\n" not in lines:
            f.write(f"{prefix}{entry}\n")
