"""API views for hosts, flavors, images and VMs; long VM operations answer 202."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import django_filters
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.generics import get_object_or_404
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compute import balancing, ipam, selectors, services
from compute.api.serializers import (
    BulkDecideSerializer,
    BulkDecisionSerializer,
    CapacityQuerySerializer,
    CapacitySerializer,
    DrsRecommendationSerializer,
    DrsRunSerializer,
    DrsSettingsSerializer,
    DrsSettingsUpdateSerializer,
    DrsStatusSerializer,
    EvacuationMoveSerializer,
    FlavorSerializer,
    FlavorUpdateSerializer,
    HostSerializer,
    HostUpdateSerializer,
    ImageSerializer,
    LeaseAskSerializer,
    LeaseExtendSerializer,
    MaintenanceSerializer,
    MaintenanceStatusSerializer,
    MigrateSerializer,
    NetworkGrantSerializer,
    NetworkSerializer,
    NetworkUpdateSerializer,
    OrphanAdoptSerializer,
    OrphanDestroySerializer,
    OrphanSerializer,
    RejectSerializer,
    ResizeSerializer,
    RollingMaintenanceSerializer,
    SnapshotCreateSerializer,
    SnapshotScheduleSerializer,
    SnapshotScheduleSetSerializer,
    SnapshotSerializer,
    VirtualMachineRequestSerializer,
    VirtualMachineSerializer,
    VolumeAttachSerializer,
    VolumeCreateSerializer,
    VolumeResizeSerializer,
    VolumeSerializer,
    snapshot_row,
    vm_rows,
    vm_values,
)
from compute.choices import OperationKind
from compute.models import (
    DrsRecommendation,
    Host,
    Network,
    NetworkGrant,
    RollingMaintenance,
    Snapshot,
    VirtualMachine,
    Volume,
)
from portal.api.filters import ScopedFilterBackend
from portal.api.viewsets import (
    ScopedReadOnlyViewSet,
    ServiceCreateMixin,
    ServiceUpdateMixin,
    StableOrderingFilter,
    client_ip,
    request_user,
)
from portal.permissions import require_platform_admin


@extend_schema_view(
    update=extend_schema(request=HostUpdateSerializer),
    partial_update=extend_schema(request=HostUpdateSerializer),
)
class HostViewSet(ServiceCreateMixin, ServiceUpdateMixin, ScopedReadOnlyViewSet):
    selector = staticmethod(selectors.host_list)
    serializer_class = HostSerializer
    create_service = staticmethod(services.host_register)
    create_actor = "registered_by"
    update_serializer_class = HostUpdateSerializer
    update_service = staticmethod(services.host_update)
    update_object = "host"

    @extend_schema(request=None, responses=OrphanSerializer(many=True))
    @action(detail=True, methods=["get"], pagination_class=None)
    def orphans(self, request: Request, pk: str | None = None) -> Response:
        """Domains on the host that Nuage does not know, as the reconciler last saw them."""
        host: Host = self.get_object()
        return Response(OrphanSerializer(host.orphan_domains, many=True).data)

    @extend_schema(request=OrphanDestroySerializer, responses={204: None})
    @action(detail=True, methods=["post"], url_path="orphans/destroy")
    def orphan_destroy(self, request: Request, pk: str | None = None) -> Response:
        host: Host = self.get_object()
        ser = OrphanDestroySerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.host_orphan_destroy(
            host=host,
            uuid=str(ser.validated_data["uuid"]),
            requested_by=request_user(request),
            remote_addr=client_ip(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=OrphanAdoptSerializer, responses={201: VirtualMachineSerializer})
    @action(detail=True, methods=["post"], url_path="orphans/adopt")
    def orphan_adopt(self, request: Request, pk: str | None = None) -> Response:
        host: Host = self.get_object()
        ser = OrphanAdoptSerializer(data=request.data, context={"request": request})
        ser.is_valid(raise_exception=True)
        data, user = ser.validated_data, request_user(request)
        vm = services.host_orphan_adopt(
            host=host,
            uuid=str(data["uuid"]),
            requested_by=user,
            environment=data["environment"],
            owner=data["owner"],
            flavor=data["flavor"],
            image=data["image"],
            name=data["name"],
            remote_addr=client_ip(request),
        )
        return Response(VirtualMachineSerializer(vm).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MaintenanceSerializer, responses=MaintenanceStatusSerializer)
    @action(detail=True, methods=["post"])
    def maintenance(self, request: Request, pk: str | None = None) -> Response:
        """Enter maintenance (running VMs are live-migrated away) or leave it."""
        host: Host = self.get_object()
        ser = MaintenanceSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        counts = services.host_set_maintenance(
            host=host,
            enabled=ser.validated_data["enabled"],
            requested_by=request_user(request),
            remote_addr=client_ip(request),
        )
        host.refresh_from_db()
        status_ = selectors.host_maintenance_status(host)
        body = {
            **status_,
            "migrations_started": counts["started"],
            "no_room": counts["no_room"],
        }
        return Response(MaintenanceStatusSerializer(body).data)

    @extend_schema(request=None, responses=EvacuationMoveSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="evacuation-plan", pagination_class=None)
    def evacuation_plan(self, request: Request, pk: str | None = None) -> Response:
        """What entering maintenance would move now, and where (nothing is written)."""
        host: Host = self.get_object()
        plan = services.host_evacuation_plan(host=host, requested_by=request_user(request))
        return Response(EvacuationMoveSerializer(plan, many=True).data)


@extend_schema_view(
    update=extend_schema(request=FlavorUpdateSerializer),
    partial_update=extend_schema(request=FlavorUpdateSerializer),
)
class FlavorViewSet(ServiceCreateMixin, ServiceUpdateMixin, ScopedReadOnlyViewSet):
    selector = staticmethod(selectors.flavor_list)
    serializer_class = FlavorSerializer
    create_service = staticmethod(services.flavor_create)
    update_serializer_class = FlavorUpdateSerializer
    update_service = staticmethod(services.flavor_update)
    update_object = "flavor"


class ImageViewSet(ServiceCreateMixin, ScopedReadOnlyViewSet):
    selector = staticmethod(selectors.image_list)
    serializer_class = ImageSerializer
    create_service = staticmethod(services.image_create)


def _resolve(qs: Any, pk: int, field: str, label: str) -> Any:
    obj = qs.filter(pk=pk).first()
    if obj is None:
        raise ValidationError({field: _("Unknown %(what)s.") % {"what": label}})
    return obj


class VirtualMachineViewSet(mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    selector = staticmethod(selectors.vm_list_with_operation)
    # The snapshot actions answer with snapshots: the VM's operations and ports are not needed.
    # The list and the retrieve read plain values (`vm_values`, `vm_rows`): no relation or
    # prefetch to build.
    action_selectors = {
        name: selectors.vm_scope
        for name in ("snapshots", "snapshot_delete", "snapshot_revert", "list", "retrieve")
    } | {"approve": selectors.vm_to_approve}
    serializer_class = VirtualMachineSerializer
    filter_backends = [ScopedFilterBackend, StableOrderingFilter]
    filterset_fields = {
        "kind": ["exact"],
        "state": ["exact"],
        "environment": ["exact"],
        "tenant": ["exact"],
        "owner": ["exact"],
        "name": ["exact", "icontains"],
    }
    ordering_fields = ["name", "created_at", "state"]
    ordering = ["-created_at"]

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """A page of VMs, built from plain values (`vm_rows`): the same rows as one VM's."""
        page = self.paginate_queryset(vm_values(self.filter_queryset(self.get_queryset())))
        assert page is not None  # the API always pages
        return self.get_paginated_response(vm_rows(page))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """One VM, built as the list builds each (`vm_rows`); found as DRF's get_object finds
        it (in scope, the list's filters applied, a 404 otherwise)."""
        queryset: Any = vm_values(self.filter_queryset(self.get_queryset()))
        row: dict[str, Any] = get_object_or_404(
            queryset, pk=self.kwargs[self.lookup_url_kwarg or "pk"]
        )
        self.check_object_permissions(request, row)
        return Response(vm_rows([row])[0])

    def _vm_by_id(
        self, request: Request, pk: str | None, read: Callable[..., VirtualMachine | None]
    ) -> VirtualMachine:
        """get_object's find (in scope, the same 404, the object permissions) through a read of
        one VM by its id (`read(fetched_by=, pk=)`): a prepared statement rather than the
        ORM's building of the viewset's queryset, for the actions on the way of a short
        operation (an approval, a snapshot)."""
        vm_id = int(str(pk)) if str(pk).isascii() and str(pk).isdecimal() else 0
        vm = read(fetched_by=request_user(request), pk=vm_id) if 0 < vm_id < 2**63 else None
        if vm is None:
            raise Http404("No VirtualMachine matches the given query.")
        self.check_object_permissions(request, vm)
        return vm

    def _answer(self, vm: VirtualMachine, code: int = status.HTTP_202_ACCEPTED) -> Response:
        # Every action answers 202 with the VM, including the one done at once (reject), so that
        # clients handle one shape; creation answers 201.
        # Deleted VMs leave the default listing; the answer still shows where this one stands.
        fresh = selectors.vm_list_with_operation(
            fetched_by=request_user(self.request), include_deleted=True
        ).get(pk=vm.pk)
        return Response(VirtualMachineSerializer(fresh).data, status=code)

    @extend_schema(
        request=VirtualMachineRequestSerializer, responses={201: VirtualMachineSerializer}
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = request_user(request)
        ser = VirtualMachineRequestSerializer(data=request.data, context={"request": request})
        ser.is_valid(raise_exception=True)
        data = ser.validated_data
        vm = services.vm_request_create(
            requested_by=user,
            environment=data["environment"],
            flavor=data["flavor"],
            image=data["image"],
            name=data["name"],
            ssh_public_key=data["ssh_public_key"],
            anti_affinity_group=data["anti_affinity_group"],
            key_pairs=data["key_pairs"],
            network=data["network"],
            kind=data["kind"],
            justification=data["justification"],
            remote_addr=client_ip(request),
        )
        answer = selectors.vm_as_requested(vm=vm, fetched_by=user)
        return Response(VirtualMachineSerializer(answer).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: VirtualMachineSerializer})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._act(request, "delete")

    def _act(self, request: Request, name: str) -> Response:
        vm: VirtualMachine = self.get_object()
        services.vm_action(
            vm=vm,
            action=name,
            requested_by=request_user(request),
            remote_addr=client_ip(request),
        )
        return self._answer(vm)

    @extend_schema(request=None, responses={202: VirtualMachineSerializer})
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        vm = self._vm_by_id(request, pk, selectors.vm_to_approve_one)
        op = services.vm_approve(
            vm=vm, approved_by=request_user(request), remote_addr=client_ip(request)
        )
        if op.kind != OperationKind.PROVISION:  # a resize approved: its flavor and host moved
            return self._answer(vm)
        # The VM as the approval left it (its state, lease and approver are set on it), with the
        # operation and steps just made: read back, it would be the same, for one query more.
        vm.operations_latest_first = [op]  # type: ignore[attr-defined]
        return Response(VirtualMachineSerializer(vm).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=RejectSerializer, responses={202: VirtualMachineSerializer})
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        vm: VirtualMachine = self.get_object()
        ser = RejectSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.vm_reject(
            vm=vm,
            rejected_by=request_user(request),
            reason=ser.validated_data["reason"],
            remote_addr=client_ip(request),
        )
        return self._answer(vm)

    @extend_schema(request=BulkDecideSerializer, responses={200: BulkDecisionSerializer})
    @action(detail=False, methods=["post"], url_path="bulk-decide")
    def bulk_decide(self, request: Request) -> Response:
        """Approve or reject several pending requests at once (`decision`: approve or reject,
        `reason` for a rejection). Each is decided on its own, with the same rules as one by one
        (nobody decides their own request): `results` says, per id, whether it was decided and
        why not. Ids of requests you cannot see, or that no longer wait, are results too."""
        user = request_user(request)
        ser = BulkDecideSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        ids: list[int] = list(dict.fromkeys(ser.validated_data["vms"]))
        found = {
            vm.pk: vm
            for vm in selectors.vm_pending_approval_list(fetched_by=user).filter(pk__in=ids)
        }
        decided = services.vm_decide_many(
            vms=[found[i] for i in ids if i in found],
            decided_by=user,
            approve=ser.validated_data["decision"] == "approve",
            reason=ser.validated_data.get("reason", ""),
            remote_addr=client_ip(request),
        )
        by_id = {d.vm_id: d for d in decided}
        results = [
            {"id": d.vm_id, "name": d.name, "decided": d.ok, "detail": d.detail}
            if (d := by_id.get(i))
            else {
                "id": i,
                "name": "",
                "decided": False,
                "detail": _("No request with this id waits for your approval."),
            }
            for i in ids
        ]
        return Response(BulkDecisionSerializer({"results": results}).data)

    @extend_schema(request=MigrateSerializer, responses={202: VirtualMachineSerializer})
    @action(detail=True, methods=["post"])
    def migrate(self, request: Request, pk: str | None = None) -> Response:
        """Live-migrate a running VM with its disk (platform admins)."""
        vm: VirtualMachine = self.get_object()
        ser = MigrateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user = request_user(request)
        target_id = ser.validated_data.get("host")
        target = None
        if target_id is not None:
            target = _resolve(selectors.host_list(fetched_by=user), target_id, "host", _("host"))
        services.vm_migrate(vm=vm, requested_by=user, target=target, remote_addr=client_ip(request))
        return self._answer(vm)

    @extend_schema(request=None, responses={202: VirtualMachineSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, "start")

    @extend_schema(request=None, responses={202: VirtualMachineSerializer})
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, "stop")

    @extend_schema(request=None, responses={202: VirtualMachineSerializer})
    @action(detail=True, methods=["post"])
    def reboot(self, request: Request, pk: str | None = None) -> Response:
        return self._act(request, "reboot")

    @extend_schema(request=LeaseExtendSerializer, responses={200: VirtualMachineSerializer})
    @action(detail=True, methods=["post"], url_path="lease/extend")
    def lease_extend(self, request: Request, pk: str | None = None) -> Response:
        """Set the lease to end `days` from now: up to the environment's maximum, or beyond
        for approvers (a VM without a lease, or a longer ask, is a 400 on `days`)."""
        vm: VirtualMachine = self.get_object()
        ser = LeaseExtendSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.vm_lease_extend(
            vm=vm,
            requested_by=request_user(request),
            days=ser.validated_data["days"],
            remote_addr=client_ip(request),
        )
        return self._answer(vm, status.HTTP_200_OK)

    @extend_schema(request=LeaseAskSerializer, responses={202: VirtualMachineSerializer})
    @action(detail=True, methods=["post"], url_path="lease/ask")
    def lease_ask(self, request: Request, pk: str | None = None) -> Response:
        """Ask the tenant's approvers (in the portal and by e-mail) for a longer lease."""
        vm: VirtualMachine = self.get_object()
        ser = LeaseAskSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.vm_lease_ask(
            vm=vm,
            requested_by=request_user(request),
            days=ser.validated_data["days"],
            reason=ser.validated_data["reason"],
            remote_addr=client_ip(request),
        )
        return self._answer(vm)

    @extend_schema(request=None, responses={202: VirtualMachineSerializer})
    @action(detail=True, methods=["post"], url_path="force-off")
    def force_off(self, request: Request, pk: str | None = None) -> Response:
        """Power off without waiting for the guest: a running VM at once, or a stopping one
        now rather than at the end of its grace time (409 in any other state)."""
        vm: VirtualMachine = self.get_object()
        services.vm_force_off(
            vm=vm, requested_by=request_user(request), remote_addr=client_ip(request)
        )
        return self._answer(vm)

    # --- snapshots: /vms/{id}/snapshots/, /vms/{id}/snapshots/{sid}/ and .../{sid}/revert/ ---

    def _snapshot(self, vm: VirtualMachine, sid: str) -> Snapshot:
        # The VM is in scope (get_object); a snapshot of another VM is as unknown as a missing one.
        snapshot = selectors.vm_snapshots(vm=vm).filter(pk=int(sid)).first()
        if snapshot is None:
            raise NotFound(_("No such snapshot of this VM."))
        snapshot.vm = vm
        return snapshot

    @staticmethod
    def _snapshot_answer(snapshot: Snapshot, code: int) -> Response:
        # As the service left it (not read again): the state the request moved it to.
        return Response(snapshot_row(snapshot), status=code)

    @extend_schema(methods=["GET"], request=None, responses={200: SnapshotSerializer(many=True)})
    @extend_schema(
        methods=["POST"], request=SnapshotCreateSerializer, responses={202: SnapshotSerializer}
    )
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def snapshots(self, request: Request, pk: str | None = None) -> Response:
        """The VM's snapshots (GET), or take one (POST): with the guest's memory while it runs
        (live), of its disk while it is stopped. 409 while the VM is busy or in transition."""
        vm = self._vm_by_id(request, pk, selectors.vm_scope_one)
        if request.method == "GET":
            rows = selectors.vm_snapshots(vm=vm).select_related("vm")
            return Response(SnapshotSerializer(rows, many=True).data)
        ser = SnapshotCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        snapshot = services.snapshot_create(
            vm=vm,
            name=ser.validated_data["name"],
            with_memory=ser.validated_data.get("with_memory"),
            requested_by=request_user(request),
            remote_addr=client_ip(request),
        )
        return self._snapshot_answer(snapshot, status.HTTP_202_ACCEPTED)

    @extend_schema(methods=["GET"], request=None, responses={200: SnapshotScheduleSerializer})
    @extend_schema(
        methods=["PUT"],
        request=SnapshotScheduleSetSerializer,
        responses={200: SnapshotScheduleSerializer},
    )
    @extend_schema(methods=["DELETE"], request=None, responses={204: None})
    @action(
        detail=True,
        methods=["get", "put", "delete"],
        url_path="snapshot-schedule",
        pagination_class=None,
    )
    def snapshot_schedule(self, request: Request, pk: str | None = None) -> Response:
        """The VM's scheduled snapshots (404 when it has none): PUT sets or changes them
        (`frequency` daily or weekly, `retention` 1 to 50 kept, `enabled`), DELETE stops them
        (the snapshots already taken stay until deleted)."""
        vm: VirtualMachine = self.get_object()
        schedule = selectors.vm_snapshot_schedule(vm=vm)
        if request.method == "PUT":
            ser = SnapshotScheduleSetSerializer(data=request.data)
            ser.is_valid(raise_exception=True)
            schedule = services.snapshot_schedule_set(
                vm=vm,
                frequency=ser.validated_data["frequency"],
                retention=ser.validated_data["retention"],
                enabled=ser.validated_data["enabled"],
                requested_by=request_user(request),
                remote_addr=client_ip(request),
            )
            return Response(SnapshotScheduleSerializer(schedule).data)
        if schedule is None:
            raise NotFound(_("This VM has no snapshot schedule."))
        if request.method == "DELETE":
            services.snapshot_schedule_remove(
                vm=vm, requested_by=request_user(request), remote_addr=client_ip(request)
            )
            return Response(status=status.HTTP_204_NO_CONTENT)
        return Response(SnapshotScheduleSerializer(schedule).data)

    @extend_schema(request=None, responses={202: SnapshotSerializer})
    @action(detail=True, methods=["delete"], url_path=r"snapshots/(?P<sid>[0-9]+)")
    def snapshot_delete(self, request: Request, pk: str | None = None, sid: str = "") -> Response:
        vm = self._vm_by_id(request, pk, selectors.vm_scope_one)
        snapshot = self._snapshot(vm, sid)
        services.snapshot_delete(
            snapshot=snapshot, requested_by=request_user(request), remote_addr=client_ip(request)
        )
        return self._snapshot_answer(snapshot, status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: SnapshotSerializer})
    @action(detail=True, methods=["post"], url_path=r"snapshots/(?P<sid>[0-9]+)/revert")
    def snapshot_revert(self, request: Request, pk: str | None = None, sid: str = "") -> Response:
        """Bring the VM back to the snapshot (running if it was taken with memory, else
        stopped). 404 for a snapshot that is not this VM's (or was deleted)."""
        vm = self._vm_by_id(request, pk, selectors.vm_scope_one)
        snapshot = self._snapshot(vm, sid)
        services.snapshot_revert(
            snapshot=snapshot, requested_by=request_user(request), remote_addr=client_ip(request)
        )
        return self._snapshot_answer(snapshot, status.HTTP_202_ACCEPTED)

    @extend_schema(request=ResizeSerializer, responses={202: VirtualMachineSerializer})
    @action(detail=True, methods=["post"])
    def resize(self, request: Request, pk: str | None = None) -> Response:
        """Give a stopped VM another flavor: its disk grows (never shrinks), its domain takes
        the new vCPUs, memory and limits; 409 unless stopped or when its host is too full."""
        vm: VirtualMachine = self.get_object()
        ser = ResizeSerializer(data=request.data, context={"request": request})
        ser.is_valid(raise_exception=True)
        services.vm_resize(
            vm=vm,
            flavor=ser.validated_data["flavor"],
            requested_by=request_user(request),
            remote_addr=client_ip(request),
        )
        return self._answer(vm)

    @extend_schema(request=None, responses={202: VirtualMachineSerializer})
    @action(detail=True, methods=["post"], url_path="resize/withdraw")
    def resize_withdraw(self, request: Request, pk: str | None = None) -> Response:
        """Take back a resize waiting for approval: the VM stays stopped at its flavor and the
        quota held for the new size is given back; 409 when no resize waits."""
        vm: VirtualMachine = self.get_object()
        services.vm_resize_withdraw(
            vm=vm, requested_by=request_user(request), remote_addr=client_ip(request)
        )
        return self._answer(vm)


@extend_schema_view(
    update=extend_schema(request=NetworkUpdateSerializer),
    partial_update=extend_schema(request=NetworkUpdateSerializer),
)
class NetworkViewSet(
    ServiceCreateMixin, ServiceUpdateMixin, mixins.DestroyModelMixin, ScopedReadOnlyViewSet
):
    """Networks and their address pools: platform admins manage them; members see the networks
    granted to their tenants, read-only."""

    selector = staticmethod(selectors.network_list)
    serializer_class = NetworkSerializer
    filterset_fields = ["kind"]
    create_service = staticmethod(ipam.network_create)
    update_serializer_class = NetworkUpdateSerializer
    update_service = staticmethod(ipam.network_update)
    update_object = "network"

    def perform_destroy(self, instance: Network) -> None:
        ipam.network_delete(
            network=instance,
            deleted_by=request_user(self.request),
            remote_addr=client_ip(self.request),
        )


class NetworkGrantViewSet(mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    """Which tenant (or one of its environments) may attach VMs to which network; platform
    admins grant and withdraw, members read their tenants' grants."""

    selector = staticmethod(selectors.network_grant_list)
    serializer_class = NetworkGrantSerializer
    filterset_fields = ["network", "tenant", "environment"]

    @extend_schema(request=NetworkGrantSerializer, responses={201: NetworkGrantSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = request_user(request)
        require_platform_admin(user)  # before validation: ids of other tenants stay unconfirmed
        ser = NetworkGrantSerializer(data=request.data, context={"request": request})
        ser.is_valid(raise_exception=True)
        grant = ipam.network_grant_create(
            created_by=user,
            network=ser.validated_data["network"],
            tenant=ser.validated_data["tenant"],
            environment=ser.validated_data.get("environment"),
            remote_addr=client_ip(request),
        )
        return Response(NetworkGrantSerializer(grant).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: NetworkGrant) -> None:
        ipam.network_grant_delete(
            grant=instance,
            deleted_by=request_user(self.request),
            remote_addr=client_ip(self.request),
        )


class RollingMaintenanceViewSet(ServiceCreateMixin, ScopedReadOnlyViewSet):
    """Every host through maintenance, one at a time (platform admins)."""

    selector = staticmethod(selectors.rolling_maintenance_list)
    serializer_class = RollingMaintenanceSerializer
    create_service = staticmethod(services.rolling_maintenance_start)
    create_actor = "requested_by"

    @extend_schema(request=None, responses=RollingMaintenanceSerializer)
    @action(detail=True, methods=["post"], url_path="continue")
    def continue_(self, request: Request, pk: str | None = None) -> Response:
        """The current host's work is done: it returns to the pool and the next one goes."""
        run = services.rolling_maintenance_continue(
            run=self.get_object(),
            requested_by=request_user(request),
            remote_addr=client_ip(request),
        )
        return Response(RollingMaintenanceSerializer(run).data)

    @extend_schema(request=None, responses=RollingMaintenanceSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        run: RollingMaintenance = self.get_object()
        services.rolling_maintenance_cancel(run=run, requested_by=request_user(request))
        run.refresh_from_db()
        return Response(RollingMaintenanceSerializer(run).data)


class DrsViewSet(ScopedReadOnlyViewSet):
    """Load balancing (platform admins): recommendations, applying or dismissing them, a run
    now, the settings and the pool's imbalance."""

    selector = staticmethod(selectors.drs_recommendation_list)
    serializer_class = DrsRecommendationSerializer
    filterset_fields = ["status", "run"]

    @extend_schema(request=None, responses={202: DrsRecommendationSerializer})
    @action(detail=True, methods=["post"])
    def apply(self, request: Request, pk: str | None = None) -> Response:
        """Start the recommended live migration; 409 (and the recommendation marked stale) when
        the VM or the hosts changed since it was made."""
        rec: DrsRecommendation = self.get_object()
        rec = balancing.drs_recommendation_apply(
            recommendation=rec, requested_by=request_user(request), remote_addr=client_ip(request)
        )
        return Response(DrsRecommendationSerializer(rec).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses=DrsRecommendationSerializer)
    @action(detail=True, methods=["post"])
    def dismiss(self, request: Request, pk: str | None = None) -> Response:
        rec: DrsRecommendation = self.get_object()
        rec = balancing.drs_recommendation_dismiss(
            recommendation=rec, requested_by=request_user(request), remote_addr=client_ip(request)
        )
        return Response(DrsRecommendationSerializer(rec).data)

    @extend_schema(request=None, responses={201: DrsRunSerializer})
    @action(detail=False, methods=["post"])
    def run(self, request: Request) -> Response:
        """Compute recommendations now (and, in automatic mode, apply them)."""
        run = balancing.drs_run(requested_by=request_user(request))
        return Response(DrsRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(methods=["GET"], request=None, responses=DrsSettingsSerializer)
    @extend_schema(
        methods=["PUT", "PATCH"],
        request=DrsSettingsUpdateSerializer,
        responses=DrsSettingsSerializer,
    )
    @action(detail=False, methods=["get", "put", "patch"], url_path="settings")
    def settings_(self, request: Request) -> Response:
        user = request_user(request)
        require_platform_admin(user)
        if request.method == "GET":
            return Response(DrsSettingsSerializer(balancing.drs_settings()).data)
        ser = DrsSettingsUpdateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        row = balancing.drs_settings_update(
            updated_by=user, remote_addr=client_ip(request), **ser.validated_data
        )
        return Response(DrsSettingsSerializer(row).data)

    @extend_schema(request=None, responses=DrsStatusSerializer)
    @action(detail=False, methods=["get"], url_path="status")
    def status_(self, request: Request) -> Response:
        """The pool's imbalance now, what it is measured over, the settings and the last run."""
        user = request_user(request)
        require_platform_admin(user)
        body = {
            **balancing.drs_figures(),
            "settings": balancing.drs_settings(),
            "last_run": selectors.drs_run_list(fetched_by=user)
            .prefetch_related("recommendations__vm__tenant")
            .first(),
        }
        return Response(DrsStatusSerializer(body).data)


class CapacityView(APIView):
    """Allocated against physical capacity and the overcommit limit, and measured load, per
    host and for the pool (platform admins)."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "minutes", int, description="Window of the measured load (default 60)."
            )
        ],
        responses=CapacitySerializer,
    )
    def get(self, request: Request) -> Response:
        user = request_user(request)
        query = CapacityQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        since = timezone.now() - timedelta(minutes=query.validated_data["minutes"])
        report = selectors.capacity_report(fetched_by=user, since=since)
        if report is None:
            raise PermissionDenied(_("Only platform admins can do this."))
        return Response(CapacitySerializer(report).data)


class VolumeFilter(django_filters.FilterSet):
    """Ids as plain numbers: another tenant's VM or environment filters to nothing, exactly as
    an id that does not exist (no 400 that would tell them apart)."""

    state = django_filters.CharFilter()
    environment = django_filters.NumberFilter(field_name="environment_id")
    vm = django_filters.NumberFilter(field_name="vm_id")

    class Meta:
        model = Volume
        fields = ["state", "environment", "vm"]


class VolumeViewSet(mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    """Data volumes: create (optionally attached at once), attach, detach, grow, delete. The
    hypervisor work runs in a worker: actions answer 202 with the volume in its new state."""

    selector = staticmethod(selectors.volume_list)
    serializer_class = VolumeSerializer
    filterset_class = VolumeFilter

    def _answer(self, volume: Volume, code: int = status.HTTP_202_ACCEPTED) -> Response:
        fresh = selectors.volume_list(fetched_by=request_user(self.request), include_deleted=True)
        return Response(VolumeSerializer(fresh.get(pk=volume.pk)).data, status=code)

    @extend_schema(request=VolumeCreateSerializer, responses={201: VolumeSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ser = VolumeCreateSerializer(data=request.data, context={"request": request})
        ser.is_valid(raise_exception=True)
        volume = services.volume_create(
            created_by=request_user(request), **ser.validated_data, remote_addr=client_ip(request)
        )
        return self._answer(volume, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: VolumeSerializer})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        volume: Volume = self.get_object()
        services.volume_delete(
            volume=volume, requested_by=request_user(request), remote_addr=client_ip(request)
        )
        return self._answer(volume)

    @extend_schema(request=VolumeAttachSerializer, responses={202: VolumeSerializer})
    @action(detail=True, methods=["post"])
    def attach(self, request: Request, pk: str | None = None) -> Response:
        """Plug it into a VM: hot-plugged into a running guest, into the definition of a stopped
        one. Another tenant's VM is an unknown id; a volume already attached is a 409."""
        volume: Volume = self.get_object()
        ser = VolumeAttachSerializer(data=request.data, context={"request": request})
        ser.is_valid(raise_exception=True)
        services.volume_attach(
            volume=volume,
            vm=ser.validated_data["vm"],
            requested_by=request_user(request),
            remote_addr=client_ip(request),
        )
        return self._answer(volume)

    @extend_schema(request=None, responses={202: VolumeSerializer})
    @action(detail=True, methods=["post"])
    def detach(self, request: Request, pk: str | None = None) -> Response:
        volume: Volume = self.get_object()
        services.volume_detach(
            volume=volume, requested_by=request_user(request), remote_addr=client_ip(request)
        )
        return self._answer(volume)

    @extend_schema(request=VolumeResizeSerializer, responses={202: VolumeSerializer})
    @action(detail=True, methods=["post"])
    def resize(self, request: Request, pk: str | None = None) -> Response:
        """Grow it (never shrink: a smaller or equal size is a 400)."""
        volume: Volume = self.get_object()
        ser = VolumeResizeSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        services.volume_resize(
            volume=volume,
            size_gib=ser.validated_data["size_gib"],
            requested_by=request_user(request),
            remote_addr=client_ip(request),
        )
        return self._answer(volume)
