"""A local OSS server that speaks the real wire format: ``python -m oss_provider.emulator``.

Used by this project's tests, the demo and benchmarks, and usable from users' own tests through
the ``oss_emulator`` pytest fixture (``oss_provider.testing``).
"""

from __future__ import annotations

from .app import Emulator
from .auth import Credential, parse_credentials
from .server import OSSHTTPServer, build_server

__all__ = ["Credential", "Emulator", "OSSHTTPServer", "build_server", "parse_credentials"]
