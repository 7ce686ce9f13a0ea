"""The engine's two inputs besides the source: how to transfer and what object to make.

:class:`TransferConfig` (in the spirit of s3transfer's) holds every "how" setting and checks it
once, when built; :class:`~oss_provider.client.options.ObjectOptions` (re-exported here) holds
every "what" option and makes the request headers. The engine, the many-files engine, the hook
and the operators pass these two objects along instead of loose keywords, so a setting is
validated, defaulted and merged with the connection's defaults in exactly one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from oss_provider.client.options import ObjectOptions, option_names
from oss_provider.client.validation import validate_part_size

MiB = 1024 * 1024
DEFAULT_PART_SIZE = 8 * MiB
DEFAULT_CONCURRENCY = 8
DEFAULT_PART_RETRIES = 2


def validate_concurrency(concurrency: int | None) -> int:
    """Parts (and bodies) in flight at once; None means the default (8)."""
    if concurrency is None:
        return DEFAULT_CONCURRENCY
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"concurrency must be a whole number >= 1, got {concurrency!r}")
    return concurrency


def validate_part_retries(value: Any) -> int:
    """Re-sends of a part whose bytes arrived damaged; a whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"part_retries must be a whole number >= 0 (re-sends of a damaged part), got {value!r}"
        )
    return value


def _whole_or_none(name: str, value: Any) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{name} must be a whole number of bytes >= 0, got {value!r}")


def _bool_or_none(name: str, value: Any, *, optional: bool = False) -> None:
    if not isinstance(value, bool) and not (optional and value is None):
        raise TypeError(f"{name} must be True or False, got {value!r}")


@dataclass(frozen=True)
class TransferConfig:
    """How one upload (or one set of files) is transferred.

    :param part_size: bytes per part; None: 8 MiB, grown to fit 9,998 parts.
    :param multipart_threshold: sources smaller than this go up in one verified PUT; None: the
        part size; 0: always multipart.
    :param concurrency: requests (and part bodies) in flight at once.
    :param part_retries: re-sends of a part whose bytes arrived damaged (CRC-64 or MD5
        mismatch) or came short from the source; transient HTTP failures are retried by the
        client's retry policy instead.
    :param content_md5: send ``Content-MD5`` with every part and PUT, so OSS refuses corrupted
        bytes before storing them; ``False`` saves about 1 s of CPU per GiB (CRC-64 is still
        checked for every part and the whole object).
    :param resume: continue this writer's own in-progress upload, keeping parts whose size and
        CRC-64 match the source (a stream never resumes).
    :param abort_on_failure: abort a failed upload; None: ``not resume`` (a resumable upload
        keeps its parts for the retry). A stream's and a changed source's always abort.
    """

    part_size: int | None = None
    multipart_threshold: int | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    part_retries: int = DEFAULT_PART_RETRIES
    content_md5: bool = True
    resume: bool = True
    abort_on_failure: bool | None = None

    def __post_init__(self) -> None:
        if self.part_size is not None:
            validate_part_size(self.part_size)
        _whole_or_none("multipart_threshold", self.multipart_threshold)
        object.__setattr__(self, "concurrency", validate_concurrency(self.concurrency))
        validate_part_retries(self.part_retries)
        _bool_or_none("content_md5", self.content_md5)
        _bool_or_none("resume", self.resume)
        _bool_or_none("abort_on_failure", self.abort_on_failure, optional=True)

    @classmethod
    def build(
        cls,
        config: TransferConfig | Mapping[str, Any] | None = None,
        *,
        defaults: Mapping[str, Any] | None = None,
        **given: Any,
    ) -> TransferConfig:
        """The one merge of settings: ``given`` keywords (None means "not given") over
        ``config`` over ``defaults`` (a connection's ``part_size`` / ``concurrency`` /
        ``content_md5`` extras) over the class defaults. An unknown name is refused."""
        names = setting_names()
        merged: dict[str, Any] = {}
        for layer in (defaults or {}, _as_mapping(config), given):
            unknown = sorted(set(layer) - set(names))
            if unknown:
                raise TypeError(
                    f"unknown transfer setting(s) {', '.join(unknown)}; the settings are "
                    f"{', '.join(names)}"
                )
            merged.update({k: v for k, v in layer.items() if v is not None})
        return cls(**merged)

    def merged(self, **given: Any) -> TransferConfig:
        """A copy with the settings given (not None) replaced, checked again."""
        return replace(self, **{k: v for k, v in given.items() if v is not None})

    def to_dict(self) -> dict[str, Any]:
        """Every setting by name (None kept), JSON-able: for XCom, logs and :meth:`build`."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _as_mapping(config: TransferConfig | Mapping[str, Any] | None) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, TransferConfig):
        return {k: v for k, v in config.to_dict().items() if v is not None}
    return dict(config)


def setting_names() -> tuple[str, ...]:
    """Every TransferConfig setting's name."""
    return tuple(f.name for f in fields(TransferConfig))


def take_settings(
    kwargs: dict[str, Any],
    config: TransferConfig | None = None,
    options: ObjectOptions | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
) -> tuple[TransferConfig, ObjectOptions]:
    """The two objects from loose keywords (the engine's keyword API before these objects,
    still accepted): transfer settings, over ``defaults`` (a connection's extras), to the config;
    object options (and the older ``initiate_kwargs`` dict) to the options. ``kwargs`` is emptied
    of what it used; anything else is left in it."""
    object_kwargs = dict(kwargs.pop("initiate_kwargs", None) or {})
    for name in option_names():
        if name in kwargs:
            object_kwargs[name] = kwargs.pop(name)
    setting_kwargs = {name: kwargs.pop(name) for name in setting_names() if name in kwargs}
    return (
        TransferConfig.build(config, defaults=defaults, **setting_kwargs),
        ObjectOptions.of(options, **object_kwargs),
    )


def split_settings(
    kwargs: dict[str, Any],
    config: TransferConfig | None = None,
    options: ObjectOptions | None = None,
) -> tuple[TransferConfig, ObjectOptions]:
    """:func:`take_settings`, refusing any other keyword (naming both lists)."""
    taken = take_settings(kwargs, config, options)
    if kwargs:
        raise TypeError(
            f"unexpected argument(s) {', '.join(sorted(kwargs))}; transfer settings are "
            f"{', '.join(setting_names())} and object options {', '.join(option_names())}"
        )
    return taken


__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_PART_RETRIES",
    "DEFAULT_PART_SIZE",
    "ObjectOptions",
    "TransferConfig",
    "setting_names",
    "split_settings",
    "take_settings",
    "validate_concurrency",
    "validate_part_retries",
]
