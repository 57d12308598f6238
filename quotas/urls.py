"""Routes of the quotas UI."""

from django.urls import path

from quotas import views

app_name = "quotas"
urlpatterns = [
    path("", views.overview, name="overview"),
    path("<int:pk>/limits/", views.limits_update, name="limits"),
    path("defaults/", views.defaults_update, name="defaults"),
    path("requests/<int:pk>/decide/", views.request_decide, name="decide"),
]
