"""Files a run writes: atomic replacement (temp file + rename, stale temps of dead writers cleared), directories
made with a message naming the setting, no link followed below an output directory, the process umask, and
content hashes."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
import socket
import stat
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ganaug.base.checks import check_dir_setting
from ganaug.errors import OutputError

log = logging.getLogger(__name__)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def default_file_mode() -> int:
    return 0o666 & ~_umask()


def default_dir_mode() -> int:
    return 0o777 & ~_umask()


# Temporaries are named .<file>.<host>-<pid>.<random>.tmp. The next writer of that file removes a
# killed writer's temporary: at once when it was this machine's and its pid has ended (a dead writer
# whose pid was reused keeps its debris until that pid ends, erring on the side of never deleting
# live data), and for any machine sharing the file system once nobody has touched it for
# STALE_AFTER_S (a live writer touches its temporary as it fills it). Neither rule schedules work.
STALE_AFTER_S = 3600.0
_HOST = re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname()) or "host"


def temp_prefix(path: Path, pid: int | None = None) -> str:
    """The start of the name of a temporary that will be renamed to `path`."""
    return f".{Path(path).name}.{_HOST}-{os.getpid() if pid is None else pid}."


def make_temp(path: Path, dir_fd: int | None = None) -> tuple[int, str]:
    """A new temporary beside `path` under ganaug's temporary name: its descriptor and its name. By name (no
    ``dir_fd``): a file opened for writing, with the umask's mode (not mkstemp's 0600, which would make results
    unreadable to others). In the open directory ``dir_fd``: a private directory (mode 0700) for `_temp`,
    opened as a directory; its name is relative to ``dir_fd``."""
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
             | getattr(os, "O_BINARY", 0))
    for _ in range(100):
        name = f"{temp_prefix(path)}{os.urandom(6).hex()}.tmp"
        try:
            if dir_fd is None:
                name = str(Path(path).parent / name)
                return os.open(name, flags, default_file_mode()), name
            os.mkdir(name, 0o700, dir_fd=dir_fd)
            return os.open(name, _DIR | os.O_NOFOLLOW, dir_fd=dir_fd), name
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name after 100 tries", str(path))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process, or a number we cannot judge: keep its files
    return True


def remove_stale_temps(directory: Path, names: Iterable[str], older_than: float = STALE_AFTER_S) -> list[Path]:
    """Delete the temporaries for `names` in `directory` whose writer was killed (see above); those it cannot
    (another user's) are left. A private temporary directory (`_temp`) is recognised by its 12-hex-digit
    name and plain files inside, and is as fresh as the newest of them."""
    alternatives = "|".join(re.escape(n) for n in names)
    pattern = re.compile(rf"\.(?:{alternatives})\.(.+)-(\d+)\.([^/.]+)\.tmp")
    now, removed = time.time(), []
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return removed
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if not m:
            continue
        try:
            touched = entry.stat(follow_symlinks=False).st_mtime
            is_dir = entry.is_dir(follow_symlinks=False)
            if is_dir:
                if not re.fullmatch(r"[0-9a-f]{12}", m[3]):
                    continue  # not a name `make_temp` gives
                inside = list(os.scandir(entry.path))
                if any(not e.is_file(follow_symlinks=False) for e in inside):
                    continue  # a temporary holds files only: someone's folder
                touched = max([touched] + [e.stat(follow_symlinks=False).st_mtime for e in inside])
        except FileNotFoundError:  # renamed or removed by its writer meanwhile
            continue
        except OSError:  # another user's private temporary: theirs to clear
            continue
        if now - touched > older_than or (m[1] == _HOST and not _pid_alive(int(m[2]))):
            try:
                if is_dir:
                    shutil.rmtree(entry.path)  # rmtree does not follow links inside
                else:
                    os.unlink(entry.path)
            except FileNotFoundError:
                pass
            except OSError:
                continue
            removed.append(Path(entry.path))
    return removed


def output_error(path: Path, e: OSError, what: str = "write") -> OutputError:
    """An OSError as a message that names the file and the fix (OutputError is still an OSError)."""
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = f"make {Path(path).parent} writable by this user or choose another location"
    elif e.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = f"free disk space under {Path(path).parent} or choose another location"
    else:
        fix = "choose another location"
    err = OutputError(f"cannot {what} {path}: {e.strerror or e}; {fix}")
    err.errno = e.errno
    return err


# Nothing follows a link it did not make. The directory a setting names may be a link (runs/ on a bigger disk),
# but anyone who can write in it could plant a link below it (banks/<g>/unfiltered -> someone's data) and have
# a run write, or read the scores that decide a recipe, through it. A held output directory (`hold_dir`) is
# registered here while held, and every directory made or record read below it is refused while any
# component between it and the target is a link.
_held_roots: list[tuple[Path, Path, str]] = []  # (as given, made absolute; its real path; the setting naming it)


def _absolute(path: str | os.PathLike) -> Path:
    # Not resolve() nor abspath(): following links or folding ".." here would hide the link being looked for.
    return Path(path).absolute()


@contextmanager
def output_root(path: str | os.PathLike, setting: str) -> Iterator[Path]:
    """Register ``path`` (a directory a setting names) as an output root for the block: below it, `make_dir`,
    `atomic_file` and `check_unlinked` refuse links."""
    entry = (_absolute(path), Path(os.path.realpath(path)), setting)
    _held_roots.append(entry)
    try:
        yield Path(path)
    finally:
        _held_roots.remove(entry)


def _root_of(path: Path) -> tuple[Path, str] | None:
    """The outermost held root ``path`` lies below (as given or as its real path), with its setting."""
    found = None
    for given, real, setting in _held_roots:
        for root in (given, real):
            if path.is_relative_to(root) and (found is None or len(root.parts) < len(found[0].parts)):
                found = (root, setting)
    return found


def check_unlinked(path: str | os.PathLike, below: str | os.PathLike | None = None,
                   setting: str | None = None) -> Path:
    """``path``, once no existing component of it below ``below`` (default: the outermost held output root
    it lies in; none: nothing to check) is a symbolic link; else an OutputError naming the link and the way
    out, choosing another ``setting`` (default: the root's). Components that do not exist yet are not links."""
    target = _absolute(path)
    held = _root_of(target)
    if below is not None:
        root, named = _absolute(below), held and held[1]
    elif held is None:
        return Path(path)
    else:
        root, named = held
    if not target.is_relative_to(root):
        return Path(path)
    current = root
    for part in target.relative_to(root).parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except (FileNotFoundError, NotADirectoryError):
            break  # the rest is made by ganaug, or a file in the way that `make_dir` names
        except OSError as e:
            raise output_error(current, e, "read") from e
        if stat.S_ISLNK(mode):
            raise _link_error(current, root, setting or named)
    return Path(path)


def _link_error(link: Path, root: Path, setting: str | None) -> OutputError:
    try:
        to = f" (to {os.readlink(link)})"
    except OSError:
        to = ""
    err = OutputError(f"{link} is a symbolic link{to} below {root}, which ganaug did not make and does not "
                      f"follow: remove the link, or choose another {setting or 'location'}")
    err.errno = errno.ELOOP
    return err


# A check by name is look-then-use: a writer racing between the look and the use could still swap a checked
# directory for a link. Where the platform allows, directories below a held root are therefore made and opened one
# component at a time from the root without following a link, and a file is written through the opened directory
# (its /proc/self/fd path), so a link swapped in after the check is refused or bypassed, never followed.
# os.replace takes the same src_dir_fd/dst_dir_fd as os.rename (one C function) but is not listed in supports_dir_fd.
_WALK = (all(hasattr(os, f) for f in ("O_NOFOLLOW", "O_DIRECTORY")) and os.open in os.supports_dir_fd
         and os.mkdir in os.supports_dir_fd and os.rename in os.supports_dir_fd and os.path.isdir("/proc/self/fd"))
# O_PATH: a directory a user may write but not list (mode 0300) is written as it was by name.
_DIR = getattr(os, "O_PATH", os.O_RDONLY) | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)


def _walk_from_root(path: Path, root: Path, setting: str, make: bool) -> int:
    """A descriptor of the directory ``path`` below the held root ``root``, reached one component at a time
    without following a link (each made first if ``make``). The caller closes it. A link on the way is an
    OutputError naming it; a missing component, FileNotFoundError; a file in the way, NotADirectoryError."""
    try:
        fd = os.open(root, _DIR)  # the root itself may be the user's link
    except FileNotFoundError:
        err = OutputError(f"{root}, the directory {setting} names, is gone: it was removed while this run held "
                          f"it; rerun (finished work stored elsewhere is kept), or choose another {setting}")
        err.errno = errno.ENOENT
        raise err from None
    try:
        current = root
        for part in path.relative_to(root).parts:
            current = current / part
            if make:
                try:
                    os.mkdir(part, dir_fd=fd)
                except FileExistsError:
                    pass
            try:
                below = os.open(part, _DIR | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as e:
                if e.errno == errno.ELOOP or (e.errno == errno.ENOTDIR and os.path.islink(current)):
                    raise _link_error(current, root, setting) from None
                raise
            os.close(fd)
            fd = below
        return fd
    except BaseException:
        os.close(fd)
        raise


@contextmanager
def _in_parent(path: Path) -> Iterator[tuple[int | None, str]]:
    """``path``'s directory and name, for a call taking ``dir_fd``: below a held root, the directory is reached
    from it without following a link (`_walk_from_root`); elsewhere, or where `_WALK` is off, (None, path)."""
    target = _absolute(path)
    held = _root_of(target.parent) if _WALK else None
    if held is None:
        yield None, str(path)
        return
    fd = _walk_from_root(target.parent, *held, make=False)
    try:
        yield fd, target.name
    finally:
        os.close(fd)


def remove(path: str | os.PathLike, *, tree: bool = False, best_effort: bool = False) -> None:
    """Delete the file ``path`` (with ``tree``, also a directory and all below it) if it is there, following no
    link: a link at ``path`` is removed itself, and below a held root none between it and ``path`` is followed
    (`_in_parent`), so a directory swapped for a link cannot make this delete someone's files. With
    ``best_effort``, a failure other than such a link is logged and the debris left (cleaning up must not stop
    the work it cleans up after)."""
    path = Path(path)
    try:
        check_unlinked(path.parent)
        with _in_parent(path) as (fd, name):
            try:
                mode = os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode
            except FileNotFoundError:
                return
            if stat.S_ISDIR(mode) and tree:
                shutil.rmtree(name, dir_fd=fd)
            elif stat.S_ISDIR(mode):
                raise IsADirectoryError(errno.EISDIR, "a directory where a file was expected", str(path))
            else:
                os.unlink(name, dir_fd=fd)
    except FileNotFoundError:  # gone meanwhile, or its directory is
        return
    except OSError as e:
        if isinstance(e, OutputError) and e.errno == errno.ELOOP:
            raise
        if isinstance(e, OutputError):
            err = e
        elif e.errno in (errno.EACCES, errno.EPERM):
            err = OutputError(f"cannot remove {path}: {e.strerror or e}; something in it is not this user's to "
                              "delete: remove it by hand, or ask its owner")
            err.errno = e.errno
        else:
            err = output_error(path, e, "remove")
        if not best_effort:
            raise err from e
        log.warning("%s; left in place", err)


def move(src: str | os.PathLike, dst: str | os.PathLike) -> None:
    """os.replace(src, dst), following no link below a held root on either side (`_in_parent`)."""
    src, dst = Path(src), Path(dst)
    check_unlinked(src.parent), check_unlinked(dst.parent)  # a link at either name is moved or replaced itself
    try:
        with _in_parent(src) as (src_fd, src_name), _in_parent(dst) as (dst_fd, dst_name):
            os.replace(src_name, dst_name, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
    except OSError as e:
        if isinstance(e, OutputError):
            raise
        raise output_error(dst, e, f"move {src} to") from e


def make_setting_dir(value, setting: str) -> Path:
    """`make_dir` for the directory a setting names: an empty one is refused, and a failure names the setting."""
    path = check_dir_setting(value, setting)
    try:
        return make_dir(path)  # a link below a held root: named, with that root's setting and this one
    except OutputError as e:
        raise OutputError(f"{e} (it comes from {setting}={value}: set another)") from e


def make_dir(path: Path) -> Path:
    """mkdir -p, with a failure that names the directory; refused where a link lies below a held output root
    (`check_unlinked`)."""
    path = check_unlinked(path)
    held = _root_of(_absolute(path)) if _WALK else None
    try:
        if held is None:
            path.mkdir(parents=True, exist_ok=True)
        else:
            os.close(_walk_from_root(_absolute(path), *held, make=True))
    except OutputError:
        raise
    except (FileExistsError, NotADirectoryError) as e:  # a file where a directory should be: name it
        blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), path)
        err = OutputError(f"cannot create the directory {path}: {blocker} is a file; move it or choose "
                          "another location")
        err.errno = errno.ENOTDIR
        raise err from e
    except OSError as e:
        raise output_error(path, e, "create the directory") from e
    return path


@contextmanager
def atomic_file(path: Path) -> Iterator[str]:
    """A temporary name beside `path` for the caller to write (on Linux in a private directory beside it,
    `_temp`); fsynced and renamed to `path` on success.

    The one way ganaug writes a file: a killed job leaves no half file (only a temporary that the
    next writer removes, `remove_stale_temps`), a failed write removes its temporary, and an
    OSError names the file and the fix. A link at ``path`` itself is replaced, never written through
    (the rename replaces the name); a link among its directories below a held root is refused (`make_dir`).
    """
    path = Path(path)
    make_dir(path.parent)
    if not _WALK:
        with _temp(path, None) as tmp:
            yield tmp
        return
    parent, held = _absolute(path.parent), _root_of(_absolute(path.parent))
    try:
        if held is None:  # nobody holds it: the user's own path, links and all
            dir_fd = os.open(parent, _DIR)
        else:
            dir_fd = _walk_from_root(parent, *held, make=False)
    except OSError as e:  # removed, or replaced by a file, since make_dir
        if isinstance(e, OutputError):
            raise
        raise output_error(path, e) from e
    try:
        with _temp(path, dir_fd) as tmp:
            yield tmp
    finally:
        os.close(dir_fd)


@contextmanager
def _temp(path: Path, dir_fd: int | None) -> Iterator[str]:
    """The temporary `atomic_file` yields: fsynced and renamed to `path` on success, removed otherwise.

    In the open directory ``dir_fd`` (`_WALK`), which names the directory that was checked whatever has been
    renamed or linked since, it lies in a private directory (mode 0700) made there for it: in a directory others
    can write, one of them could otherwise replace the temporary by a link while the caller writes it. The caller
    writes ``/proc/self/fd/<private>/<name of path>``. Without ``dir_fd`` (where `_WALK` is off) it is named by
    path beside `path`, so only as safe as the check before it.
    """
    try:
        fd, tmp = make_temp(path, dir_fd)
    except OSError as e:
        raise output_error(path, e) from e
    private = None if dir_fd is None else fd
    if private is None:
        os.close(fd)
    # The temporary and the name it takes, relative to `private` and `dir_fd` (or by path where they are None).
    src, dst = (tmp, path) if private is None else (path.name, path.name)
    renamed = False
    try:
        if private is not None:
            os.close(os.open(src, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, default_file_mode(),
                             dir_fd=private))
        yield src if private is None else f"/proc/self/fd/{private}/{src}"
        # Windows (by name) fsyncs only a handle open for writing.
        fd = os.open(src, (os.O_RDWR if private is None else os.O_RDONLY) | getattr(os, "O_NOFOLLOW", 0)
                     | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0), dir_fd=private)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(src, dst, src_dir_fd=private, dst_dir_fd=dir_fd)
        renamed = True
    except OSError as e:
        if isinstance(e, OutputError):
            raise
        raise output_error(path, e) from e
    except Exception as e:  # a library's own error names the temporary: say which file it was
        e.add_note(f"while writing {path}")
        raise
    finally:
        if private is not None:
            os.close(private)
            shutil.rmtree(tmp, dir_fd=dir_fd, ignore_errors=True)
        elif not renamed:
            Path(tmp).unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` through `atomic_file`."""
    with atomic_file(path) as tmp:
        Path(tmp).write_bytes(data)


def is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def is_sha256_hex(x) -> bool:
    return isinstance(x, str) and re.fullmatch(r"[0-9a-f]{64}", x) is not None
