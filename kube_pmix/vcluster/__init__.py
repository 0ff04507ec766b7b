"""The virtual cluster on a real Kubernetes: variants, rendering, deployment, images."""
