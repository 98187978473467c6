"""labkit.pki: a lab's certificate authorities, certificates, kubeconfigs and secrets keys.

What Kubernetes The Hard Way does by hand with openssl, done by Python
(``cryptography``) and repeatable. Entry points:

    invoke pki.generate --lab ha       create or update .labkit/ha/pki and .labkit/ha/kubeconfigs
    invoke pki.check --lab ha          a table of everything, non-zero exit on any problem
    invoke cluster.kubeconfig --lab ha merge the admin context labkit-ha into ~/.kube/config

Read in this order:
    identities.py      the table of every certificate (CN, O, usages, SANs, endpoint)
    ca.py, issue.py    keys and CAs; issuing a leaf and judging an existing one
    generate.py        read everything, then create/reissue only what does not fit
    kubeconfigs.py     kubeconfigs with the certificates embedded
    serviceaccount.py, encryption.py   sa.key/sa.pub and the EncryptionConfiguration
    check.py           pki.check;  contexts.py  cluster.kubeconfig;  state.py  files and directories

Layout of ``.labkit/<lab>/`` (``$LABKIT_HOME/<lab>/``), kubeadm's file names where it has them:

    pki/ca.crt ca.key                          cluster CA (CN=kubernetes)
    pki/apiserver.* apiserver-kubelet-client.* admin.* kube-controller-manager.*
        kube-scheduler.* kube-proxy.* kubelet-<node>.*
    pki/etcd/ca.crt ca.key                     etcd CA (CN=etcd-ca)
    pki/etcd/<master>-server.* <master>-peer.* healthcheck-client.*
    pki/apiserver-etcd-client.*                signed by the etcd CA
    pki/sa.key sa.pub                          service-account token signing
    pki/encryption-config.yaml                 aescbc key for Secrets
    kubeconfigs/<identity>.kubeconfig          admin, kube-controller-manager, kube-scheduler,
                                               kube-proxy, kubelet-<node>

Choices, and why:

* **A separate etcd CA** (as kubeadm). etcd runs with --client-cert-auth and
  no RBAC of its own: every certificate its trusted CA signs is a full
  etcd client, able to read every Secret under /registry. Were that the
  cluster CA, every kubelet, kube-proxy and admin certificate would be one.
  With its own CA, only the apiserver (apiserver-etcd-client), the etcd
  members (peer) and etcdctl on the masters (healthcheck-client) can talk
  to etcd.
* **ECDSA P-256 keys** for the CAs and every certificate; kubeadm defaults to
  RSA 2048 and supports ECDSA P-256 (``encryptionAlgorithm: ECDSA-P256``).
  A P-256 key is made about a hundred times faster than an RSA 2048 one
  (around 1 ms against 100-200 ms, measured here), so the ha lab's 21 keys,
  every reissue and the tests stay quick; kubectl, the Python client,
  Python's ssl and etcd all accept them. The service-account
  key stays RSA 2048: tokens are RS256.
* **Validity**: CAs 10 years, certificates 1 year (capped at the CA's end),
  backdated 5 minutes, as kubeadm. ``pki.generate`` reissues a certificate
  when it is missing, its key does not match, the current CA did not sign
  it, it expires within 30 days, or its subject, key usages or SANs differ
  from what the inventory asks for (a master added, an address changed);
  CAs are never rotated automatically.
* **Endpoints**: controller-manager and scheduler reach the apiserver on
  their own master (https://127.0.0.1:6443); kubelets, kube-proxy and the
  admin go through the load balancer, or the only master when there is none.
* **Subjects** (the apiserver's user and groups): admin O=system:masters;
  kubelets CN=system:node:<name> O=system:nodes (their certificate also
  serves the kubelet's HTTPS port, SANs: name and address);
  system:kube-proxy, system:kube-controller-manager, system:kube-scheduler
  bound by user name as upstream's RBAC defaults do;
  apiserver-kubelet-client O=system:masters.

Private keys, kubeconfigs and the encryption config are 0600, directories
0700; every file is written atomically; nothing secret is ever printed.
"""

from labkit.pki.generate import Change, generate
from labkit.pki.state import PkiError

__all__ = ["Change", "PkiError", "generate"]
