"""``/v1/resources`` and ``/v1/apply``: the estate."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field, model_validator

from keel import wire
from keel.api.routers.body import Body
from keel.api.security import Caller, guard

router = APIRouter(tags=["estate"])

MAX_MANIFEST_CHARS = 16 * 1024 * 1024
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\.ya?ml$")


class ManifestFile(Body):
    """One manifest file, by the name problems will give it."""

    name: str = Field(pattern=FILE_NAME.pattern, description="A plain file name, no folders.")
    text: str = Field(max_length=MAX_MANIFEST_CHARS)


class ApplyBody(Body):
    """Manifests to apply: one YAML text, or several named files."""

    manifests: str | None = Field(
        default=None, min_length=1, max_length=MAX_MANIFEST_CHARS, description="YAML documents"
    )
    files: list[ManifestFile] | None = Field(default=None, min_length=1, max_length=1000)
    dry_run: bool = False
    prune: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> ApplyBody:
        if (self.manifests is None) == (self.files is None):
            raise ValueError("give manifests (one YAML text) or files (named texts), not both")
        if self.files and len({f.name for f in self.files}) != len(self.files):
            raise ValueError("file names must be unique")
        return self


Read = Annotated[Caller, Depends(guard("read", "Estate/{kind}/*"))]


@router.get("/v1/resources/{kind}", response_model=wire.ResourceList)
def list_resources(kind: str, caller: Read) -> wire.ResourceList:
    """Every stored resource of a kind that the caller may read."""
    return caller.ops.get(kind)


@router.get("/v1/resources/{kind}/{name}", response_model=wire.Resource)
def get_resource(
    kind: str, name: str, caller: Annotated[Caller, Depends(guard("read", "Estate/{kind}/{name}"))]
) -> wire.Resource:
    """One stored resource."""
    return caller.ops.get(kind, name).items[0]


@router.post("/v1/apply", response_model=wire.ApplyResult)
def apply(
    body: ApplyBody,
    caller: Annotated[Caller, Depends(guard("apply", "Resource/Estate/all", mutates=True))],
) -> wire.ApplyResult:
    """Apply manifests in one transaction; every resource it changes is authorised."""
    files = body.files or [ManifestFile(name="request.yaml", text=body.manifests or "")]
    with tempfile.TemporaryDirectory() as folder:
        shown = {}
        for item in files:
            path = Path(folder) / item.name
            path.write_text(item.text, encoding="utf-8")
            shown[str(path)] = item.name
        return caller.ops.apply(list(shown), prune=body.prune, dry_run=body.dry_run, shown_as=shown)


@router.delete("/v1/resources/{kind}/{name}", response_model=wire.Change)
def delete(
    kind: str,
    name: str,
    caller: Annotated[Caller, Depends(guard("delete", "Estate/{kind}/{name}", mutates=True))],
) -> wire.Change:
    """Delete one resource (refused while others reference it)."""
    return caller.ops.delete(kind, name)
