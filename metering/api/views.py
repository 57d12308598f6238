"""API of measured use: `GET /api/v1/vms/{id}/metrics/`, a VM's use beside its allocation."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from compute.models import VirtualMachine
from compute.selectors import vm_list
from metering.api.serializers import VmMetricsSerializer
from metering.selectors import vm_metrics
from portal.api.viewsets import ScopedGenericViewSet, request_user


class VmMetricsViewSet(ScopedGenericViewSet):
    """Registered on the `vms` prefix beside compute's VM viewset: it adds the `metrics` route
    only. The VMs are those the VM API shows (deleted ones are gone there too)."""

    selector = staticmethod(vm_list)
    serializer_class = VmMetricsSerializer

    @extend_schema(
        # Typed here: the schema cannot derive it from a queryset (this view has no model).
        parameters=[
            OpenApiParameter(
                "id",
                int,
                OpenApiParameter.PATH,
                description="A unique integer value identifying this virtual machine.",
            )
        ],
        responses=VmMetricsSerializer,
    )
    @action(detail=True, methods=["get"])
    def metrics(self, request: Request, pk: str | None = None) -> Response:
        """Measured use (last hour, 24 hours, 30 days; hourly CPU) beside the allocation."""
        vm: VirtualMachine = self.get_object()
        data = vm_metrics(fetched_by=request_user(request), vm_id=vm.pk)
        return Response(VmMetricsSerializer(data).data)
