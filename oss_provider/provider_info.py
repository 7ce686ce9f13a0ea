"""Provider metadata returned by ``get_provider_info`` (filled in by issue 5)."""

PROVIDER_INFO: dict = {
    "package-name": "airflow-provider-oss-multipart",
    "name": "Alibaba Cloud OSS Multipart",
    "description": "Fast, resumable, verified multipart uploads to Alibaba Cloud OSS.",
    "versions": ["0.1.0"],
}
