"""The documents given to kubeadm: the templates in config/, then what the
settings customise (feature gates, runtime config, component flags), then the
user's patches (merge patches as kind's kubeadmConfigPatches, and JSON 6902)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from string import Template

import jsonpatch
import yaml

from tasks.errors import UserError
from tasks.paths import CONFIG_DIR
from tasks.settings import Settings
from tasks.settings.custom import thaw

# Which ClusterConfiguration section holds each control-plane component's flags.
CONTROL_PLANE = {"apiServer": "api_server", "controllerManager": "controller_manager", "scheduler": "scheduler"}


def render(template: str, settings: Settings, **values: str) -> str:
    """config/TEMPLATE with VALUES, customised and patched, as YAML documents."""
    text = Template((CONFIG_DIR / template).read_text()).substitute(**values)
    documents = [d for d in yaml.safe_load_all(text) if d]
    for document in documents:
        customise(document, settings)
    documents = patch(documents, settings)
    return yaml.safe_dump_all(documents, sort_keys=False)


def _gates(settings: Settings) -> str:
    gates = sorted(settings.kubernetes.feature_gates.items())
    return ",".join(f"{gate}={'true' if on else 'false'}" for gate, on in gates)


def _add_args(holder: dict, key: str, args: Mapping[str, str]) -> None:
    """kubeadm v1beta4's extraArgs: a list of {name, value}; a name given again replaces the template's."""
    listed = [a for a in holder.get(key) or [] if a["name"] not in args]
    holder[key] = listed + [{"name": name, "value": str(value)} for name, value in args.items()]


def customise(document: dict, settings: Settings) -> None:
    kube = settings.kubernetes
    kind = document.get("kind")
    if kind == "ClusterConfiguration":
        for section, attr in CONTROL_PLANE.items():
            args = dict(getattr(kube, f"{attr}_extra_args"))
            if kube.feature_gates:
                args["feature-gates"] = _gates(settings)
            if section == "apiServer" and kube.runtime_config:
                args["runtime-config"] = ",".join(f"{k}={v}" for k, v in sorted(kube.runtime_config.items()))
            if args:
                _add_args(document.setdefault(section, {}), "extraArgs", args)
    elif kind in ("InitConfiguration", "JoinConfiguration") and kube.kubelet_extra_args:
        _add_args(document.setdefault("nodeRegistration", {}), "kubeletExtraArgs", kube.kubelet_extra_args)
    elif kind in ("KubeletConfiguration", "KubeProxyConfiguration") and kube.feature_gates:
        document["featureGates"] = dict(kube.feature_gates)


def merge(target, patch):
    """RFC 7386 merge patch: mappings merge, null removes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def _targets(documents: list[dict], entry: Mapping, number: int, what: str) -> list[int]:
    """Indexes of the documents ENTRY patches (same kind, and apiVersion when it names one)."""
    kind = entry["kind"]
    version = entry.get("apiVersion") or (
        f"{entry['group']}/{entry['version']}" if entry.get("group") and entry.get("version") else None
    )
    same_kind = [i for i, d in enumerate(documents) if d.get("kind") == kind]
    matching = [i for i in same_kind if version is None or documents[i].get("apiVersion") == version]
    if same_kind and not matching:
        rendered = documents[same_kind[0]].get("apiVersion")
        raise UserError(f"{what} {number} is for {kind} {version}, but kubeadm is given {kind} {rendered}")
    return matching


def patch(documents: list[dict], settings: Settings) -> list[dict]:
    kube = settings.kubernetes
    for number, entry in enumerate(thaw(kube.kubeadm_config_patches), 1):
        for index in _targets(documents, entry, number, "kubernetes.kubeadmConfigPatches patch"):
            documents[index] = merge(documents[index], entry)
    for number, entry in enumerate(thaw(kube.kubeadm_config_patches_json6902), 1):
        for index in _targets(documents, entry, number, "kubernetes.kubeadmConfigPatchesJson6902 patch"):
            try:
                documents[index] = jsonpatch.apply_patch(documents[index], entry["patch"])
            except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as err:
                raise UserError(
                    f"kubernetes.kubeadmConfigPatchesJson6902 patch {number} does not apply to {entry['kind']}: {err}"
                ) from None
    return documents


def kube_proxy_args_patch(settings: Settings) -> str | None:
    """A JSON patch adding kubernetes.kubeProxyExtraArgs to kube-proxy's
    DaemonSet (kubeadm has no place for kube-proxy's flags), or None."""
    args = settings.kubernetes.kube_proxy_extra_args
    if not args:
        return None
    path = "/spec/template/spec/containers/0/command/-"
    return json.dumps([{"op": "add", "path": path, "value": f"--{name}={value}"} for name, value in args.items()])
