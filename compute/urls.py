"""Routes of the browser UI for VMs and approvals."""

from django.urls import path

from compute import console_views, ovf_views, snapshot_views, views, volume_views

app_name = "ui"
urlpatterns = [
    path("", views.vm_list, name="vm-list"),
    path("vms/table/", views.vm_table, name="vm-table"),
    path("vms/new/", views.vm_request, name="vm-request"),
    path("vms/<int:pk>/", views.vm_detail, name="vm-detail"),
    path("vms/<int:pk>/progress/", views.vm_progress, name="vm-progress"),
    path("vms/<int:pk>/approve/", views.vm_approve, name="vm-approve"),
    path("vms/<int:pk>/reject/", views.vm_reject, name="vm-reject"),
    path("vms/<int:pk>/migrate/", views.vm_migrate, name="vm-migrate"),
    path("vms/<int:pk>/force-off/", views.vm_force_off, name="vm-force-off"),
    path("vms/<int:pk>/lease/", views.vm_lease, name="vm-lease"),
    path("vms/<int:pk>/resize/", views.vm_resize, name="vm-resize"),
    path("vms/<int:pk>/resize/withdraw/", views.vm_resize_withdraw, name="vm-resize-withdraw"),
    path("vms/<int:pk>/console/<str:kind>/", console_views.vm_console, name="vm-console"),
    path("vms/<int:pk>/export/", ovf_views.vm_export, name="vm-export"),
    path("exports/<int:pk>/download/", ovf_views.export_download, name="export-download"),
    path("images/", ovf_views.image_import, name="image-import"),
    path("images/imports/<int:pk>/", ovf_views.image_import_job, name="image-import-job"),
    path(
        "images/imports/<int:pk>/progress/",
        ovf_views.image_import_progress,
        name="image-import-progress",
    ),
    path("vms/<int:pk>/<str:action>/", views.vm_action, name="vm-action"),
    path("approvals/", views.approval_queue, name="approvals"),
    path("hosts/", views.host_list, name="hosts"),
    path("hosts/rolling/", views.rolling_maintenance, name="rolling-maintenance"),
    path("hosts/<int:pk>/maintenance/", views.host_maintenance, name="host-maintenance"),
    path("hosts/drs/", views.drs, name="drs"),
    path("hosts/drs/run/", views.drs_run, name="drs-run"),
    path("hosts/drs/<int:pk>/<str:decision>/", views.drs_decide, name="drs-decide"),
    path("capacity/", views.capacity, name="capacity"),
    path("networks/", views.networks, name="networks"),
    path("volumes/", volume_views.volumes, name="volumes"),
    path("volumes/<int:pk>/<str:action>/", volume_views.volume_action, name="volume-action"),
    path("vms/<int:pk>/volumes/new/", volume_views.volume_new_for_vm, name="vm-volume-new"),
    path("vms/<int:pk>/volumes/attach/", volume_views.volume_attach_to_vm, name="vm-volume-attach"),
    path("flavors/", views.flavors, name="flavors"),
    # Four segments after vms/: never taken for an action by "vms/<pk>/<action>/".
    path("vms/<int:pk>/snapshots/take/", snapshot_views.snapshot_take, name="snapshot-take"),
    path(
        "vms/<int:pk>/snapshots/schedule/",
        snapshot_views.snapshot_schedule,
        name="snapshot-schedule",
    ),
    path(
        "vms/<int:pk>/snapshots/<int:sid>/revert/",
        snapshot_views.snapshot_revert,
        name="snapshot-revert",
    ),
    path(
        "vms/<int:pk>/snapshots/<int:sid>/delete/",
        snapshot_views.snapshot_delete,
        name="snapshot-delete",
    ),
]
