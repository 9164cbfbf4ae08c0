"""The one way cactus-router imports onnxruntime: with onnxruntime's telemetry switched off first.

Official onnxruntime wheels from 1.29 on start Microsoft's 1DS telemetry when the library loads,
that is at ``import onnxruntime``: they create ``Microsoft/DeveloperTools/.onnxruntime/`` under
``$XDG_CACHE_HOME`` (else ``~/.cache``) holding a ``deviceid`` and an event queue
``onnxruntime.db``, and about 9 s later, then every few seconds, resolve
mobile.events.data.microsoft.com to upload it. ``onnxruntime.disable_telemetry_events()`` comes
too late for that: the uploader already runs. ``ORT_DISABLE_TELEMETRY=1`` in the environment
before the library loads stops all of it for the process (no uploader, no event, no device id);
onnxruntime's Privacy.md documents the switch, and under strace on Linux x86_64 1.29.0, 1.30.0,
1.31.1 and 1.32.0 write nothing and send nothing with it (``tests/test_privacy.py`` checks
the installed version). 1.17 to 1.28 have no such telemetry and ignore the variable.

The variable is set with ``os.environ.setdefault``, so a value the user exported wins
(``ORT_DISABLE_TELEMETRY=0`` lets onnxruntime send). Child processes inherit it. An application
that imports onnxruntime itself before cactus-router must set the variable itself.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

#: onnxruntime's switch: "1" before the library loads means no 1DS telemetry in this process.
ENV_NO_TELEMETRY = "ORT_DISABLE_TELEMETRY"


def import_onnxruntime() -> ModuleType:
    """The ``onnxruntime`` module, imported with telemetry off unless the user set ORT_DISABLE_TELEMETRY.

    Raises:
        ImportError: onnxruntime is not installed.
    """
    os.environ.setdefault(ENV_NO_TELEMETRY, "1")
    return importlib.import_module("onnxruntime")
