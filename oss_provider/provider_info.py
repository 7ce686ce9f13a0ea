"""Provider metadata returned by ``get_provider_info``: plain data, no imports."""

from __future__ import annotations

_STR = {"type": ["string", "null"]}
_OSS_URIS = {
    "schemes": ["oss"],
    "handler": "oss_provider.lineage.sanitize_uri",
    "factory": "oss_provider.lineage.create_asset",
    "to_openlineage_converter": "oss_provider.lineage.convert_asset_to_openlineage",
}

PROVIDER_INFO: dict = {
    "package-name": "airflow-provider-oss-multipart",
    "name": "Alibaba Cloud OSS Multipart",
    "description": "Fast, resumable, verified multipart uploads to Alibaba Cloud OSS, "
    "and a sweep for stale incomplete uploads.",
    "versions": ["0.1.0"],
    "integrations": [
        {
            "integration-name": "Alibaba Cloud OSS Multipart",
            "external-doc-url": "https://www.alibabacloud.com/help/en/oss/",
            "tags": ["alibaba"],
        }
    ],
    "filesystems": ["oss_provider.fs.oss"],
    "hooks": [
        {
            "integration-name": "Alibaba Cloud OSS Multipart",
            "python-modules": ["oss_provider.hooks.oss_multipart"],
        }
    ],
    "operators": [
        {
            "integration-name": "Alibaba Cloud OSS Multipart",
            "python-modules": [
                "oss_provider.operators.multipart",
                "oss_provider.operators.upload",
                "oss_provider.operators.cleanup",
                "oss_provider.operators.files",
            ],
        }
    ],
    "sensors": [
        {
            "integration-name": "Alibaba Cloud OSS Multipart",
            "python-modules": ["oss_provider.sensors.oss_object"],
        }
    ],
    "triggers": [
        {
            "integration-name": "Alibaba Cloud OSS Multipart",
            "python-modules": ["oss_provider.triggers.oss_object"],
        }
    ],
    # Airflow 3 reads "asset-uris", Airflow 2 the same entry as "dataset-uris"
    "asset-uris": [_OSS_URIS],
    "dataset-uris": [_OSS_URIS],
    "connection-types": [
        {
            "connection-type": "oss_multipart",
            "hook-class-name": "oss_provider.hooks.oss_multipart.OSSMultipartHook",
            "hook-name": "Alibaba Cloud OSS (multipart)",
            "ui-field-behaviour": {
                "hidden-fields": ["port", "schema"],
                "relabeling": {
                    "login": "AccessKey ID",
                    "password": "AccessKey secret",
                    "host": "Endpoint",
                },
                "placeholders": {
                    "host": "oss-cn-hangzhou.aliyuncs.com (or leave empty and set the region)",
                    "login": "LTAI... (empty: OSS_ACCESS_KEY_ID)",
                    "password": "(empty: OSS_ACCESS_KEY_SECRET)",
                },
            },
            "conn-fields": {
                "region": {
                    "label": "Region",
                    "description": "e.g. cn-hangzhou; derives the endpoint and the V4 region",
                    "schema": _STR,
                },
                "bucket_name": {"label": "Default bucket", "schema": _STR},
                "security_token": {
                    "label": "STS security token",
                    "schema": {"type": ["string", "null"], "format": "password"},
                },
                # No "default": the form would write it into every connection's extra, and
                # Airflow hands each extra value to its secrets masker when it fetches the
                # connection; a value under 5 characters ("v4") makes it log "Skipping masking
                # for a secret as it's too short" in every task. Empty means v4.
                "signature_version": {
                    "label": "Signature version",
                    "description": "empty: v4 (recommended); v1 only for old deployments",
                    "schema": {
                        "type": ["string", "null"],
                        "enum": [None, "v4", "v1"],
                        "values_display": {"null": "default (v4)", "v4": "v4", "v1": "v1"},
                    },
                },
                # The form lists exactly what the README documents; empty (null) is automatic.
                # values_display names the empty choice (the UI shows a bare null otherwise).
                "addressing": {
                    "label": "Addressing",
                    "description": "empty: virtual-hosted, or path-style for IPs and localhost",
                    "schema": {
                        "type": ["string", "null"],
                        "enum": [None, "virtual", "path"],
                        "values_display": {
                            "null": "automatic",
                            "virtual": "virtual-hosted (bucket.endpoint)",
                            "path": "path-style (endpoint/bucket)",
                        },
                    },
                },
                "internal": {
                    "label": "Use the -internal endpoint",
                    "description": "only when the endpoint is derived from the region: "
                    "oss-<region>-internal.aliyuncs.com, no traffic charge inside the VPC",
                    "schema": {"type": ["boolean", "null"], "default": False},
                },
                "verify": {
                    "label": "TLS verification",
                    "description": "empty: verify; false to skip (tests only); or a CA bundle path",
                    "schema": _STR,
                },
                "connect_timeout": {
                    "label": "Connect timeout (s)",
                    "description": "empty: 10",
                    "schema": {"type": ["number", "null"]},
                },
                "read_timeout": {
                    "label": "Read timeout (s)",
                    "description": "empty: 120",
                    "schema": {"type": ["number", "null"]},
                },
                "max_retries": {
                    "label": "Max retries per request",
                    "description": "empty: 3 (4 sends in all), 0 to 20",
                    "schema": {"type": ["integer", "null"], "minimum": 0, "maximum": 20},
                },
                "retry_budget": {
                    "label": "Retry budget (s)",
                    "description": "empty: 300; no request is sent again after this many seconds",
                    "schema": {"type": ["number", "null"], "exclusiveMinimum": 0},
                },
                "part_size": {
                    "label": "Part size (MiB)",
                    "description": "default for every task using this connection; empty: 8 MiB, "
                    "grown to fit the part limit; 0.1 to 5120",
                    "schema": {"type": ["number", "null"], "minimum": 0.1, "maximum": 5120},
                },
                "concurrency": {
                    "label": "Concurrency (parts in flight)",
                    "description": "default for every task; empty: 8; memory ~ concurrency x part size",
                    "schema": {"type": ["integer", "null"], "minimum": 1, "maximum": 256},
                },
                "content_md5": {
                    "label": "Content-MD5 on every part",
                    "description": "empty: on; off saves ~1 s of CPU per GiB (CRC-64 still checked)",
                    "schema": {"type": ["boolean", "null"]},
                },
            },
        }
    ],
}
