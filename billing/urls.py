"""Routes of the cost pages."""

from django.urls import path

from billing import views

app_name = "billing"
urlpatterns = [
    path("costs/", views.costs, name="costs"),
    path("finance/", views.finance, name="finance"),
]
