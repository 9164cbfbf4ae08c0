import sys
import sysconfig

from setuptools import setup

# cffi builds the extension against CPython's stable ABI (it is named _cr_core.abi3.so), so one
# wheel serves Python 3.10 and later; not on Windows or free-threaded CPython, where cffi does not
# use the limited API and the wheel keeps its interpreter's tag.
STABLE_ABI = sys.platform != "win32" and not sysconfig.get_config_var("Py_GIL_DISABLED")

setup(
    cffi_modules=["csrc/build_ffi.py:ffibuilder"],
    options={"bdist_wheel": {"py_limited_api": "cp310"}} if STABLE_ABI else {},
)
