"""API of OVF: `POST /vms/{id}/export/` starts an export, `/exports/` follows it, and
`/exports/{id}/download/` streams the OVA; `POST /images/import/` starts an import, which
`/imports/` follows."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import TemporaryUploadedFile, UploadedFile
from django.http import FileResponse, Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView

from compute import selectors
from compute.choices import ExportStatus
from compute.models import ExportJob, ImportJob, VirtualMachine
from compute.services import ovf as ovf_services
from compute.services import ovf_import
from portal.api.viewsets import ScopedGenericViewSet, ScopedReadOnlyViewSet, client_ip, request_user


class ExportJobSerializer(serializers.ModelSerializer[ExportJob]):
    vm_name = serializers.CharField(source="vm.name", read_only=True)
    file_name = serializers.CharField(read_only=True)
    download_url = serializers.SerializerMethodField()

    class Meta:
        model = ExportJob
        fields = [
            "id",
            "vm",
            "vm_name",
            "status",
            "disk_format",
            "file_name",
            "size_bytes",
            "sha256",
            "error_message",
            "created_at",
            "started_at",
            "finished_at",
            "expires_at",
            "download_url",
        ]
        read_only_fields = fields

    def get_download_url(self, job: ExportJob) -> str | None:
        if job.status != ExportStatus.READY:
            return None
        request = self.context.get("request")
        return reverse("export-download", kwargs={"pk": job.pk}, request=request)


class ExportJobViewSet(ScopedReadOnlyViewSet):
    """OVA exports of the VMs you see; a ready one has a `download_url`."""

    selector = staticmethod(selectors.export_list)
    serializer_class = ExportJobSerializer
    filterset_fields = ["vm", "status"]

    @extend_schema(responses={(200, "application/x-tar"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request: Request, pk: str | None = None) -> FileResponse:
        """The OVA, streamed from the worker's disk (never read into memory)."""
        job: ExportJob = self.get_object()
        if not selectors.can_operate(request_user(request), job.vm):
            raise PermissionDenied(_("Your role in this tenant does not allow this action."))
        return export_file_response(job)


def export_file_response(job: ExportJob) -> FileResponse:
    """A ready export's OVA as a download; 404 once it has expired or if it is not ready."""
    if job.status != ExportStatus.READY:
        raise Http404(_("This export is not ready for download."))
    try:
        handle = ovf_services.export_path(job).open("rb")
    except FileNotFoundError:
        raise Http404(_("This export's file is gone; export the VM again.")) from None
    return FileResponse(
        handle,
        as_attachment=True,
        filename=job.file_name,
        content_type="application/x-tar",
    )


class VmExportViewSet(ScopedGenericViewSet):
    """Registered on the `vms` prefix beside compute's VM viewset: the `export` route only."""

    selector = staticmethod(selectors.vm_list)
    serializer_class = ExportJobSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "id",
                int,
                OpenApiParameter.PATH,
                description="A unique integer value identifying this virtual machine.",
            )
        ],
        request=None,
        responses={202: ExportJobSerializer},
    )
    @action(detail=True, methods=["post"])
    def export(self, request: Request, pk: str | None = None, **_kwargs: Any) -> Response:
        """Export a stopped VM as an OVA (409 if it is not stopped); follow the job it answers
        until `status` is `ready`, then GET its `download_url`."""
        vm: VirtualMachine = self.get_object()
        job = ovf_services.vm_export_create(
            vm=vm, requested_by=request_user(request), remote_addr=client_ip(request)
        )
        fresh = selectors.export_list(fetched_by=request_user(request)).get(pk=job.pk)
        return Response(
            ExportJobSerializer(fresh, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
        )


class ImageImportSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="The OVA (an uncompressed tar: .ovf first).")
    name = serializers.CharField(max_length=63)
    kernel_path = serializers.CharField(max_length=255, required=False, default="")
    initrd_path = serializers.CharField(max_length=255, required=False, default="")
    cmdline = serializers.CharField(max_length=255, required=False, default="console=ttyS0")
    is_public = serializers.BooleanField(required=False, default=True)


class ImportJobSerializer(serializers.ModelSerializer[ImportJob]):
    url = serializers.SerializerMethodField(help_text="Where to follow the import (GET).")
    image_url = serializers.SerializerMethodField(help_text="The image, once `status` is done.")

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "url",
            "name",
            "status",
            "error_message",
            "size_bytes",
            "hosts_done",
            "hosts_total",
            "attempts",
            "image",
            "image_url",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_url(self, job: ImportJob) -> str:
        return reverse("import-detail", kwargs={"pk": job.pk}, request=self.context.get("request"))

    def get_image_url(self, job: ImportJob) -> str | None:
        if job.image_id is None:
            return None
        request = self.context.get("request")
        return reverse("image-detail", kwargs={"pk": job.image_id}, request=request)


class ImportJobViewSet(ScopedReadOnlyViewSet):
    """OVA imports (platform admins): follow one until `status` is `done` (then `image` is the
    new image) or `failed` (`error_message` says why; nothing of it was kept)."""

    selector = staticmethod(selectors.import_job_list)
    serializer_class = ImportJobSerializer
    filterset_fields = ["status"]


class ImageImportView(APIView):
    """Import an OVA as an image (platform admins; multipart upload). What can be checked at
    once is (the archive's files, the envelope, the manifest, the sizes): a bad OVA is a 400
    saying why. The rest runs on a worker: the answer is a 202 with the import job to follow
    at its `url`. Its envelope gives the image's minimum vCPUs, RAM and disk and its OS."""

    parser_classes = [MultiPartParser]

    @extend_schema(
        request={"multipart/form-data": ImageImportSerializer},
        responses={202: ImportJobSerializer},
    )
    def post(self, request: Request) -> Response:
        user = request_user(request)
        if not user.is_platform_admin:
            raise PermissionDenied(_("Only platform admins can do this."))
        # Before the body is read: an oversize upload is refused without storing it.
        ovf_import.check_upload_size(int(request.META.get("CONTENT_LENGTH") or 0))
        ser = ImageImportSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        data = dict(ser.validated_data)
        upload = data.pop("file")
        job = ovf_import.image_import_start(
            imported_by=user,
            file=upload.file,
            size=upload.size,
            path=upload_path(upload),
            remote_addr=client_ip(request),
            **data,
        )
        return Response(
            ImportJobSerializer(job, context={"request": request}).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": reverse("import-detail", kwargs={"pk": job.pk}, request=request)},
        )


def upload_path(upload: UploadedFile) -> str | None:
    """Where Django wrote a large upload on disk (None: held in memory, being small)."""
    if isinstance(upload, TemporaryUploadedFile):
        return upload.temporary_file_path()
    return None
