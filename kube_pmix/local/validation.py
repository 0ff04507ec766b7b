"""Names as the apiserver validates them (DNS-1123), checked before a name reaches a path.

A pod's name becomes a directory of the state (its podman store) and its
hostname: `../x` or `a/b` must never get that far. Messages are the
apiserver's, since kubectl prints them as they come.
"""

from __future__ import annotations

import re
from typing import Optional

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN = rf"{_LABEL}(\.{_LABEL})*"
LABEL_MAX, SUBDOMAIN_MAX = 63, 253


def _dns_error(value: str, pattern: str, longest: int, what: str) -> Optional[str]:
    if len(value) > longest:
        return f"must be no more than {longest} characters"
    if not re.fullmatch(pattern, value):
        return f"a lowercase RFC 1123 {what}, regex used for validation is '{pattern}')"
    return None


def subdomain_error(value: str) -> Optional[str]:
    """Why `value` is not a DNS-1123 subdomain (pod names), or None."""
    return _dns_error(value, _SUBDOMAIN, SUBDOMAIN_MAX,
                      "subdomain must consist of lower case alphanumeric characters, '-' or "
                      "'.', and must start and end with an alphanumeric character "
                      "(e.g. 'example.com'")


def label_error(value: str) -> Optional[str]:
    """Why `value` is not a DNS-1123 label (hostname, subdomain of a pod), or None."""
    return _dns_error(value, _LABEL, LABEL_MAX,
                      "label must consist of lower case alphanumeric characters or '-', and "
                      "must start and end with an alphanumeric character (e.g. 'my-name',  or "
                      "'123-abc'")


def pod_errors(name: str, hostname: Optional[str], subdomain: Optional[str]) -> list[str]:
    """The field errors of a Pod's names, as `field: Invalid value: "v": why`."""
    found = []
    for field, value, check in (("metadata.name", name, subdomain_error),
                                ("spec.hostname", hostname, label_error),
                                ("spec.subdomain", subdomain, label_error)):
        if value is not None:
            why = check(value)
            if why:
                found.append(f'{field}: Invalid value: "{value}": {why}')
    return found
