"""Hosts, flavors, images, virtual machines and their provisioning on libvirt."""
