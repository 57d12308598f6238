"""Measured use of the VMs: libvirt samples, their hourly and daily rollups, the loads they give."""
