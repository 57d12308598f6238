"""Routes of /api/v1/."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from billing.api import views as billing_views
from compute.api import ovf as ovf_views
from compute.api import views as compute_views
from metering.api import views as metering_views
from portal.api import views as portal_views
from quotas.api import views as quota_views

router = DefaultRouter()
# The VMs first: the most called routes are then matched before the others are tried (Django
# copies the list of every route tried before the match into each request's ResolverMatch).
router.register("vms", metering_views.VmMetricsViewSet, basename="vm-metrics")
router.register("vms", ovf_views.VmExportViewSet, basename="vm-export")
router.register("vms", compute_views.VirtualMachineViewSet, basename="vm")
router.register("tenants", portal_views.TenantViewSet, basename="tenant")
router.register("environments", portal_views.EnvironmentViewSet, basename="environment")
router.register("users", portal_views.UserViewSet, basename="user")
router.register("memberships", portal_views.MembershipViewSet, basename="membership")
router.register("tokens", portal_views.ApiTokenViewSet, basename="token")
router.register("keypairs", portal_views.KeyPairViewSet, basename="keypair")
router.register("audit", portal_views.AuditEntryViewSet, basename="audit")
router.register("webhooks", portal_views.WebhookViewSet, basename="webhook")
router.register(
    "webhook-deliveries", portal_views.WebhookDeliveryViewSet, basename="webhook-delivery"
)
router.register("policy-changes", portal_views.PolicyChangeViewSet, basename="policy-change")
router.register("notifications", portal_views.NotificationViewSet, basename="notification")
router.register("invitations", portal_views.InvitationViewSet, basename="invitation")
router.register("hosts", compute_views.HostViewSet, basename="host")
router.register("flavors", compute_views.FlavorViewSet, basename="flavor")
router.register("images", compute_views.ImageViewSet, basename="image")
# Before compute's VMs: the API root lists one entry per prefix, the last registered ("vm-list").
router.register(
    "rolling-maintenance", compute_views.RollingMaintenanceViewSet, basename="rolling-maintenance"
)
router.register("networks", compute_views.NetworkViewSet, basename="network")
router.register("network-grants", compute_views.NetworkGrantViewSet, basename="network-grant")
router.register("drs", compute_views.DrsViewSet, basename="drs-recommendation")
router.register("volumes", compute_views.VolumeViewSet, basename="volume")
router.register("exports", ovf_views.ExportJobViewSet, basename="export")
router.register("imports", ovf_views.ImportJobViewSet, basename="import")

router.register("prices", billing_views.PriceListViewSet, basename="price-list")
router.register("budgets", billing_views.BudgetViewSet, basename="budget")
router.register("invoices", billing_views.InvoiceViewSet, basename="invoice")
router.register("quotas", quota_views.QuotaViewSet, basename="quota")
router.register("quota-requests", quota_views.QuotaRequestViewSet, basename="quota-request")

urlpatterns = [
    path("auth/token/", portal_views.LoginView.as_view(), name="api-token"),
    path("usage/", billing_views.UsageView.as_view(), name="usage"),
    path("capacity/", compute_views.CapacityView.as_view(), name="capacity"),
    path("images/import/", ovf_views.ImageImportView.as_view(), name="image-import"),
    path("", include(router.urls)),
]
