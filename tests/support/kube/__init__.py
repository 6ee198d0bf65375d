"""The e2e_k8s harness: a real, throwaway Kubernetes cluster on this machine.

``harness`` is the cluster (control plane plus one real node), ``node`` the node's
containerd, kubelet, kube-proxy and CoreDNS, ``host`` what the node changes on the
machine and putting it back. Used by tests/e2e_k8s, tests/fixtures/record_k8s.py and
bench's figure 7::

    from tests.support.kube.harness import BUILD_SCRIPT, Cluster, KubeBinaries, NodeBinaries
"""
