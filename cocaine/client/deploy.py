# -*- test-case-name: tests.integration.test_apps -*-
"""
Upload an app the way the Cocaine tools do (PROTOCOL.md section 7): the
archive to C{apps}, the manifest to C{manifests}, a profile to C{profiles},
every value msgpack-packed; then C{node.start_app(name, profile)}.
"""

import io
import json
import os
import tarfile

from cocaine.protocol.framing import packValue


def packDirectory(path):
    """
    A gzipped tar of the directory C{path}, built in memory, entries
    relative to it; Python caches (C{__pycache__}, C{*.pyc}) are left out.

    @return: the archive's bytes.
    """
    def skipCaches(info):
        base = os.path.basename(info.name)
        if base == "__pycache__" or base.endswith(".pyc"):
            return None
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in sorted(os.listdir(path)):
            archive.add(os.path.join(path, name), arcname=name,
                        filter=skipCaches)
    return buffer.getvalue()


def readManifest(path):
    """
    The C{manifest.json} of an app directory.
    """
    with open(os.path.join(path, "manifest.json"), "rb") as f:
        return json.load(f)


async def upload(storage, name, path=None, archive=None, manifest=None,
                 profile=None, profileName=None):
    """
    Write an app to storage.

    @param storage: a L{cocaine.client.Service} of C{storage}.
    @param path: an app directory (its C{manifest.json} is the manifest
        unless C{manifest} is given).
    @param archive: the archive's bytes instead of C{path}.
    @param profile: a profile map to write as C{profileName} (default: the
        app's name).
    """
    if archive is None:
        archive = packDirectory(path)
    if manifest is None:
        manifest = readManifest(path)
    await storage.write("manifests", name, packValue(manifest), ["app"])
    await storage.write("apps", name, packValue(archive), ["app"])
    if profile is not None:
        await storage.write("profiles", profileName or name,
                            packValue(profile), ["profile"])
