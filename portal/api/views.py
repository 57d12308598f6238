"""API views for tenants, users, memberships and environments; writes call services."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
from django.http import StreamingHttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from portal import notifications, selectors, services, twofactor
from portal.api.serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenSerializer,
    AuditEntrySerializer,
    EnvironmentSerializer,
    EnvironmentUpdateSerializer,
    InvitationAcceptSerializer,
    InvitationCreatedSerializer,
    InvitationSerializer,
    KeyPairSerializer,
    LoginAnswerSerializer,
    LoginSerializer,
    MembershipRoleSerializer,
    MembershipSerializer,
    NotificationCountSerializer,
    NotificationSerializer,
    PolicyChangeSerializer,
    TenantBillingSerializer,
    TenantSerializer,
    UserCreateSerializer,
    UserSerializer,
    WebhookCreatedSerializer,
    WebhookDeliverySerializer,
    WebhookSerializer,
    WebhookUpdateSerializer,
)
from portal.api.throttling import ScopedThrottle
from portal.api.viewsets import (
    ScopedReadOnlyViewSet,
    ServiceCreateMixin,
    ServiceUpdateMixin,
    client_ip,
    request_user,
)
from portal.auditlog import AuditFilter, csv_response
from portal.models import Membership, PolicyChange, Tenant, Webhook
from portal.permissions import Perm, has_perm


class TenantViewSet(ServiceCreateMixin, ScopedReadOnlyViewSet):
    selector = staticmethod(selectors.tenant_list)
    serializer_class = TenantSerializer
    create_service = staticmethod(services.tenant_create)

    @extend_schema(methods=["GET"], responses=TenantBillingSerializer)
    @extend_schema(
        methods=["PATCH"],
        request=TenantBillingSerializer,
        responses=TenantBillingSerializer,
        description="Finance and platform admins change the details printed on the tenant's "
        "next invoices, its cost centre (usage reports group by it) and VAT rate.",
    )
    @action(detail=True, methods=["get", "patch"])
    def billing(self, request: Request, pk: str | None = None) -> Response:
        tenant: Tenant = self.get_object()
        user = request_user(request)
        if not has_perm(user, tenant, Perm.INVOICE_VIEW):
            raise PermissionDenied(_("Billing details are for tenant admins and finance."))
        if request.method == "PATCH":
            ser = TenantBillingSerializer(data=request.data, partial=True)
            ser.is_valid(raise_exception=True)
            tenant = services.tenant_billing_update(
                updated_by=user, tenant=tenant, remote_addr=client_ip(request), **ser.validated_data
            )
        return Response(TenantBillingSerializer(tenant).data)


@extend_schema_view(
    update=extend_schema(request=EnvironmentUpdateSerializer),
    partial_update=extend_schema(request=EnvironmentUpdateSerializer),
)
class EnvironmentViewSet(ServiceUpdateMixin, ScopedReadOnlyViewSet):
    """A tenant's environments and their approval policy (tenant admins edit them)."""

    selector = staticmethod(selectors.environment_list)
    serializer_class = EnvironmentSerializer
    filterset_fields = ["tenant", "name"]
    update_serializer_class = EnvironmentUpdateSerializer
    update_service = staticmethod(services.environment_update)
    update_object = "environment"

    @extend_schema(
        request=EnvironmentUpdateSerializer,
        responses={200: EnvironmentSerializer, 202: PolicyChangeSerializer},
        description="A tenant admin's change that loosens the approval policy is not applied: "
        "it answers 202 with a policy change that another tenant admin or a platform admin "
        "approves (/policy-changes/{id}/approve/). Tightening applies at once.",
    )
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        environment = self.get_object()
        ser = EnvironmentUpdateSerializer(data=request.data, partial=True)
        ser.is_valid(raise_exception=True)
        environment, proposal = services.environment_change(
            updated_by=request_user(request),
            environment=environment,
            remote_addr=client_ip(request),
            **ser.validated_data,
        )
        if proposal is not None:
            return Response(PolicyChangeSerializer(proposal).data, status=status.HTTP_202_ACCEPTED)
        return Response(EnvironmentSerializer(environment).data)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ser = EnvironmentSerializer(data=request.data, context={"request": request})
        ser.is_valid(raise_exception=True)
        user = request_user(request)
        data = dict(ser.validated_data)
        tenant = data.pop("tenant")
        environment = services.environment_create(
            created_by=user, tenant=tenant, remote_addr=client_ip(request), **data
        )
        return Response(EnvironmentSerializer(environment).data, status=status.HTTP_201_CREATED)


class UserViewSet(mixins.CreateModelMixin, ScopedReadOnlyViewSet):
    selector = staticmethod(selectors.user_list)
    serializer_class = UserSerializer

    def get_serializer_class(self) -> type[Any]:
        return UserCreateSerializer if self.action == "create" else UserSerializer

    @extend_schema(request=UserCreateSerializer, responses={201: UserSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ser = UserCreateSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user = services.user_create(
            created_by=request_user(request), **ser.validated_data, remote_addr=client_ip(request)
        )
        data = UserSerializer(user, context=self.get_serializer_context()).data
        return Response(data, status=status.HTTP_201_CREATED)


class MembershipViewSet(mixins.CreateModelMixin, mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    selector = staticmethod(selectors.membership_list)
    serializer_class = MembershipSerializer
    filterset_fields = ["tenant", "user", "role"]

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        # A tenant the caller cannot see is reported as unknown, not as forbidden.
        ser = MembershipSerializer(data=request.data, context={"request": request})
        ser.is_valid(raise_exception=True)
        user = request_user(request)
        tenant = ser.validated_data["tenant"]
        membership = services.membership_create(
            created_by=user,
            tenant=tenant,
            user=ser.validated_data["user"],
            role=ser.validated_data["role"],
            remote_addr=client_ip(request),
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=MembershipRoleSerializer, responses=MembershipSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        """Change a member's role (tenant admins of the tenant, platform admins)."""
        membership = self.get_object()  # another tenant's membership is a 404 before anything
        ser = MembershipRoleSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        membership = services.membership_update(
            updated_by=request_user(request),
            membership=membership,
            role=ser.validated_data["role"],
            remote_addr=client_ip(request),
        )
        return Response(MembershipSerializer(membership).data)

    def perform_destroy(self, instance: Membership) -> None:
        services.membership_delete(
            deleted_by=request_user(self.request),
            membership=instance,
            remote_addr=client_ip(self.request),
        )


class ApiTokenViewSet(mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    """Your personal API tokens: create (the secret is shown once), list, revoke (DELETE)."""

    selector = staticmethod(selectors.token_list)
    serializer_class = ApiTokenSerializer

    @extend_schema(request=ApiTokenSerializer, responses={201: ApiTokenCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ser = ApiTokenSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        token, secret = services.token_create(
            user=request_user(request),
            name=ser.validated_data["name"],
            expires_at=ser.validated_data.get("expires_at"),
            remote_addr=client_ip(request),
        )
        data = {**ApiTokenSerializer(token).data, "token": secret}
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.token_revoke(
            token=self.get_object(),
            revoked_by=request_user(request),
            remote_addr=client_ip(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class KeyPairViewSet(mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    """Your SSH public keys, offered when you request a VM (`key_pairs` on /vms/). Another
    user's key pair does not exist for you (404)."""

    selector = staticmethod(selectors.keypair_list)
    serializer_class = KeyPairSerializer

    @extend_schema(request=KeyPairSerializer, responses={201: KeyPairSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ser = KeyPairSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        pair = services.keypair_create(
            owner=request_user(request),
            name=ser.validated_data["name"],
            public_key=ser.validated_data["public_key"],
            remote_addr=client_ip(request),
        )
        return Response(KeyPairSerializer(pair).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.keypair_delete(
            key_pair=self.get_object(),
            deleted_by=request_user(request),
            remote_addr=client_ip(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class NotificationViewSet(ScopedReadOnlyViewSet):
    """Your in-app notifications, newest first (`?unread=1`: only the unread ones); mark one
    read, or all of them. Nobody else's exist for you (404)."""

    selector = staticmethod(selectors.notification_list)
    serializer_class = NotificationSerializer

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        queryset = self.get_queryset()
        if request.query_params.get("unread") in ("1", "true"):
            queryset = queryset.filter(read_at__isnull=True)
        page = self.paginate_queryset(queryset)
        if page is not None:
            return self.get_paginated_response(self.get_serializer(page, many=True).data)
        return Response(self.get_serializer(queryset, many=True).data)

    @extend_schema(request=None, responses={200: NotificationSerializer})
    @action(detail=True, methods=["post"])
    def read(self, request: Request, pk: str | None = None) -> Response:
        notification = notifications.notification_mark_read(
            notification=self.get_object(), read_by=request_user(request)
        )
        return Response(NotificationSerializer(notification).data)

    @extend_schema(request=None, responses={200: NotificationCountSerializer})
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request: Request) -> Response:
        marked = notifications.notifications_mark_all_read(read_by=request_user(request))
        return Response({"marked": marked})

    @extend_schema(responses={200: NotificationCountSerializer})
    @action(detail=False, methods=["get"], url_path="unread-count")
    def unread_count(self, request: Request) -> Response:
        return Response({"unread": selectors.unread_count(fetched_by=request_user(request))})


class LoginView(APIView):
    """Username and password in, a personal token out (named "api login", default expiry)."""

    authentication_classes: list[type[Any]] = []
    permission_classes = [AllowAny]
    # Guessing passwords here is slowed per address (django-axes locks the username out too).
    throttle_classes = [ScopedThrottle]
    throttle_scope = "login"

    @extend_schema(request=LoginSerializer, responses={200: LoginAnswerSerializer})
    def post(self, request: Request) -> Response:
        ser = LoginSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=ser.validated_data["username"],
            password=ser.validated_data["password"],
        )
        if user is None or not user.is_active:
            raise ValidationError(
                {"non_field_errors": [_("Unable to log in with the username and password given.")]}
            )
        # A token stands for both factors: it is given only after the code (portal.twofactor).
        if twofactor.has_device(user):
            code = ser.validated_data.get("otp", "")
            if not code:
                raise ValidationError(
                    {"otp": [_("This account uses two-factor sign-in: send the current code.")]}
                )
            if not twofactor.code_check(user=user, code=code):
                twofactor.code_failed(request._request, user)
                raise ValidationError({"otp": [_("This code does not match.")]})
        elif twofactor.required_for(user):
            raise ValidationError(
                {
                    "otp": [
                        _(
                            "Your role requires two-factor sign-in: set up an authenticator "
                            "in the web interface first (Two-factor)."
                        )
                    ]
                }
            )
        token, secret = services.token_create(
            user=user, name="api login", remote_addr=client_ip(request)
        )
        return Response({"token": secret, "expires_at": token.expires_at})


class AuditEntryViewSet(ScopedReadOnlyViewSet):
    """Who changed what, when, from where. Read-only: entries are never changed or deleted."""

    selector = staticmethod(selectors.audit_list)
    serializer_class = AuditEntrySerializer
    filterset_class = AuditFilter

    @extend_schema(
        responses={(200, "text/csv"): OpenApiTypes.STR},
        description="The filtered log as CSV, streamed.",
    )
    @action(detail=False, methods=["get"])
    def export(self, request: Request) -> StreamingHttpResponse:
        return csv_response(self.filter_queryset(self.get_queryset()))


@extend_schema_view(
    update=extend_schema(request=WebhookUpdateSerializer),
    partial_update=extend_schema(request=WebhookUpdateSerializer),
)
class WebhookViewSet(ServiceUpdateMixin, mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    """A tenant's webhooks (tenant admins): VM events POSTed as JSON, signed with HMAC-SHA256."""

    selector = staticmethod(selectors.webhook_list)
    serializer_class = WebhookSerializer
    filterset_fields = ["tenant", "enabled"]
    update_serializer_class = WebhookUpdateSerializer
    update_service = staticmethod(services.webhook_update)
    update_object = "webhook"

    @extend_schema(request=WebhookSerializer, responses={201: WebhookCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ser = WebhookSerializer(data=request.data, context={"request": request})
        ser.is_valid(raise_exception=True)
        user = request_user(request)
        tenant = ser.validated_data["tenant"]
        hook, secret = services.webhook_create(
            created_by=user,
            tenant=tenant,
            url=ser.validated_data["url"],
            events=ser.validated_data.get("events", []),
            remote_addr=client_ip(request),
        )
        data = {**WebhookSerializer(hook).data, "secret": secret}
        return Response(data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: Webhook) -> None:
        services.webhook_delete(
            deleted_by=request_user(self.request),
            webhook=instance,
            remote_addr=client_ip(self.request),
        )

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def ping(self, request: Request, pk: str | None = None) -> Response:
        """Send a test event now, whatever the webhook's event filter."""
        delivery = services.webhook_ping(
            requested_by=request_user(request), webhook=self.get_object()
        )
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


class WebhookDeliveryViewSet(ScopedReadOnlyViewSet):
    """Every attempt to deliver an event: status code, error, next retry."""

    selector = staticmethod(selectors.webhook_delivery_list)
    serializer_class = WebhookDeliverySerializer
    filterset_fields = ["webhook", "status", "event"]


class PolicyChangeViewSet(ScopedReadOnlyViewSet):
    """Proposals to loosen an environment's approval policy, waiting for a second admin."""

    selector = staticmethod(selectors.policy_change_list)
    serializer_class = PolicyChangeSerializer
    filterset_fields = ["tenant", "environment", "status"]

    @extend_schema(request=None, responses=PolicyChangeSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Apply the proposed policy (another tenant admin than its author, or a platform
        admin)."""
        proposal: PolicyChange = self.get_object()
        proposal = services.policy_change_approve(
            approved_by=request_user(request),
            policy_change=proposal,
            remote_addr=client_ip(request),
        )
        return Response(PolicyChangeSerializer(proposal).data)

    @extend_schema(request=None, responses=PolicyChangeSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str | None = None) -> Response:
        """Reject the proposal (or withdraw one's own); the policy stays as it is."""
        proposal: PolicyChange = self.get_object()
        proposal = services.policy_change_reject(
            rejected_by=request_user(request),
            policy_change=proposal,
            remote_addr=client_ip(request),
        )
        return Response(PolicyChangeSerializer(proposal).data)


class InvitationViewSet(mixins.DestroyModelMixin, ScopedReadOnlyViewSet):
    """Invitations to join a tenant (tenant admins): the link is e-mailed and shown once;
    DELETE revokes. The person logged in when following the link joins (`accept`)."""

    selector = staticmethod(selectors.invitation_list)
    serializer_class = InvitationSerializer
    filterset_fields = ["tenant", "role"]

    @extend_schema(request=InvitationSerializer, responses={201: InvitationCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        ser = InvitationSerializer(data=request.data, context={"request": request})
        ser.is_valid(raise_exception=True)
        invitation, secret = services.invitation_create(
            created_by=request_user(request),
            tenant=ser.validated_data["tenant"],
            email=ser.validated_data["email"],
            role=ser.validated_data["role"],
            remote_addr=client_ip(request),
        )
        data = {
            **InvitationSerializer(invitation).data,
            # NUAGE_BASE_URL, as in the e-mail (never the request's Host header).
            "link": services.invitation_link(secret),
        }
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        services.invitation_revoke(
            revoked_by=request_user(request),
            invitation=self.get_object(),
            remote_addr=client_ip(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=InvitationAcceptSerializer, responses={201: MembershipSerializer})
    @action(detail=False, methods=["post"])
    def accept(self, request: Request) -> Response:
        """Join the tenant of an invitation, as the authenticated user."""
        ser = InvitationAcceptSerializer(data=request.data)
        ser.is_valid(raise_exception=True)
        membership = services.invitation_accept(
            secret=ser.validated_data["token"],
            accepted_by=request_user(request),
            remote_addr=client_ip(request),
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)
