"""Top-level routes: the UI, the API, its schema and docs, the admin."""

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from portal import health, twofactor_views
from portal import views as portal_views

urlpatterns = [
    # First: an API call then skips trying every page's route (no page starts with api/).
    path("api/v1/", include("portal.api.urls")),
    path("", include("compute.urls")),
    path("quotas/", include("quotas.urls")),
    path("", include("billing.urls")),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("tokens/", portal_views.token_list, name="tokens"),
    path("keys/", portal_views.keypair_list, name="keypairs"),
    path("audit/", portal_views.audit_log, name="audit"),
    path("notifications/", portal_views.notification_page, name="notifications"),
    path("tenant/", portal_views.tenant_page, name="tenant"),
    path("tenant/billing/", portal_views.tenant_billing, name="tenant-billing"),
    path("tenant/switch/", portal_views.tenant_switch, name="tenant-switch"),
    path("tokens/<int:pk>/revoke/", portal_views.token_revoke, name="token-revoke"),
    path("invitations/<str:secret>/", portal_views.invitation_accept, name="invitation-accept"),
    path("account/password/", portal_views.password_change, name="password-change"),
    path("account/two-factor/", twofactor_views.two_factor_page, name="two-factor"),
    path("account/two-factor/verify/", twofactor_views.two_factor_verify, name="two-factor-verify"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # Operators: liveness, readiness and Prometheus (portal/health.py, docs/operations.md).
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
]

if settings.OIDC_ENABLED:
    urlpatterns.append(path("oidc/", include("mozilla_django_oidc.urls")))
