"""Builds: the binaries and images a cluster runs, made here (or, for a
Kubernetes tree with source.buildIn: engine, on the engine), and the tools
that make them.

- artifacts.py: Kubernetes' binaries and control-plane images in the cache,
  each from where the settings say (Go modules, a URL, a release site, a tree).
- gobuild.py: Go programs from the Go module proxy (wrapper modules from
  config/gomod/, `go build` with upstream's flags).
- oci.py: image archives written by our own code, no engine, no registry.
- debian.py: Debian root filesystems with mmdebstrap (here, or on the engine).
- stage0.py: without mmdebstrap here, the engine's image that runs it, made
  from Debian's packages with Python alone.
- debian_engine.py: mmdebstrap run in a container of that image.
- goproxy.py: without go here, the Go module proxy read with Python (go mod
  download's facts, checked against the checksum database).
- go_engine.py: without go here, go commands run in a container on the engine.
- containerd.py: the containerd and runc each Kubernetes minor's nodes run,
  built where Debian's are too old.
- ctools.py: what the C builds (runc, busybox) need on this machine.
- helm.py: helm from its Go module, put beside the cluster's kubectl by `up`.
- platforms.py: this machine's platform and the nodes' (the engine's
  architecture): what is cross-compiled, and what is made on the engine.
- client.py: a kubectl for this machine when it cannot run the nodes' (a Mac).
- tree_sync.py, engine.py: a Kubernetes tree kept on the engine and built there.
- steps.py: their task creators, which tasks.pipeline gathers for doit.

Nothing is imported here: `from tasks.build import oci` and so on."""
