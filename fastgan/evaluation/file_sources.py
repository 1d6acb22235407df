"""Image folders and lists of image files as a :class:`~fastgan.evaluation.sources.Source`
(:func:`fastgan.evaluation.sources.open_source` hands them here): listing, unreadable entries
(an error naming them, or skipped with ``skip_bad``), image stacks counted, the fingerprint."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Optional, Union

from fastgan.evaluation.sources import (
    _READ_ERRORS,
    _SKIP_HINT,
    ImageReadError,
    Source,
    _file_fingerprint,
    logger,
)
from fastgan.features.images import (
    ARRAY_EXTENSIONS,
    IMAGE_EXTENSIONS,
    count_images,
    list_folder,
    show_path,
    strip_path,
    unreadable_reason,
)

__all__ = ["open_folder", "open_file_list"]


def open_folder(
    p: Path,
    *,
    name: str,
    layout: str,
    skip_bad: bool,
    exclude: Sequence[Union[str, os.PathLike[str]]] = (),
) -> Source:
    """An image folder (:func:`list_folder`, leaving out ``exclude``) as a :class:`Source`."""
    files, problems = list_folder(p, exclude)
    if not files and not problems:
        raise ValueError(
            f"{name}: no image files ({', '.join(IMAGE_EXTENSIONS)}) or .npy/.npz image arrays "
            f"under {show_path(p)!r}"
        )
    skipped = _unreadable(problems, name=name, where=repr(show_path(p)), skip_bad=skip_bad)
    return _open_files(
        files,
        name=name,
        layout=layout,
        skip_bad=skip_bad,
        origin="folder",
        root=p,
        path=str(p),
        skipped=skipped,
    )


def open_file_list(
    x: Sequence[Union[str, os.PathLike[str]]], *, name: str, layout: str, skip_bad: bool
) -> Source:
    """A list of image file paths (kept in the given order) as a :class:`Source`."""
    files = [Path(f) for f in x]
    missing = [show_path(f) for f in files if not os.path.lexists(f)]
    if missing:
        raise FileNotFoundError(f"{name}: {len(missing)} file(s) do not exist, e.g. {missing[0]!r}")
    reasons = [unreadable_reason(f) for f in files]
    problems = [why for why in reasons if why is not None]
    skipped = _unreadable(problems, name=name, where="the file list", skip_bad=skip_bad)
    files = [f for f, why in zip(files, reasons) if why is None]
    return _open_files(
        files,
        name=name,
        layout=layout,
        skip_bad=skip_bad,
        origin="files",
        root=None,
        path=None,
        skipped=skipped,
    )


def _unreadable(problems: list[str], *, name: str, where: str, skip_bad: bool) -> list[str]:
    """Entries that cannot be read: an ImageReadError naming them, or with ``skip_bad`` logged and
    returned (they join ``Source.skipped``)."""
    if problems and not skip_bad:
        shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
        raise ImageReadError(
            f"{name}: {len(problems)} unreadable entr{'y' if len(problems) == 1 else 'ies'} "
            f"in {where}: {shown} ({_SKIP_HINT})"
        )
    for why in problems:
        logger.warning("%s: skipping unreadable file %s", name, why)
    return list(problems)


def _open_files(
    files: list[Path],
    *,
    name: str,
    layout: str,
    skip_bad: bool,
    origin: str,
    root: Optional[Path],
    path: Optional[str],
    skipped: Optional[list[str]] = None,
) -> Source:
    items: list[tuple[int, int]] = []
    empty: list[str] = []
    skipped = list(skipped or [])
    for fi, f in enumerate(files):
        if f.suffix.lower() in ARRAY_EXTENSIONS:
            try:
                count = count_images(f)
            except _READ_ERRORS as exc:
                msg = f"{show_path(f)}: {strip_path(f, exc)}"
                if not skip_bad:
                    raise ImageReadError(f"{name}: cannot read {msg} ({_SKIP_HINT})") from None
                logger.warning("%s: skipping unreadable file %s", name, msg)
                skipped.append(msg)
                continue
            if count == 1:
                items.append((fi, -1))
            else:  # a stack [n, H, W, C] (an empty one contributes nothing, and is named if nothing else is read)
                items.extend((fi, j) for j in range(count))
                if count == 0:
                    empty.append(show_path(f))
        else:
            items.append((fi, -1))
    if not items:
        what = show_path(path) if path else "the file list"
        raise ImageReadError(
            f"{name}: no readable images in {what}"
            + (f" ({len(skipped)} unreadable skipped, e.g. {skipped[0]})" if skipped else "")
            + (f" ({len(empty)} empty image stack(s), e.g. {empty[0]} holds 0 images)" if empty else "")
        )
    fp = _file_fingerprint(files, root)
    return Source(
        kind="images",
        name=name,
        n=len(items),
        fingerprint=fp,
        origin=origin,
        path=path,
        layout=layout,
        skip_bad=skip_bad,
        skipped=skipped,
        files=files,
        items=items,
    )
