"""API views for tenants, users, memberships and environments; writes call services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.request import Request
from rest_framework.response import Response

from portal import selectors, services
from portal.api.serializers import (
    EnvironmentSerializer,
    MembershipSerializer,
    TenantSerializer,
    UserCreateSerializer,
    UserSerializer,
)
from portal.api.viewsets import ScopedReadOnlyViewSet, ServiceCreateMixin, request_user
from portal.models import Membership


class TenantViewSet(ServiceCreateMixin, ScopedReadOnlyViewSet):
    selector = staticmethod(selectors.tenant_list)
    serializer_class = TenantSerializer
    create_service = staticmethod(services.tenant_create)


class EnvironmentViewSet(ScopedReadOnlyViewSet):
    selector = staticmethod(selectors.environment_list)
    serializer_class = EnvironmentSerializer
    filterset_fields = ["tenant", "name"]


class UserViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    selector = staticmethod(selectors.user_list)
    serializer_class = UserSerializer

    def get_serializer_class(self) -> type[Any]:
        return UserCreateSerializer if self.action == "create" else UserSerializer

    @extend_schema(request=UserCreateSerializer, responses={201: UserSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ser = UserCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user = services.user_create(created_by=request_user(request), **ser.validated_data)
        return Response(UserSerializer(user).data, status=status.HTTP_201_CREATED)


class MembershipViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    selector = staticmethod(selectors.membership_list)
    serializer_class = MembershipSerializer
    filterset_fields = ["tenant", "user", "role"]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ser = MembershipSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user = request_user(request)
        tenant = ser.validated_data["tenant"]
        # A tenant the caller cannot see is reported as unknown, not as forbidden.
        if not selectors.tenant_list(fetched_by=user).filter(pk=tenant.pk).exists():
            return Response({"tenant": ["Unknown tenant."]}, status=status.HTTP_400_BAD_REQUEST)
        membership = services.membership_create(
            created_by=user,
            tenant=tenant,
            user=ser.validated_data["user"],
            role=ser.validated_data["role"],
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Membership) -> None:
        services.membership_delete(deleted_by=request_user(self.request), membership=instance)
