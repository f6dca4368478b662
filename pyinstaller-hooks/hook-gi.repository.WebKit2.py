"""PyInstaller ships no hook for WebKit2 (pywebview's GTK backend): collect its typelib.

4.1 is the libsoup-3 build that pywebview asks for first; the library itself stays out of
the bundle (build.spec), only its typelib goes in.
"""

from PyInstaller.utils.hooks.gi import GiModuleInfo

module_info = GiModuleInfo("WebKit2", "4.1")
if module_info.available:
    binaries, datas, hiddenimports = module_info.collect_typelib_data()
