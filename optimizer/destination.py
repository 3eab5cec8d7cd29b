"""Where a result folder goes: checked before solving, written beside it, swapped in at once.

A run replaces only a folder that is recognisably a result folder of this tool: one holding the
marker file `.optimize-result` (every result folder gets it), or one written before the marker
existed, recognised by holding nothing but result files. Anything else that is not empty is refused
before solving unless the caller forces it; some folders are refused even then (the current folder
and the folders above it, the file-system root, the home folder, a folder holding an input file).

The new folder is written into a hidden temporary folder beside the target (`.optimize-tmp-<pid>-<hex>`:
short, so a legal target name stays legal) and swapped in with one rename (Linux renameat2
RENAME_EXCHANGE when the target exists), so a failed or killed run never leaves a half-written folder
and never destroys the previous results. A target that is a symlink to a folder keeps being a
symlink: the folder it points to is the one swapped.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from optimizer.errors import BadInputError

MARKER = ".optimize-result"
MARKER_TEXT = (b"This folder was written by `optimize` (mineral-stockpile-optimizer). A later run with the\n"
               b"same --out replaces the whole folder, so keep nothing else in it.\n")

# What result folders held before the marker existed (a fixed fact about earlier versions: folders
# written since carry the marker, so new result files never need adding here).
LEGACY_FILES = frozenset({
    "summary.json", "scenario.json", "run.json", "tree.json", "results.xlsx", "report.html",
    *(f"{table}.{ext}" for table in ("purchases", "stockpile", "processing", "expansion", "prices")
      for ext in ("csv", "parquet")),
})
LEGACY_CHARTS = "charts"
LEGACY_SWEEP_TABLE = "sweep.csv"

_TEMPORARY = re.compile(r"\.optimize-(tmp|old)-(\d+)-[0-9a-f]+")
_NAME_MAX = 255
_PATH_MAX = 4096
LONGEST_RESULT_FILE = "charts/shadow_prices.png"  # the longest name written inside a result folder


class OutputPathError(BadInputError):
    """The result folder cannot be written where asked (bad input, exit 1): the path and the reason."""


@dataclass(frozen=True)
class Destination:
    """A checked place for a result folder: `path` as the user gave it, `real` the folder replaced
    (absolute, symlinks resolved), `force` whether a folder that is not ours may be replaced."""

    path: Path
    real: Path
    force: bool = False


def is_result_folder(folder: Path) -> bool:
    """True when `folder` holds the marker, or only the files of a result folder (or of a sweep) of an
    earlier version of this tool."""
    if (folder / MARKER).is_file():
        return True
    try:
        entries = list(folder.iterdir())
    except OSError:
        return False
    names = {p.name for p in entries}
    if "summary.json" in names and (folder / "summary.json").is_file():
        return all(_legacy_result_entry(p) for p in entries)
    if LEGACY_SWEEP_TABLE in names and (folder / LEGACY_SWEEP_TABLE).is_file():
        return all(p.name == LEGACY_SWEEP_TABLE or (p.is_dir() and not p.is_symlink() and is_result_folder(p))
                   for p in entries)
    return False


def _legacy_result_entry(path: Path) -> bool:
    if path.is_symlink():
        return False
    if path.name == LEGACY_CHARTS and path.is_dir():
        return all(p.suffix == ".png" and p.is_file() and not p.is_symlink() for p in path.iterdir())
    return path.name in LEGACY_FILES and path.is_file()


def check_destination(path: str | Path, *, force: bool = False, inputs: Iterable[str | Path] = (),
                      deepest: str = LONGEST_RESULT_FILE) -> Destination:
    """Check, without touching anything, that a result folder can be written at `path`; raise
    OutputPathError naming the path and the reason otherwise. `inputs` are the files the run reads:
    a folder holding one of them is never replaced; `deepest` is the longest name written inside."""
    path = Path(path)
    real = Path(os.path.realpath(path))
    if any(os.path.islink(p) for p in (real, *real.parents)):  # realpath leaves a loop unresolved
        raise OutputPathError(f"cannot write the result folder {path}: it is in a symlink loop")
    dest = Destination(path, real, force)
    problem = _protected(dest, inputs) or _unusable(dest, deepest) or _not_ours(dest)
    if problem:
        raise OutputPathError(f"cannot write the result folder {path}: {problem}")
    return dest


def _protected(dest: Destination, inputs: Iterable[str | Path]) -> str | None:
    """Folders never replaced, --force or not."""
    real = dest.real
    if real == Path(real.anchor):
        return "it is the file-system root"
    cwd = Path(os.path.realpath(os.getcwd()))
    if real == cwd:
        return "it is the current folder"
    if real in cwd.parents:
        return "it holds the current folder"
    with contextlib.suppress(RuntimeError, KeyError):
        if real == Path(os.path.realpath(Path.home())):
            return "it is your home folder"
    for item in inputs:
        file = Path(os.path.realpath(item))
        if real == file or real in file.parents:
            return f"it holds the input file {item}"
    return None


def _unusable(dest: Destination, deepest: str) -> str | None:
    """Why the file system will not let us write and rename here, in plain words (None: it will)."""
    real = dest.real
    if len(os.fsencode(real.name)) > _limit(real.parent, "PC_NAME_MAX", _NAME_MAX):
        return f"the name is longer than the file system allows ({len(os.fsencode(real.name))} bytes)"
    existing = real
    while not os.path.lexists(existing):
        existing = existing.parent
    if existing != real and not existing.is_dir():
        return f"{existing} is a file, not a folder"
    longest = real.parent / ".optimize-tmp-4294967295-01234567" / deepest
    if len(os.fsencode(str(longest))) > _limit(existing, "PC_PATH_MAX", _PATH_MAX):
        return "the path is longer than the file system allows"
    if existing == real:
        if not real.is_dir():
            return "it exists and is not a folder"
        if os.path.ismount(real):
            return ("it is a mount point, which cannot be replaced by a rename; "
                    "write the results into a folder inside it")
        if not os.access(real, os.R_OK | os.X_OK):
            return "permission denied: the folder cannot be read"
        writable = real.parent
    else:
        writable = existing
    if not os.access(writable, os.W_OK | os.X_OK):
        if _read_only(writable):
            return f"{writable} is on a read-only file system"
        return f"permission denied: {writable} is not writable"
    return None


def _not_ours(dest: Destination) -> str | None:
    """Refuse a folder that holds files and is not a result folder (unless forced)."""
    real = dest.real
    if dest.force or not real.is_dir() or is_result_folder(real):
        return None
    try:
        names = sorted(p.name for p in real.iterdir())
    except OSError as exc:
        return _reason(exc)
    if not names:
        return None
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (f"it is not a result folder of optimize (it holds {shown}) and replacing it would delete those "
            "files; choose another --out, or pass --force to replace it")


def _limit(path: Path, name: str, default: int) -> int:
    try:
        return int(os.pathconf(path, name))
    except (OSError, ValueError):
        return default


def _read_only(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _reason(exc: OSError, ours: Path | None = None) -> str:
    """An OSError in plain words, without Python's `[Errno N]` prefix; the file is named unless it is
    in one of our temporary folders under `ours` (the folder is named already)."""
    if not exc.strerror:
        return str(exc)
    name = str(exc.filename or "")
    if not name or (ours is not None and name.startswith(f"{ours}{os.sep}.optimize-")):
        return exc.strerror.lower()
    return f"{exc.strerror.lower()} ({name})"


def write_error(dest: Destination, exc: OSError) -> OutputPathError:
    """An OSError while writing, for the user: the path, the reason, and that the old folder is intact."""
    return OutputPathError(f"cannot write the result folder {dest.path}: {_reason(exc, dest.real.parent)}; "
                           "nothing was replaced (the previous results, if any, are as they were)")


@contextlib.contextmanager
def staged(dest: Destination) -> Iterator[Path]:
    """A fresh temporary folder beside the target, holding the marker: fill it in the `with` block;
    when the block ends without error it is swapped in, otherwise removed. An OSError becomes an
    OutputPathError naming the path and the reason."""
    parent = dest.real.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(parent, dest.real.name)
        tmp = _new_temporary(parent, "tmp")
    except OSError as exc:
        raise write_error(dest, exc) from None
    try:
        write_files(tmp, {})
        yield tmp
        # The target may have changed while we solved: check again, just before replacing it.
        problem = _not_ours(dest)
        if problem:
            raise OutputPathError(f"cannot write the result folder {dest.path}: {problem}")
        _fsync_dir(tmp)
        swap_into_place(tmp, dest.real)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise write_error(dest, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write `files` (relative name -> bytes; `charts/x.png` makes `charts/`) into `folder`, the marker
    first, each file flushed to disk; folders and files get the user's umask."""
    folder.mkdir(exist_ok=True)
    folders = {folder}
    if not (folder / MARKER).exists():
        _write_file(folder / MARKER, MARKER_TEXT)
    for name, data in files.items():
        path = folder / name
        if path.parent not in folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            folders.add(path.parent)
        _write_file(path, data)
    for f in folders:
        _fsync_dir(f)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _new_temporary(parent: Path, kind: str) -> Path:
    """A new hidden folder in `parent` named after this process (mode per umask, unlike mkdtemp's 0700)."""
    while True:
        path = parent / f".optimize-{kind}-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            os.mkdir(path)
            return path
        except FileExistsError:
            continue


def remove_stale_temporaries(parent: Path, name: str | None = None) -> None:
    """Remove temporary folders in `parent` left by runs that were killed (their process is gone), also
    those an earlier version named after the target (`.<name>.tmp-<pid>-...`)."""
    legacy = re.compile(rf"\.{re.escape(name)}\.(tmp|old)-(\d+)-.+") if name else None
    try:
        entries = list(parent.iterdir())
    except OSError:
        return
    for path in entries:
        match = _TEMPORARY.fullmatch(path.name) or (legacy.fullmatch(path.name) if legacy else None)
        if match and path.is_dir() and not path.is_symlink() and not _alive(int(match.group(2))):
            shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def swap_into_place(new: Path, target: Path) -> None:
    """Make `new` appear at `target` in one step; the old folder (if any) is removed afterwards."""
    if not os.path.lexists(target):
        os.rename(new, target)
        _fsync_dir(target.parent)
        return
    if not target.is_dir():
        raise FileExistsError(errno.EEXIST, "it exists and is not a folder", str(target))
    if _rename_exchange(new, target):
        _fsync_dir(target.parent)
        shutil.rmtree(new, ignore_errors=True)  # `new` now holds the previous results
        return
    # Fallback (no renameat2): move the old folder aside, then the new one in.
    old = _new_temporary(target.parent, "old")
    os.rmdir(old)
    os.rename(target, old)
    os.rename(new, target)
    _fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _rename_exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE); False if unsupported."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2  # the C library already loaded in this process
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    rc = fn(_AT_FDCWD, os.fsencode(str(a)), _AT_FDCWD, os.fsencode(str(b)), _RENAME_EXCHANGE)
    if rc != 0:
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # no renameat2 here: use the fallback
            return False
        raise OSError(err, os.strerror(err), str(b))
    return True


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
