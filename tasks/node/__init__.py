"""The cluster's nodes: the image they run, the containers, and their boot
into a Ready cluster with kubeadm.

- image.py: the node image (a Debian base with systemd and containerd, the
  version's binaries and images preloaded), loaded into the engine.
- image_engine.py: with source.buildIn engine, the node image finished on
  the engine with the kubelet and kubeadm built there.
- archives.py: image archives into the nodes' containerd, sent to the
  engine once (a store volume by digest) and copied into each node there.
- seed.py: per node image and role, containerd's content imported once into
  a seed volume that a fresh node's volume is copied from.
- containers.py: the node containers: the preflight check, the network,
  making, restoring, restarting and booting them, and the snapshot step.
- snapshot.py: the snapshot: taken, found, restored, removed; what changed.
- kubeadm.py: kubeadm init on the master and join on the workers.
- kubeadm_config.py: the documents kubeadm gets, from the templates in
  config/, the settings and the user's patches.
- failures.py: while kubeadm waits, a component that keeps failing named
  with its own error.
- readiness.py: every node Ready and CoreDNS Ready.

Nothing is imported here: `from tasks.node import kubeadm` and so on."""
