# -*- test-case-name: tests.node -*-
"""
The node service: the apps a node runs, each one ordered service in the
node's tree (L{cocaine.node.app.App}), and C{node.*} over the native
protocol (L{cocaine.node.service.NodeService}, which provides
L{cocaine.interfaces.INode} to the rest of the node).
"""
