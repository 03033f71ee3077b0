"""
The cluster (PROTOCOL.md section 10): discovery of the other nodes
(multicast announces in L{cocaine.cluster.announce}, a static peer list in
L{cocaine.cluster.static}), locator peering (L{cocaine.cluster.peering})
filling the remote table (L{cocaine.cluster.remote}), and the gateway that
picks a remote node for C{resolve} (L{cocaine.cluster.gateway}).
L{cocaine.cluster.service.ClusterService} wires them into a node.
"""
