# gi.repository modules exist only at run time (made from typelibs): declare this one, as
# PyInstaller does for the GI modules it knows, so that the hook beside pre_safe_import_module/
# runs instead of the module being reported missing.


def pre_safe_import_module(api):
    api.add_runtime_module(api.module_name)
