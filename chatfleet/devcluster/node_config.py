"""The real node's facts (names, addresses) and its components' configuration files, as pure functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chatfleet.devcluster import tools

NODE_NAME = "chatfleet-node"
BRIDGE = "cfbr0"
POD_CIDR = "10.244.0.0/24"
NODE_IP = "10.244.0.1"
CLUSTER_DNS_IP = "10.0.0.10"
CLUSTER_DOMAIN = "cluster.local"
CGROUP_ROOT = "chatfleet"
ISOLATION_COMMENT = "chatfleet: pod traffic never leaves through the uplink"


def containerd_config(root: Path, state: Path, address: str, cni_conf_dir: Path, sandbox_image: str) -> str:
    """containerd config version 3: our own root, state and socket; CRI with runc from tools/bin."""
    bin_dir = str(tools.BIN_DIR)
    return f"""version = 3
root = "{root}"
state = "{state}"

[grpc]
  address = "{address}"

[ttrpc]
  address = "{address}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{sandbox_image}"

[plugins."io.containerd.cri.v1.runtime"]
  enable_selinux = false
  # These machines lack CAP_SYS_RESOURCE: runc could not lower oom_score_adj below its parent's.
  restrict_oom_score_adj = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{bin_dir}/runc"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{bin_dir}"]
    conf_dir = "{cni_conf_dir}"
    max_conf_num = 1

[plugins."io.containerd.grpc.v1.cri"]
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
"""


def cni_config() -> dict[str, Any]:
    """The pod network: a bridge with host-local addresses, the node as gateway, and no masquerading."""
    return {
        "cniVersion": "1.0.0",
        "name": "chatfleet",
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(ca: Path, pki: Path, port: int, healthz_port: int, socket: str) -> dict[str, Any]:
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(ca)},
        },
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(pki / "kubelet-serving.crt"),
        "tlsPrivateKeyFile": str(pki / "kubelet-serving.key"),
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{CGROUP_ROOT}",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{socket}",
        "imageServiceEndpoint": f"unix://{socket}",
        "clusterDNS": [CLUSTER_DNS_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": "",
        "serializeImagePulls": False,
        # Images are imported, never pulled, so garbage-collecting them would lose them for good.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        # Absolute floors, not percentages: the node shares a large disk with the machine, where 1 % is
        # gigabytes; a dip under it (an image build beside the tests) made the kubelet evict pods and
        # delete the imported images, which cannot be pulled again (ErrImageNeverPull).
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "256Mi",
            "imagefs.available": "256Mi",
            "nodefs.inodesFree": "1%",
        },
        "shutdownGracePeriod": "0s",
        "maxPods": 110,
        "podPidsLimit": 4096,
        "containerLogMaxSize": "10Mi",
    }


def kube_proxy_config(kubeconfig: Path, healthz_port: int, metrics_port: int) -> dict[str, Any]:
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": "iptables",
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": NODE_NAME,
        "detectLocalMode": "ClusterCIDR",
        "nodePortAddresses": [f"{NODE_IP}/32"],
        "iptables": {"localhostNodePorts": False},
        # Zeros leave the host's conntrack sysctls as they are.
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
    }


def corefile(kubeconfig: Path, health_port: int, ready_port: int) -> str:
    """Cluster names only: nothing outside resolves (these machines reach nothing outside, by design)."""
    return f""".:53 {{
    bind {NODE_IP}
    errors
    health 127.0.0.1:{health_port}
    ready 127.0.0.1:{ready_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 5
    }}
    cache 5
}}
"""
