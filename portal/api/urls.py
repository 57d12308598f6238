"""Routes of /api/v1/."""

from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from compute.api import views as compute_views
from portal.api import views as portal_views
from quotas.api import views as quota_views

router = DefaultRouter()
router.register("tenants", portal_views.TenantViewSet, basename="tenant")
router.register("environments", portal_views.EnvironmentViewSet, basename="environment")
router.register("users", portal_views.UserViewSet, basename="user")
router.register("memberships", portal_views.MembershipViewSet, basename="membership")
router.register("hosts", compute_views.HostViewSet, basename="host")
router.register("flavors", compute_views.FlavorViewSet, basename="flavor")
router.register("images", compute_views.ImageViewSet, basename="image")
router.register("vms", compute_views.VirtualMachineViewSet, basename="vm")
router.register("quotas", quota_views.QuotaViewSet, basename="quota")
router.register("quota-requests", quota_views.QuotaRequestViewSet, basename="quota-request")

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("", include(router.urls)),
]
