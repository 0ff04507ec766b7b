"""The oldest Kubernetes the manifests support, and the check `deploy` makes first.

1.30: the podman variants set `securityContext.appArmorProfile`, a field from
1.30 on (strict field validation refuses it before, and older API servers drop
it silently, leaving the runtime's default AppArmor profile, which refuses
rootless podman); the login Job's `podFailurePolicy` is on by default from 1.26.
The test bed runs 1.34; no older release is built here.
"""

from __future__ import annotations

import json
import re

from kube_pmix.vcluster.errors import VersionError

MINIMUM = (1, 30)


def server_version(kubectl_json: str) -> tuple[int, int]:
    """(major, minor) of `kubectl version -o json`'s serverVersion ('1', '30+' -> 30)."""
    try:
        server = json.loads(kubectl_json)["serverVersion"]
        major = int(re.sub(r"\D", "", server["major"]))
        minor = int(re.sub(r"\D", "", server["minor"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise VersionError(f"cannot read the cluster's version from kubectl: {exc}") from None
    return major, minor


def check(version: tuple[int, int]) -> None:
    if version < MINIMUM:
        raise VersionError(
            f"the cluster runs Kubernetes {version[0]}.{version[1]}; the virtual clusters need "
            f"{MINIMUM[0]}.{MINIMUM[1]} or later (securityContext.appArmorProfile)")
