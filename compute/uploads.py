"""Django's large uploads written beside the OVA imports' folder, so that keeping an OVA for its
import is a hard link (instant), not a copy of gigabytes inside the web request."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, TemporaryFileUploadHandler

INCOMING = ".incoming"  # in EXPORT_DIR/imports/; the import sweep leaves it alone


def incoming_dir() -> Path:
    path = Path(settings.NUAGE["EXPORT_DIR"]) / "imports" / INCOMING
    path.mkdir(parents=True, exist_ok=True)
    return path


class IncomingUploadedFile(TemporaryUploadedFile):
    """A TemporaryUploadedFile in `incoming_dir()` (removed at the end of the request, as
    Django's own; a link made to it meanwhile stays)."""

    def __init__(
        self,
        name: str,
        content_type: str,
        size: int,
        charset: str | None,
        content_type_extra: dict[str, bytes] | None = None,
    ) -> None:
        _, ext = os.path.splitext(name)
        file = tempfile.NamedTemporaryFile(suffix=".upload" + ext, dir=incoming_dir())  # noqa: SIM115
        UploadedFile.__init__(self, file, name, content_type, size, charset, content_type_extra)


class IncomingUploadHandler(TemporaryFileUploadHandler):
    """Django's TemporaryFileUploadHandler, its file in `incoming_dir()`."""

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        FileUploadHandler.new_file(self, *args, **kwargs)
        self.file = IncomingUploadedFile(
            self.file_name or "", self.content_type or "", 0, self.charset, self.content_type_extra
        )
