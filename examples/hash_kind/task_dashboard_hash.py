"""An example task kind: hash every file in a folder, reporting progress by bytes.

The log is in the format of `sha256sum`, so `sha256sum -c` can check it later.
Install with `pip install ./examples/hash_kind`; Task Dashboard finds it by its entry point.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from web.tasks.kinds import TaskContext, kind

CHUNK = 1024 * 1024


class HashFolder(BaseModel):
    model_config = ConfigDict(extra="forbid")

    folder: str = Field(description="The folder to hash (every file below it).")
    algorithm: Literal["sha256", "sha1", "md5", "blake2b"] = "sha256"
    pattern: str = Field("**/*", description="Which files, as a glob relative to the folder.")

    @field_validator("folder")
    @classmethod
    def _is_folder(cls, value: str) -> str:
        if not Path(value).is_dir():
            raise ValueError(f"no such folder: {value}")
        return value


@kind("hash-folder", params=HashFolder)
def hash_folder(params: HashFolder, ctx: TaskContext) -> None:
    """Hash every file in a folder; the log reads like the output of sha256sum."""
    root = Path(params.folder)
    files = sorted(p for p in root.glob(params.pattern) if p.is_file())
    total = sum(p.stat().st_size for p in files) or 1
    done = 0
    for path in files:
        digest = hashlib.new(params.algorithm)
        with path.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                ctx.check_cancelled()
                digest.update(chunk)
                done += len(chunk)
                ctx.progress(done / total)
        ctx.log(f"{digest.hexdigest()}  {path.relative_to(root)}")
    ctx.log(f"# {len(files)} files, {done} bytes, {params.algorithm}")
