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
        self._send("PutBucket", "PUT", bucket)

    def delete_bucket(self, bucket: str) -> None:
        self._send("DeleteBucket", "DELETE", bucket)

    def bucket_exists(self, bucket: str) -> bool:
        try:
            self.list_multipart_uploads(bucket, max_uploads=1)
        except OSSError as exc:
            if exc.code == "NoSuchBucket":
                return False
            raise
        return True

    def get_bucket_lifecycle(self, bucket: str) -> list[dict]:
        try:
            resp = self._send("GetBucketLifecycle", "GET", bucket, params=[("lifecycle", None)])
        except OSSError as exc:
            if exc.code == "NoSuchLifecycle":
                return []
            raise
        return oss_xml.parse_lifecycle(resp.content)

    def put_bucket_lifecycle(self, bucket: str, rules: list[dict]) -> None:
        body = oss_xml.lifecycle_body(rules)
        self._send(
            "PutBucketLifecycle",
            "PUT",
            bucket,
            params=[("lifecycle", None)],
            headers={"Content-MD5": md5_base64(body)},
            body=body,
        )
