# -*- test-case-name: tests.test_plugins -*-
"""
Every interface that crosses a package or plugin boundary.
"""

from zope.interface import Attribute, Interface


class IServicePlugin(Interface):
    """
    A kind of service the runtime can host, found with
    C{getPlugins(IServicePlugin, services)}.

    A module in the C{services} plugin package (or in any C{services/}
    directory on C{sys.path} without an C{__init__.py}) provides one as a
    module-level object that also provides C{IPlugin}.
    """

    name = Attribute("The type name used in the config: services.X.type.")

    def validate(path, args, config):
        """
        Check this service's C{args} without side effects.

        @param path: the key path of C{args} for messages
            (C{"services.storage.args"}).
        @param args: the decoded JSON map.
        @param config: the whole parsed L{cocaine.config.Config}.
        @raise cocaine.config.ConfigError: naming the key and the reason.
        """

    def makeService(context, name, args):
        """
        Build the service implementation. Nothing live may be created here:
        the runtime starts it later.

        @param context: the L{cocaine.context.Context} of the node.
        @param name: the name the service is published under.
        @return: an object providing L{IRPCService}; if it also provides
            C{twisted.application.service.IService}, it is started before
            it is published and stopped after it is withdrawn. A front
            that speaks another protocol on a port of its own (the HTTP
            gateway, the dashboard) returns an C{IService} only: it joins
            the tree after the node, unpublished.
        """


class IRPCService(Interface):
    """
    A service implementation served over the native protocol.

    Besides these attributes it has one method per declared message, named
    as the message in camelCase (see L{cocaine.rpc.server} for the handler
    contract).
    """

    protocol = Attribute("The declared root cocaine.protocol.idl.Protocol.")
    version = Attribute("The protocol version resolve reports (an int).")


class IRegistry(Interface):
    """
    The names this node publishes, as the locator resolves them
    (L{cocaine.locator.registry.Registry}).
    """

    def publish(name, endpoints, version, graph):
        """
        Make C{name} resolvable.

        @return: the entry published, for L{withdraw}.
        @raise cocaine.errors.DispatchError: the name is already published.
        """

    def withdraw(name, entry=None):
        """
        Forget C{name} (only publication C{entry} when given).
        """

    def reserve(name):
        """
        Hold C{name} for a local service or app (see L{release}).
        """

    def release(name):
        """
        Give up a reservation made with L{reserve}.
        """

    def lookup(name):
        """
        @return: C{(endpoints, version, graph)} or L{None}.
        """


class INode(Interface):
    """
    What the rest of the node may ask of the apps it runs: the management
    plane, the cluster, the mesh bridge, the HTTP gateway and the tool's
    services all go through this, never into the node's internals.
    L{cocaine.node.service.NodeService} provides it; the in-memory
    L{cocaine.testing.MemoryNode} provides it for tests.
    """

    running = Attribute("Whether the node service runs (a bool).")

    def apps():
        """
        @return: the sorted names of the apps that run now.
        """

    def info(name):
        """
        @return: app C{name}'s info map (PROTOCOL.md section 5, app).
        @raise cocaine.errors.AppNotRunning: no such app runs.
        """

    def stats(name):
        """
        What app C{name} counted since it started
        (L{cocaine.engine.stats.AppStats}):

            {"requests": {"ok": int, "error": int, "timeout": int,
                          "rejected": int, "disconnected": int},
             "duration": {"buckets": [[le_seconds, cumulative_count], ...],
                          "sum": seconds, "count": int},
             "workers": {"spawned": int, "crashed": int}}

        Sessions are counted by how they ended; durations (enqueue to the
        end, of ok and error sessions) in cumulative buckets whose bounds
        are floats, the last C{float("inf")}.

        @raise cocaine.errors.AppNotRunning: no such app runs.
        """

    def load(name):
        """
        @return: app C{name}'s load record for the cluster's load report:
            C{{"queue", "busy", "sessions", "capacity", "concurrency"}}
            (L{cocaine.protocol.load}).
        @raise cocaine.errors.AppNotRunning: no such app runs.
        """

    def enqueue(name, upstream, event, tag=None, headers=()):
        """
        Open a session of app C{name}, as its C{enqueue} does: the app's
        chunks and then C{close} or C{error} are sent on C{upstream}
        (C{upstream.send(name, *args)} and C{upstream.error(exception)}).

        @return: the session: C{write(chunk)}, C{close()}, C{error(...)}
            and C{connectionLost()} carry the request stream. When the app
            does not run, C{upstream} gets the error at once and the
            session ignores what follows.
        """

    def pin(name, size):
        """
        Keep app C{name}'s pool at exactly C{size} workers; a negative size
        returns to scaling by load (C{control}).

        @raise cocaine.errors.AppNotRunning: no such app runs.
        """

    def trigger(name, driver, request=None):
        """
        Run one job of app C{name}'s C{manual} driver now.

        @return: a Deferred of the worker's answer, its chunks joined.
        """

    def startApp(name, profile):
        """
        Start app C{name} deployed in storage (C{node.start_app}): its
        manifest and archive from storage, C{profile} a profile name in
        storage or a profile map. An instance of the app that is still
        stopping is waited for first.

        @return: a Deferred that fires when it serves.
        """

    def startLocal(name, path, profile=None):
        """
        Start a development app from directory C{path} (its
        C{manifest.json} beside its slave).

        @return: a Deferred that fires when it serves.
        """

    def pauseApp(name):
        """
        Stop app C{name}: drain its sessions, stop its workers, take it off
        the runlist (C{node.pause_app}).

        @return: a Deferred that fires when it has stopped.
        @raise cocaine.errors.AppNotRunning: no such app runs.
        """

    def origin(name):
        """
        Where a running app came from, to start it again the same way.

        @return: C{{"local": True, "path": dir, "profile": p}} for a
            development app, C{{"local": False, "profile": p}} for one from
            storage (C{p} as it was given: a name or a map).
        @raise cocaine.errors.AppNotRunning: no such app runs.
        """

    def runlist():
        """
        @return: a Deferred of C{{app: profile}}, the node's runlist.
        """

    def watch(callback):
        """
        Call C{callback(name, running)} whenever an app starts serving
        (C{running} true) or stops.

        @return: a function that stops the watch.
        """


class IStoragePlugin(Interface):
    """
    A kind of storage backend, found with
    C{getPlugins(IStoragePlugin, services)}.
    """

    name = Attribute("The type name used in the config: storages.X.type.")

    def validate(path, args, config):
        """
        Check the backend's C{args} without side effects.

        @raise cocaine.config.ConfigError: naming the key and the reason.
        """

    def makeBackend(context, name, args):
        """
        @return: an L{IStorageBackend}; if it also provides C{IService} it
            is started with the node's storages and stopped last.
        """


class IStorageBackend(Interface):
    """
    Where values live. Each method returns its result or a Deferred of it.
    Names are text; blobs are bytes.

    A backend may say C{shared = True} (an attribute): every node
    configured like this one reads and writes the same values (a database
    server, not a directory of this host). The node then keeps the state
    of its own under keys naming it (docs/cluster.md, "Shared storage");
    without the attribute a backend counts as the node's own.
    """

    def read(collection, key):
        """
        @return: the bytes stored at C{key}.
        @raise cocaine.errors.KeyNotFound: naming the key.
        """

    def write(collection, key, blob, tags):
        """
        Store C{blob} at C{key} with C{tags} (a list of text), replacing any
        earlier value and tags.
        """

    def remove(collection, key):
        """
        @raise cocaine.errors.KeyNotFound: naming the key.
        """

    def find(collection, tags):
        """
        @return: the list of keys carrying every one of C{tags}.
        """


class IUnicornPlugin(Interface):
    """
    A kind of unicorn backend (a coordination engine), found with
    C{getPlugins(IUnicornPlugin, services)} and named by the C{unicorns}
    section: C{unicorns.X.type}.
    """

    name = Attribute("The type name used in the config: unicorns.X.type.")

    def validate(path, args, config):
        """
        Check the backend's C{args} without side effects.

        @raise cocaine.config.ConfigError: naming the key and the reason.
        """

    def makeBackend(context, name, args):
        """
        @return: an L{IUnicornBackend}; if it also provides C{IService} it
            is started with the node's unicorns and stopped after the
            services that use it.
        """


class IUnicornBackend(Interface):
    """
    A tree of versioned nodes with ZooKeeper's semantics (C{docs/unicorn.md}),
    what the C{unicorn} service serves. Paths are checked
    (L{cocaine.unicorn.paths.checkPath}) before they reach a backend; values
    are any msgpack value. Every method returns a Deferred; failures are
    L{cocaine.errors.UnicornError}s (C{ConnectionLoss} when the engine
    cannot be reached: an error, never a hang).

    Watches call C{update(item)} per item and C{fail(error)} once at the
    end; they return a C{stop()} callable that ends them quietly (a watch
    stopped calls nothing more).
    """

    def get(path):
        """
        @return: C{(value, version)}, C{(None, -1)} for a missing node.
        @raise cocaine.errors.ChildNotAllowed: the node has children.
        """

    def put(path, value, version):
        """
        Compare-and-swap: write when the node's version is C{version}.

        @return: C{(True, (value, new version))}, or C{(False, (value,
            version))} with what the node holds when the version differs.
        @raise cocaine.errors.VersionNotAllowed: C{version} is negative.
        @raise cocaine.errors.NoNode: the node does not exist.
        """

    def create(path, value, ephemeral=False, sequence=False, lease=None):
        """
        Create a node and any missing parents (parents hold L{None}). An
        ephemeral node lives as long as the backend's session (etcd: its
        lease), or as C{lease} (from L{grantLease}) when given; a
        sequential one gets a suffix that keeps it apart (memory:
        ZooKeeper's 10-digit counter; etcd: C{-<random hex>}, ordered by
        creation through C{create_revision}).

        @return: the path created.
        @raise cocaine.errors.NodeExists: it exists.
        @raise cocaine.errors.UnicornError: C{lease} is not alive.
        """

    def grantLease(ttl):
        """
        A lease of its own, for nodes that must outlive their owner by
        C{ttl} seconds at most whatever the backend's session does (a
        cluster node's registration): it ends C{ttl} seconds after it was
        last kept alive, deleting the nodes created on it.

        @return: a Deferred of its id.
        """

    def keepLease(lease):
        """
        Keep C{lease} alive for its TTL from now.

        @return: a Deferred of the seconds it has left, C{0} when it has
            ended (expired or revoked; its nodes are gone).
        """

    def revokeLease(lease):
        """
        End C{lease} now, deleting its nodes (one that has ended already
        is not an error).

        @return: a Deferred.
        """

    def remove(path, version):
        """
        Delete a node whose version is C{version} (C{-1}: any).

        @raise cocaine.errors.NoNode: it does not exist.
        @raise cocaine.errors.VersionNotAllowed: the version differs.
        @raise cocaine.errors.UnicornError: it has children.
        """

    def increment(path, delta):
        """
        Add C{delta} to the number at C{path}, creating it with C{delta}.

        @return: C{(new value, version)}.
        @raise cocaine.errors.InvalidType: a non-number.
        """

    def subscribe(path, update, fail):
        """
        Watch one node: C{update((value, version))} now (C{(None, -1)}
        when missing) and on every change; C{fail(NoNode)} when it is
        deleted, C{fail(ChildNotAllowed)} when it has children.

        @return: C{stop()}.
        """

    def childrenSubscribe(path, update, fail):
        """
        Watch a node's children: C{update((cversion, [names]))} now and on
        every child created or deleted; C{fail(NoNode)} when the node is
        missing or deleted.

        @return: C{stop()}.
        """

    def lock(folder, update, fail):
        """
        Take the lock C{folder} (an ephemeral sequential node
        C{<folder>/lock...}): C{update(True)} once held. C{stop()} gives
        it up (held or waited for); a backend that dies loses it with its
        session.

        @return: C{stop()}.
        """


class ILogSink(Interface):
    """
    Where the logging service writes records.
    """

    def emit(priority, source, message, attributes):
        """
        Write one record. C{attributes} is a list of C{(name, value)}.
        """


class IDriverPlugin(Interface):
    """
    A kind of event driver, found with C{getPlugins(IDriverPlugin, drivers)}
    and named in an app manifest's C{drivers} map by its C{type}.
    """

    name = Attribute("The type name used in manifests (recurring-timer).")

    def validate(path, args):
        """
        Check the driver's arguments without side effects.

        @param path: where they are, for messages (C{drivers.tick}).
        @raise cocaine.driver.base.DriverError: naming the argument.
        """

    def makeDriver(context, name, args):
        """
        @param context: a L{cocaine.driver.base.DriverContext}.
        @return: an L{IDriver}; nothing live is created before C{start}.
        """


class IDriver(Interface):
    """
    One source of jobs for one app.
    """

    def start():
        """
        Begin producing jobs.

        @return: L{None} or a Deferred.
        @raise cocaine.driver.base.DriverError: the driver cannot start
            (port taken, missing path); the message says why.
        """

    def stop():
        """
        Stop producing jobs and release what C{start} took.

        @return: L{None} or a Deferred.
        """

    def info():
        """
        @return: C{{type, jobs, errors, last, ...}} for the app's info.
        """
