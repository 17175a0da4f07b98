"""Files shipped in the packages (config defaults, stack templates, migrations, dashboards): importlib.resources."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def packaged(package: str, *parts: str) -> Path:
    """A file or folder shipped with `package`, as a path on disk.

    The same lookup serves a checkout (tests, `make up`) and an installed wheel: it never looks beside the
    repository. Wheels install unpacked, so the resource is a real path; a zipped install is refused.
    """
    root = files(package)
    if not isinstance(root, Path):  # e.g. a zipimport reader: nothing of ours can run from there
        raise RuntimeError(f"package {package} is not installed as files on disk ({root!r})")
    return root.joinpath(*parts)
