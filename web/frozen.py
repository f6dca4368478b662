"""Programs the app starts get the user's environment, not the PyInstaller bundle's.

The binary runs with LD_LIBRARY_PATH pointing into its own folder, and PyInstaller's
GTK runtime hooks point GI, GIO, GTK and Pango there too. A command task or a web browser
that inherited that would load the bundle's libraries (OpenSSL, readline, ...) instead of
the ones it was built against. Outside a frozen build nothing changes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

# Set by PyInstaller's runtime hooks (gi, Gtk, Gio, GdkPixbuf), overwriting any value the
# user had, so there is nothing to restore: programs started from here go without.
BUNDLE_VARIABLES = (
    "GDK_PIXBUF_MODULE_FILE",
    "GIO_MODULE_DIR",
    "GI_TYPELIB_PATH",
    "GTK_DATA_PREFIX",
    "GTK_EXE_PREFIX",
    "GTK_PATH",
    "PANGO_LIBDIR",
    "PANGO_SYSCONFDIR",
)
# Search paths the bundle put itself on; the user's own entries stay.
PATH_LISTS = ("LD_LIBRARY_PATH", "XDG_DATA_DIRS")
# The frozen binary's hidden subcommand that runs a command task's supervisor (it has no
# `python -m`; web/tasks/command.py, desktop_app/cli.py). Here, not beside the supervisor:
# the CLI checks for it first, before it knows whether it needs pydantic or ctypes.
SUPERVISE = "__supervise__"
# And the one that runs the task database's writer (web/committer.py, web/writer.py).
COMMIT = "__commit__"


def outside_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """`env` (default: os.environ) as it was before the bundle changed it."""
    env = dict(os.environ if env is None else env)
    bundle = getattr(sys, "_MEIPASS", None)
    if not getattr(sys, "frozen", False) or bundle is None:
        return env
    # The bootloader keeps the user's LD_LIBRARY_PATH, if there was one, in *_ORIG.
    if "LD_LIBRARY_PATH_ORIG" in env:
        env["LD_LIBRARY_PATH"] = env.pop("LD_LIBRARY_PATH_ORIG")
    for name in PATH_LISTS:
        kept = [p for p in env.get(name, "").split(os.pathsep) if p and not _inside(p, bundle)]
        if kept:
            env[name] = os.pathsep.join(kept)
        else:
            env.pop(name, None)
    for name in [*BUNDLE_VARIABLES, *(n for n in env if n.startswith("_PYI_"))]:
        env.pop(name, None)  # _PYI_*: a frozen program started from here starts afresh
    return env


def _inside(path: str, folder: str) -> bool:
    path, folder = os.path.normpath(path), os.path.normpath(folder)
    return path == folder or path.startswith(folder + os.sep)
