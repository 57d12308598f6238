"""API views of quotas and quota increase requests; writes call quotas.services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from portal.api.viewsets import ScopedReadOnlyViewSet, client_ip, request_user
from quotas import selectors, services
from quotas.api.serializers import (
    LimitsSerializer,
    QuotaDefaultSerializer,
    QuotaRequestApproveSerializer,
    QuotaRequestCreateSerializer,
    QuotaRequestRejectSerializer,
    QuotaRequestSerializer,
    QuotaSerializer,
)
from quotas.models import Quota, QuotaDefault, QuotaRequest


class QuotaViewSet(mixins.UpdateModelMixin, ScopedReadOnlyViewSet):
    """Limits, use and reservations per tenant and environment; platform admins set limits."""

    selector = staticmethod(selectors.quota_list)
    serializer_class = QuotaSerializer
    filterset_fields = ["tenant", "environment"]

    @extend_schema(request=LimitsSerializer, responses=QuotaSerializer)
    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        quota: Quota = self.get_object()
        ser = LimitsSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        quota = services.quota_update(
            updated_by=request_user(request),
            quota=quota,
            limits=dict(ser.validated_data),
            remote_addr=client_ip(request),
        )
        return Response(QuotaSerializer(quota).data)

    @extend_schema(
        methods=["GET"], request=None, responses=QuotaDefaultSerializer, summary="Defaults"
    )
    @extend_schema(methods=["PUT"], request=LimitsSerializer, responses=QuotaDefaultSerializer)
    @action(detail=False, methods=["get", "put"])
    def defaults(self, request: Request) -> Response:
        """Platform-wide limits given to new environments."""
        if request.method == "PUT":
            ser = LimitsSerializer(data=request.data)
            ser.is_valid(raise_exception=True)
            row = services.quota_defaults_update(
                updated_by=request_user(request),
                limits=dict(ser.validated_data),
                remote_addr=client_ip(request),
            )
            return Response(QuotaDefaultSerializer(row).data)
        limits = services.default_limits()
        return Response(
            QuotaDefaultSerializer(
                QuotaDefault(**{f"{r}_limit": n for r, n in limits.items()})
            ).data
        )


class QuotaRequestViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    """Quota increase requests: members and tenant admins file, platform admins decide."""

    selector = staticmethod(selectors.quota_request_list)
    serializer_class = QuotaRequestSerializer
    filterset_fields = ["status", "tenant", "environment"]

    @extend_schema(request=QuotaRequestCreateSerializer, responses={201: QuotaRequestSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        user = request_user(request)
        ser = QuotaRequestCreateSerializer(data=request.data, context={"request": request})
        ser.is_valid(raise_exception=True)
        environment = ser.validated_data["environment"]
        qr = services.quota_request_create(
            requested_by=user,
            environment=environment,
            amounts=dict(ser.validated_data["amounts"]),
            reason=ser.validated_data["reason"],
            remote_addr=client_ip(request),
        )
        return Response(QuotaRequestSerializer(qr).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=QuotaRequestApproveSerializer, responses=QuotaRequestSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        qr: QuotaRequest = self.get_object()
        ser = QuotaRequestApproveSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        granted = ser.validated_data.get("granted")
        qr = services.quota_request_approve(
            quota_request=qr,
            decided_by=request_user(request),
            granted=dict(granted) if granted is not None else None,
            reason=ser.validated_data["reason"],
            remote_addr=client_ip(request),
        )
        return Response(QuotaRequestSerializer(qr).data)

    @extend_schema(request=QuotaRequestRejectSerializer, responses=QuotaRequestSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        qr: QuotaRequest = self.get_object()
        ser = QuotaRequestRejectSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        qr = services.quota_request_reject(
            quota_request=qr,
            decided_by=request_user(request),
            reason=ser.validated_data["reason"],
            remote_addr=client_ip(request),
        )
        return Response(QuotaRequestSerializer(qr).data)
