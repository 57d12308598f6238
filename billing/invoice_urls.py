"""Routes of the invoice pages, under /finance/invoices/."""

from django.urls import path

from billing import invoice_views as views

app_name = "billing"
urlpatterns = [
    path("", views.invoice_list, name="invoice-list"),
    path("usage/", views.usage_download, name="usage-download"),
    path("<int:pk>/", views.invoice_detail, name="invoice-detail"),
    path("<int:pk>/issue/", views.invoice_issue, name="invoice-issue"),
    path("<int:pk>/credit-note/", views.invoice_credit, name="invoice-credit"),
    path("<int:pk>/download.<str:fmt>", views.invoice_download, name="invoice-download"),
]
