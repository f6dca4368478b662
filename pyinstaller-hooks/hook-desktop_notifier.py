"""desktop-notifier finds its resources package by name at import (importlib.resources), which
PyInstaller's analysis cannot see: collect it, with its files."""

from PyInstaller.utils.hooks import collect_data_files

datas = collect_data_files("desktop_notifier")
hiddenimports = ["desktop_notifier.resources"]
