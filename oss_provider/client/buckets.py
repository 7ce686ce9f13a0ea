"""The bucket calls the provider, its tests and the emulator's users need: create, delete,
exists, and the lifecycle rules (an ``AbortMultipartUpload`` rule is the server-side sweep)."""

from __future__ import annotations

from oss_provider.client import xml as oss_xml
from oss_provider.client.base import ClientBase
from oss_provider.client.checksums import md5_base64
from oss_provider.client.errors import OSSError


class BucketCalls(ClientBase):
    """One method per bucket REST call."""

    def put_bucket(self, bucket: str) -> None:
        """Create ``bucket`` in the endpoint's region, with the default ACL and storage class."""
        self._send("PutBucket", "PUT", bucket)

    def delete_bucket(self, bucket: str) -> None:
        """Delete ``bucket``; OSS refuses (409 BucketNotEmpty) while it holds objects or parts."""
        self._send("DeleteBucket", "DELETE", bucket)

    def bucket_exists(self, bucket: str) -> bool:
        """False only on NoSuchBucket; any other error (AccessDenied included) is raised.
        Probes with a one-entry ListMultipartUploads, a permission this provider needs anyway."""
        try:
            self.list_multipart_uploads(bucket, max_uploads=1)
        except OSSError as exc:
            if exc.code == "NoSuchBucket":
                return False
            raise
        return True

    def get_bucket_lifecycle(self, bucket: str) -> list[dict]:
        """The bucket's lifecycle rules (see :func:`~oss_provider.client.xml.parse_lifecycle`);
        ``[]`` when it has none (NoSuchLifecycle)."""
        try:
            resp = self._send("GetBucketLifecycle", "GET", bucket, params=[("lifecycle", None)])
        except OSSError as exc:
            if exc.code == "NoSuchLifecycle":
                return []
            raise
        return oss_xml.parse_lifecycle(resp.content)

    def put_bucket_lifecycle(self, bucket: str, rules: list[dict]) -> None:
        """Replace the bucket's whole lifecycle configuration with ``rules``: a rule left out of
        the list is deleted, so read the current ones with :meth:`get_bucket_lifecycle` first."""
        body = oss_xml.lifecycle_body(rules)
        self._send(
            "PutBucketLifecycle",
            "PUT",
            bucket,
            params=[("lifecycle", None)],
            headers={"Content-MD5": md5_base64(body)},
            body=body,
        )
