# -*- test-case-name: tests.worker.test_tls -*-
"""
TLS for an app's own asyncio connections to a node whose endpoints use
TLS (C{network.tls}, C{docs/security.md}): the L{ssl.SSLContext} and the
server name the C{COCAINE_TLS_*} variables describe.

    context = clientContext()
    if context is not None:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=context, server_hostname=serverName(host))

The node passes C{COCAINE_TLS_CA} and C{COCAINE_TLS_SERVER_NAME} from its
own environment to workers; a client certificate (C{COCAINE_TLS_CERT},
C{COCAINE_TLS_KEY}) comes from the profile's or manifest's environment.
The worker's own connection to the node (a UNIX socket) never uses TLS.
"""

import os
import ssl

__all__ = ["clientContext", "serverName"]


def clientContext(environ=None):
    """
    The context to connect with, or L{None} when no C{COCAINE_TLS_*}
    variable is set (plain TCP).

    @raise OSError: a named file cannot be read.
    @raise ssl.SSLError: a named file is not usable PEM.
    @raise ValueError: the key is encrypted (a worker has nobody to ask
        for its passphrase: OpenSSL would ask the terminal), naming the
        variable and the file.
    """
    environ = os.environ if environ is None else environ
    ca, cert, key = (environ.get("COCAINE_TLS_" + name) or None
                     for name in ("CA", "CERT", "KEY"))
    if not (ca or cert or key or environ.get("COCAINE_TLS_SERVER_NAME")):
        return None
    context = ssl.create_default_context(cafile=ca)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert:
        context.load_cert_chain(cert, key, password=_refusePassphrase(
            "COCAINE_TLS_KEY" if key else "COCAINE_TLS_CERT", key or cert))
    elif key:
        raise ValueError("COCAINE_TLS_KEY needs COCAINE_TLS_CERT")
    return context


def _refusePassphrase(variable, path):
    """
    The passphrase callback of C{load_cert_chain}: called only for an
    encrypted key, it refuses it (without it OpenSSL asks the terminal).
    """
    def refuse():
        raise ValueError("{} {!r}: the key is encrypted; give it "
                         "unencrypted (a worker cannot ask for a "
                         "passphrase)".format(variable, path))
    return refuse


def serverName(host, environ=None):
    """
    The name the node's certificate must carry: C{COCAINE_TLS_SERVER_NAME},
    else C{host} (an IP address is checked against the certificate's IP
    addresses).
    """
    environ = os.environ if environ is None else environ
    return environ.get("COCAINE_TLS_SERVER_NAME") or host
