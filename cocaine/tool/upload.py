# -*- test-case-name: tests.tool.test_apps -*-
"""
C{cocaine-tool app upload}: pack an app with L{cocaine.client.deploy} and
write it to the node's storage, with a progress display on a terminal.

    cocaine-tool app upload examples/apps/echo
    cocaine-tool app upload echo.tar.gz --name echo2 --manifest m.json
"""

import os

from rich.console import Console

from cocaine.client import deploy
from cocaine.tool.context import ToolError

#: Uploads from this size on show a progress bar (when stderr is a
#: terminal).
LARGE_UPLOAD = 1024 * 1024


def register(commands):
    """
    Add C{upload} to the C{app} commands.
    """
    p = commands.add_parser(
        "upload", help="upload an app directory or archive",
        description="Write an app to storage as the Cocaine tools do: the "
        "archive (a directory is packed as tar.gz in memory; a .tar, "
        ".tar.gz or .tgz file is sent as it is) to apps/NAME and the "
        "manifest to manifests/NAME. Start it with `app start`.")
    p.add_argument("path", metavar="PATH",
                   help="an app directory, or a tar or tar.gz archive")
    p.add_argument("--name", help="the app's name (default: the directory "
                   "or archive name)")
    p.add_argument("--manifest", metavar="FILE",
                   help="the manifest (JSON) to use instead of the app's "
                   "manifest.json")
    p.set_defaults(func=upload)


def _progress(bar=True):
    """
    A rich progress display on standard error, or L{None} when standard
    error is not a terminal: a bar over bytes (C{bar}), or a spinner with
    the elapsed time for a phase whose progress cannot be measured.
    """
    console = Console(stderr=True)
    if not console.is_terminal:
        return None
    from rich.progress import (
        BarColumn, DownloadColumn, Progress, SpinnerColumn, TextColumn,
        TimeElapsedColumn, TransferSpeedColumn)
    if bar:
        columns = (TextColumn("{task.description}"), BarColumn(),
                   DownloadColumn(binary_units=True), TransferSpeedColumn(),
                   TimeElapsedColumn())
    else:
        columns = (SpinnerColumn(), TextColumn("{task.description}"),
                   TimeElapsedColumn())
    return Progress(*columns, console=console)


def _pack(path, name, manifest):
    """
    L{deploy.pack} with a progress bar while a large directory is packed.
    """
    progress = None
    if os.path.isdir(path):
        total = deploy.contentSize(path)
        progress = _progress() if total >= LARGE_UPLOAD else None
    if progress is None:
        return deploy.pack(path, name, manifest)
    with progress:
        task = progress.add_task("packing " + name, total=total)
        package = deploy.pack(path, name, manifest,
                              lambda n: progress.advance(task, n))
        progress.update(task, completed=total)
    return package


def upload(ctx, args):
    """
    C{app upload PATH}: pack the app (L{deploy.pack}) and write it to
    storage (L{deploy.storageWrites}), with progress on a terminal.
    """
    path = args.path
    name = args.name or deploy.appName(path)
    if not name:
        raise ToolError("cannot tell the app's name from {!r}; give --name"
                        .format(path))
    args.name = name
    try:
        manifest = None
        if args.manifest:
            manifest = deploy.readJSON(args.manifest)
        package = _pack(path, name, manifest)
        from cocaine.engine.manifest import parseManifest
        parseManifest(package.manifest, name)
        for warning in deploy.checkSlave(package):
            ctx.warn("{}: {}".format(name, warning))
    except deploy.MissingManifest as e:
        raise ToolError("{}; give --manifest".format(e))
    except deploy.DeployError as e:
        raise ToolError(str(e))

    archive = package.archive
    manifestWrite, archiveWrite = deploy.storageWrites(
        name, archive, package.manifest)
    ctx.storage.write(*manifestWrite)
    # One storage write: there is no progress to measure, only time.
    # A large archive over a slow link may take longer than --timeout.
    timeout = ctx.longTimeout(60.0)
    progress = _progress(bar=False) if len(archive) >= LARGE_UPLOAD else None
    if progress is None:
        ctx.storage.write(*archiveWrite, timeout=timeout)
    else:
        with progress:
            progress.add_task("writing {} ({}) to storage".format(
                name, _size(len(archive))), total=None)
            ctx.storage.write(*archiveWrite, timeout=timeout)
    result = {"app": name, "archive-bytes": len(archive),
              "manifest": package.manifest}
    if ctx.json:
        ctx.emit(result)
    else:
        ctx.say("app {} uploaded ({}); start it with `cocaine-tool app start "
                "{}`".format(name, _size(len(archive)), name))


def _size(count):
    if count >= 1024 * 1024:
        return "{:.1f} MiB".format(count / 1024 / 1024)
    if count >= 1024:
        return "{:.1f} KiB".format(count / 1024)
    return "{} bytes".format(count)
