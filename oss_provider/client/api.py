"""OSSClient: one method per OSS REST call the provider uses (no Airflow import).

The calls live in groups by what they act on; this module joins them into the one class users
share per process:

- :mod:`~oss_provider.client.base`: endpoint, credentials, transport, presigned URLs;
- :mod:`~oss_provider.client.multipart`: Initiate, UploadPart(Copy), Abort, the listings;
- :mod:`~oss_provider.client.completion`: Complete and the recovery of a lost answer;
- :mod:`~oss_provider.client.objects`: Head/Get/Put/Delete/List/Copy of objects;
- :mod:`~oss_provider.client.buckets`: buckets and lifecycle rules.
"""

from __future__ import annotations

from oss_provider.client.base import DEFAULT_LOCAL_REGION, response_date_header
from oss_provider.client.buckets import BucketCalls
from oss_provider.client.completion import CompleteCalls
from oss_provider.client.multipart import MultipartCalls
from oss_provider.client.objects import ObjectCalls, object_headers


class OSSClient(CompleteCalls, MultipartCalls, ObjectCalls, BucketCalls):
    """A thread-safe OSS client: share one per process; it keeps one connection pool.

    Every method validates its names before any request; transient failures are retried by the
    transport's :class:`~oss_provider.client.http.RetryPolicy`; errors are
    :mod:`~oss_provider.client.errors` classes carrying the OSS code and request id."""


__all__ = ["DEFAULT_LOCAL_REGION", "OSSClient", "object_headers", "response_date_header"]
