// Our own pause program (images/pause/main.go): no dependencies.
module kubeadm-local-cluster.invalid/build/pause

go 1.22
