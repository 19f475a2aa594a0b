"""Deployment files tested for real: nginx, containers, systemd (deploy/, Dockerfile)."""
