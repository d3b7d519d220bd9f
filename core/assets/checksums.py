"""Checking what arrived: a finished download or a bundled copy against its expected size, sha256 or md5, before it replaces anything."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.assets.net_errors import (
    DownloadError,
)
from core.events import (
    CancelToken,
)
from core.fsutil import file_digest


def verify(part: Path, url: str, *, sha256: str | None, md5: str | None, expected_size: int | None,
            algorithms: list[str], cancel: CancelToken | None) -> None:
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        part.unlink(missing_ok=True)
        raise DownloadError(
            f"The download of {url} has {size} bytes but {expected_size} were expected; the partial "
            "file was deleted. Run the command again."
        )
    for name in algorithms:
        want = (sha256 if name == "sha256" else md5 or "").lower()
        got = file_digest(part, name, cancel)
        if got != want:
            part.unlink(missing_ok=True)
            raise DownloadError(
                f"Checksum mismatch for {part.name.removesuffix('.part')} from {url}: expected {name} "
                f"{want}, got {got}. The damaged file was deleted; run the command again. If it keeps "
                "happening, the source changed or a proxy alters downloads."
            )


def copy_verified(src: Path, dest: Path, sha256: str | None = None,
                  cancel: CancelToken | None = None) -> Path:
    """Copy a local file atomically (e.g. a bundled model) after checking its sha256."""
    from core.fsutil import atomic_path

    if sha256 and file_digest(src, "sha256", cancel) != sha256.lower():
        raise DownloadError(f"{src} does not match its expected sha256; reinstall the package that ships it.")
    with atomic_path(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest
