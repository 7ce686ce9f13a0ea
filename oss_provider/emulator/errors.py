"""OSS error answers: one exception type, a catalogue of codes with their status and message."""

from __future__ import annotations

# code -> (HTTP status, message as OSS returns it); oss-api.md section 4.
CATALOGUE: dict[str, tuple[int, str]] = {
    "NoSuchUpload": (
        404,
        (
            "The specified upload does not exist. The upload ID may be invalid, "
            "or the upload may have been aborted or completed."
        ),
    ),
    "NoSuchBucket": (404, "The specified bucket does not exist."),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchLifecycle": (404, "No Row found in Lifecycle Table."),
    "InvalidPart": (
        400,
        (
            "One or more of the specified parts could not be found or the specified entity tag "
            "might not have matched the part's entity tag."
        ),
    ),
    "InvalidPartOrder": (
        400,
        (
            "The list of parts was not in ascending order. "
            "Parts list must specified in order by part number."
        ),
    ),
    "EntityTooSmall": (400, "Your proposed upload smaller than the minimum allowed size."),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed size."),
    "InvalidDigest": (400, "The Content-MD5 you specified was invalid."),
    "InvalidArgument": (400, "Invalid Argument. Parameter is invalid."),
    "MalformedXML": (
        400,
        "The XML you provided was not well-formed or did not validate against our published schema.",
    ),
    "InvalidEncryptionAlgorithmError": (400, "The encryption algorithm specified is not valid."),
    "InvalidObjectName": (400, "The Length of Object name must be less than 1024."),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "NotImplemented": (501, "The operation you requested is not implemented by this emulator."),
    "AccessDenied": (403, "You have no right to access this object because of bucket acl."),
    "SignatureDoesNotMatch": (
        403,
        (
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method."
        ),
    ),
    "InvalidAccessKeyId": (
        403,
        "The OSS Access Key Id you provided does not exist in our records.",
    ),
    "RequestTimeTooSkewed": (
        403,
        "The difference between the request time and the current time is too large.",
    ),
    "InvalidSecurityToken": (403, "The security token you provided is invalid."),
    "SecurityTokenExpired": (403, "The security token you provided has expired."),
    "AccessKeyIdAndSecurityTokenNotMatch": (
        403,
        "The OSS access key id and security token you provided does not match",
    ),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "BucketAlreadyExists": (
        409,
        (
            "The requested bucket name is not available. The bucket namespace is shared by all users "
            "of the system. Please select a different name and try again."
        ),
    ),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty."),
    "FileAlreadyExists": (
        409,
        "The object you specified already exists and can not be overwritten.",
    ),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header."),
    "NotModified": (304, "Not Modified"),
    "PreconditionFailed": (412, "At least one of the pre-conditions you specified did not hold."),
    "InvalidRange": (416, "The requested range cannot be satisfied."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "ServiceUnavailable": (503, "Service is temporarily unavailable. Please try again."),
    "SlowDown": (503, "Please reduce your request rate."),
    "RequestTimeout": (
        400,
        (
            "Your socket connection to the server was not read from or written to "
            "within the timeout period."
        ),
    ),
}


class ServiceError(Exception):
    """An OSS error answer: code, status, message, EC and per-error extra elements."""

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int | None = None,
        ec: str | None = None,
        extras: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        known_status, known_message = CATALOGUE.get(code, (400, code))
        self.code = code
        self.status = status or known_status
        self.message = message or known_message
        self.ec = ec or "0000-00000000"
        self.extras = dict(extras or {})
        self.headers = dict(headers or {})
        super().__init__(f"{code}: {self.message}")


def invalid_argument(
    message: str, name: str, value: str, ec: str = "0000-00000000"
) -> ServiceError:
    """InvalidArgument with the ArgumentName/ArgumentValue extras OSS adds."""
    return ServiceError(
        "InvalidArgument", message, ec=ec, extras={"ArgumentName": name, "ArgumentValue": value}
    )
