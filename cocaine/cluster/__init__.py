"""
The cluster (PROTOCOL.md section 10): discovery of the other nodes
(multicast announces in L{cocaine.cluster.announce}, a static peer list in
L{cocaine.cluster.static}), locator peering (L{cocaine.cluster.peering})
filling the remote table (L{cocaine.cluster.remote}), the gateway that
picks a node for C{resolve} (L{cocaine.cluster.gateway}) by the load the
nodes stream to each other (L{cocaine.cluster.load}), and cluster-wide
apps (L{cocaine.cluster.deploy}).
L{cocaine.cluster.service.ClusterService} wires them into a node.
"""
