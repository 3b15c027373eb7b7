"""The ``__main__.py`` of the single-file agent (kept as text: it runs on the board).

Python's zipimport cannot load a compiled extension (pydantic's core) from
inside a zip, so on first start the bundle's ``lib/`` is unpacked once into a
directory named after the build and reused on every later start (the approach
of shiv and PEX).  The directory is the first writable one of
``$MICRORACK_PYZ_ROOT``, systemd's ``$CACHE_DIRECTORY``, ``$XDG_CACHE_HOME``
or ``~/.cache``; a directory that already holds this build (an image built
with it unpacked) is used read-only.
"""

LAUNCHER = r"""
import os
import sys
import tempfile
import zipfile

BUILD = {build!r}


def _roots():
    for name in ("MICRORACK_PYZ_ROOT", "CACHE_DIRECTORY"):
        value = os.environ.get(name, "").split(":")[0]
        if value:
            yield value
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    yield os.path.join(xdg, "microrack")


def _unpacked(archive):
    tried = []
    for root in _roots():
        target = os.path.join(root, "pyz-" + BUILD)
        if os.path.isfile(os.path.join(target, ".complete")):
            return target
        try:
            os.makedirs(root, exist_ok=True)
            tmp = tempfile.mkdtemp(prefix=".pyz-", dir=root)
        except OSError as exc:
            tried.append("%s (%s)" % (root, exc.strerror or exc))
            continue
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if info.filename.startswith("lib/") and not info.is_dir():
                    zf.extract(info, tmp)
        open(os.path.join(tmp, "lib", ".complete"), "w").close()
        try:
            os.rename(os.path.join(tmp, "lib"), target)
        except OSError:
            pass  # another process unpacked the same build first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        return target
    sys.stderr.write("microrack: no writable directory to unpack into: %s; set MICRORACK_PYZ_ROOT\n"
                     % ", ".join(tried))
    raise SystemExit(1)


def main():
    if sys.version_info < (3, 11):
        found = sys.version.split()[0]
        sys.stderr.write("microrack: needs Python 3.11 or newer, this is %s\n" % found)
        raise SystemExit(1)
    archive = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, _unpacked(archive))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p) != archive]
    from microrack.cli import main as cli

    raise SystemExit(cli())


main()
"""
