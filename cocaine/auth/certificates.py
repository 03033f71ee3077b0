# -*- test-case-name: tests.auth.test_certificates -*-
"""
Mutual TLS as authentication: the identity a verified client certificate
proves (C{network.tls.client-ca} set, C{docs/security.md}).

The subject says it, in exactly this form:

  - one commonName C{uid:N}: the uid N;
  - each organizationalUnitName C{cid:N}: the cid N.

N is a decimal uint64 (digits only). A commonName not of that form gives
no uid, other units are ignored, and a certificate giving neither is
anonymous; a subject with several commonNames is anonymous.
"""

from cocaine.auth.identity import ANONYMOUS, Identity

_UINT64 = (1 << 64) - 1


def _number(value, prefix):
    if not isinstance(value, str) or not value.startswith(prefix):
        return None
    digits = value[len(prefix):]
    if not digits.isascii() or not digits.isdigit():
        return None
    number = int(digits)
    return number if number <= _UINT64 else None


def certificateIdentity(certificate):
    """
    @param certificate: a C{cryptography} X.509 certificate (verified by
        the TLS handshake), or L{None}.
    @return: the L{Identity} its subject names (L{ANONYMOUS} if none).
    """
    if certificate is None:
        return ANONYMOUS
    from cryptography.x509.oid import NameOID
    subject = certificate.subject
    names = subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) > 1:
        return ANONYMOUS
    uids = [n for n in (_number(a.value, "uid:") for a in names)
            if n is not None]
    cids = []
    for unit in subject.get_attributes_for_oid(
            NameOID.ORGANIZATIONAL_UNIT_NAME):
        cid = _number(unit.value, "cid:")
        if cid is not None and cid not in cids:
            cids.append(cid)
    if not uids and not cids:
        return ANONYMOUS
    return Identity(uids=uids, cids=cids)
