"""How the user reaches a cluster: its kubeconfig, kubectl and helm in the
state directory, the user's own kubeconfig, and the way from this machine to
what the engine's host publishes.

- kubeconfig.py: the cluster's admin.conf (0600) with the API server as this
  machine reaches it, kubectl of its version and helm beside it; `kubeconfig`.
- user_kubeconfig.py: the cluster in the user's kubeconfig and out again.
- api.py: how this machine reaches the API server (and e2e's test-image
  mirror) on the engine's host: directly, through an ssh forward, or not.
- forwards.py: the `ssh -N -L` forwards of a cluster on an ssh:// engine.

Nothing is imported here: `from tasks.access import kubeconfig` and so on."""
