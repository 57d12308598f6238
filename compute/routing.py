"""Websocket routes of the consoles (served by the ASGI application, portal.asgi)."""

from django.urls import path

from compute import consumers

websocket_urlpatterns = [
    path(
        "ws/vms/<int:pk>/console/serial/<str:token>/",
        consumers.SerialConsoleConsumer.as_asgi(),
        name="console-serial-ws",
    ),
    path(
        "ws/vms/<int:pk>/console/vnc/<str:token>/",
        consumers.VncConsoleConsumer.as_asgi(),
        name="console-vnc-ws",
    ),
]
