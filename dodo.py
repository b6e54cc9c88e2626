"""doit entry point in the repository: `doit list`, `doit up --num-nodes 3`, ...

Thin on purpose: the tasks live in tasks/pipeline.py; pyproject.toml names our
task loader, which builds the settings and takes the run lock."""

from tasks.pipeline import (  # noqa: F401  (doit finds task creators by name)
    DOIT_CONFIG,
    task_addons,
    task_artifacts,
    task_clean,
    task_config,
    task_coredns,
    task_crictl,
    task_doctor,
    task_down,
    task_e2e,
    task_e2e_serial,
    task_etcd,
    task_image_list,
    task_images,
    task_kube_proxy_base,
    task_kubeadm_init,
    task_kubeadm_join,
    task_kubeconfig,
    task_kubernetes,
    task_kubernetes_module,
    task_network,
    task_node_base,
    task_node_image,
    task_nodes,
    task_pause,
    task_pod_network,
    task_ready,
    task_reup,
    task_up,
)
