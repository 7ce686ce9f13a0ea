"""content_encoding, the object option added by one ObjectOptions field (docs/architecture.md):
it reaches the object through the whole-upload and files operators (templated) and the client."""

from __future__ import annotations

import os

import pytest

from oss_provider.client.limits import MIN_PART_SIZE as P
from oss_provider.operators.files import OSSUploadFilesOperator
from oss_provider.operators.upload import OSSMultipartUploadOperator

pytestmark = pytest.mark.timeout(120)


def _encoding(client, key):
    resp = client.open_object("test-bucket", key)
    resp.close()
    return resp.headers.get("Content-Encoding")


def test_content_encoding_reaches_the_object(oss_conn_env, oss_client, tmp_path):
    src = tmp_path / "a.gz"
    src.write_bytes(os.urandom(3 * P))
    op = OSSMultipartUploadOperator(
        task_id="w", key="ce/a.gz", source=str(src), part_size=P, content_encoding="{{ params.e }}"
    )
    op.render_template_fields({"params": {"e": "gzip"}})
    op.execute({})
    assert _encoding(oss_client, "ce/a.gz") == "gzip"
    tree = tmp_path / "d"
    tree.mkdir()
    (tree / "x.txt.gz").write_bytes(b"x" * 10)
    OSSUploadFilesOperator(
        task_id="f", source=str(tree), prefix="ce2", content_encoding="gzip"
    ).execute({})
    assert _encoding(oss_client, "ce2/x.txt.gz") == "gzip"
    oss_client.put_object("test-bucket", "ce/plain.txt", b"x", content_encoding="br")
    assert _encoding(oss_client, "ce/plain.txt") == "br"
