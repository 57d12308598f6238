"""Routes of /api/v1/."""

from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.routers import DefaultRouter

from billing.api import views as billing_views
from compute.api import views as compute_views
from portal.api import views as portal_views

router = DefaultRouter()
router.register("tenants", portal_views.TenantViewSet, basename="tenant")
router.register("environments", portal_views.EnvironmentViewSet, basename="environment")
router.register("users", portal_views.UserViewSet, basename="user")
router.register("memberships", portal_views.MembershipViewSet, basename="membership")
router.register("hosts", compute_views.HostViewSet, basename="host")
router.register("flavors", compute_views.FlavorViewSet, basename="flavor")
router.register("images", compute_views.ImageViewSet, basename="image")
router.register("vms", compute_views.VirtualMachineViewSet, basename="vm")
router.register("prices", billing_views.PriceListViewSet, basename="price-list")

urlpatterns = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("usage/", billing_views.UsageView.as_view(), name="usage"),
    path("", include(router.urls)),
]
