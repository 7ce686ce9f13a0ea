"""Apache Airflow provider for Alibaba Cloud OSS multipart uploads.

Importing this package must stay cheap: Airflow calls ``get_provider_info`` for every CLI
command, so nothing heavy (Airflow, requests) is imported here.
"""

from __future__ import annotations

from oss_provider import _moved

__version__ = "0.1.0"

_moved.install()  # old module paths (oss_provider.client.transfer, ...) keep working


def get_provider_info() -> dict:
    """Return the provider metadata Airflow reads through the entry point."""
    from oss_provider.provider_info import PROVIDER_INFO

    return PROVIDER_INFO
