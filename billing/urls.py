"""Routes of the cost, finance and invoice pages."""

from django.urls import path

from billing import views
from billing.invoicing import views as invoice_views

app_name = "billing"
urlpatterns = [
    path("costs/", views.costs, name="costs"),
    path("finance/", views.finance, name="finance"),
    path("finance/prices/", views.price_lists, name="price-lists"),
    path("finance/invoices/", invoice_views.invoice_list, name="invoice-list"),
    path("finance/invoices/usage/", invoice_views.usage_download, name="usage-download"),
    path(
        "finance/invoices/download.<str:fmt>",
        invoice_views.invoice_list_download,
        name="invoice-list-download",
    ),
    path("finance/invoices/<int:pk>/", invoice_views.invoice_detail, name="invoice-detail"),
    path("finance/invoices/<int:pk>/issue/", invoice_views.invoice_issue, name="invoice-issue"),
    path(
        "finance/invoices/<int:pk>/credit-note/",
        invoice_views.invoice_credit,
        name="invoice-credit",
    ),
    path(
        "finance/invoices/<int:pk>/download.<str:fmt>",
        invoice_views.invoice_download,
        name="invoice-download",
    ),
]
