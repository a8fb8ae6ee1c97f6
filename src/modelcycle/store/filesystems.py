"""fsspec file systems from URLs, with the S3 endpoint and credentials taken from the environment.

Artifact stores and data sources open their URLs here, so ``s3://`` means the same endpoint
everywhere: ``MODELCYCLE_S3_ENDPOINT_URL``, else ``AWS_ENDPOINT_URL_S3``, else
``AWS_ENDPOINT_URL``, else AWS itself.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from modelcycle.core.errors import InvalidInput, MissingDependency, StoreError

if TYPE_CHECKING:
    from collections.abc import Mapping

S3_SCHEMES: Final = frozenset({"s3", "s3a"})
ENDPOINT_VARIABLES: Final = (
    "MODELCYCLE_S3_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL",
)


def s3_endpoint() -> str | None:
    """The S3 endpoint the environment names, or None for AWS."""
    for name in ENDPOINT_VARIABLES:
        if value := os.environ.get(name):
            return value
    return None


def open_filesystem(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec file system for ``url`` and the path inside it.

    Args:
        url: A URL such as ``s3://bucket/key``, ``gs://...``, ``memory://...`` or a local path.
        storage_options: Extra keyword arguments for the file system.

    Returns:
        ``(filesystem, path)``.

    Raises:
        MissingDependency: ``s3://`` without s3fs installed.
        InvalidInput: fsspec does not know the URL's scheme or refuses its options.
        StoreError: The file system's driver could not be imported.
    """
    options = dict(storage_options or {})
    if urlsplit(url).scheme.lower() in S3_SCHEMES:
        try:
            import s3fs  # noqa: F401  (fsspec imports it by name; fail early with the extra)
        except ImportError:
            raise MissingDependency("s3fs", "s3") from None
        client_kwargs = dict(options.get("client_kwargs") or {})
        endpoint = s3_endpoint()
        if endpoint and "endpoint_url" not in client_kwargs:
            client_kwargs["endpoint_url"] = endpoint
        options["client_kwargs"] = client_kwargs
        options.setdefault("use_listings_cache", False)  # other writers add objects behind us
    from fsspec.core import url_to_fs

    try:
        fs, path = url_to_fs(url, **options)
    except ImportError as exc:
        raise StoreError(f"cannot open {url}: {exc}") from None
    except ValueError as exc:
        raise InvalidInput(f"cannot open {url!r}: {exc}") from None
    return fs, str(path)
